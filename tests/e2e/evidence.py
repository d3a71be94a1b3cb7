"""What an end-to-end failure leaves behind to be diagnosed from, once the cloud is gone.

A shared-cloud test class (``test_managed.SharedCloudTestCase``), or a test
with a cloud of its own (``test_poweroff``), keeps its evidence in
``build/test-logs/<module>.<class>/`` of the project, beside the per-part
logs ``tools/run-tests`` keeps there (trial's own temporary directory is
emptied by the next trial run in it, which in a whole-suite run is the next
part's):

- ``snapshot`` writes, at the moment a check fails, the data plane as the
  kernel holds it: the front end's iptables (with counters), addresses,
  links, bridge FDB, neighbours and connection-tracking table, the nodes' links, FDB
  and neighbours, and the public namespace's neighbours;
- ``keepConsoles`` copies the instances' serial consoles (before the
  instances are terminated, which removes them);
- ``keepLogs`` copies every daemon's logs, the CC's state file and its
  dhcpd.conf (after the daemons stopped, so nothing is cut short).

Nothing secret is copied (no keys, no database); the files are 0600 in
0700 directories all the same, as the daemons' own logs are.
"""

import glob
import os
import re
import shutil
import subprocess
import time

from eucad.common.config import Layout

#: Commands run in the front end's namespace for a snapshot.
FRONT_END_COMMANDS = (
    ["iptables-save", "-c"],
    ["ip", "-d", "addr", "show"],
    ["ip", "-d", "link", "show"],
    ["bridge", "fdb", "show"],
    ["ip", "neigh", "show"],
    ["ip", "route", "show"],
    # conntrack(8) is not installed everywhere; the kernel's table is.
    ["cat", "/proc/net/nf_conntrack"],
)
#: Commands run in each node's namespace.
NODE_COMMANDS = (
    ["ip", "-d", "link", "show"],
    ["bridge", "fdb", "show"],
    ["ip", "neigh", "show"],
)
#: Commands run in the public namespace.
PUBLIC_COMMANDS = (
    ["ip", "neigh", "show"],
    ["ip", "route", "show"],
)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


#: The project's build directory (tests/e2e/ is two levels below the project).
BUILD = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "build")


def evidenceDirectory(testClass):
    """``build/test-logs/<module>.<class>`` for ``testClass``, emptied for this run."""
    path = os.path.join(BUILD, "test-logs", "%s.%s" % (testClass.__module__,
                                                       testClass.__name__))
    shutil.rmtree(path, ignore_errors=True)
    return _privateDirectory(path)


def _privateDirectory(path):
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _privateWrite(path, data):
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as f:
        f.write(data)


def _privateCopy(source, target):
    try:
        with open(source, "rb") as f:
            data = f.read()
    except OSError:
        return False
    _privateWrite(target, data)
    return True


def keepText(directory, name, text):
    """Write ``text`` (what a test saw) to ``directory``/``name``, 0600."""
    _privateWrite(os.path.join(_privateDirectory(directory), name),
                  text.encode("utf-8", "replace"))


def _inNamespace(netns, argv):
    try:
        result = subprocess.run(["ip", "netns", "exec", netns] + argv, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "(%s)\n" % (e,)
    return result.stdout.decode("utf-8", "replace") + (
        "(exit %d)\n" % (result.returncode,) if result.returncode else "")


def snapshot(cloud, directory, label, notes=()):
    """
    Write the lab's data plane as it is now to ``directory``; the file's path.

    @param label: what failed (part of the file's name).
    @param notes: lines written first (what the test saw, its timeline).
    """
    _privateDirectory(directory)
    described = cloud.lab.describe()
    sections = ["# %s at %s" % (label, time.strftime("%Y-%m-%d %H:%M:%S"))]
    sections += list(notes)
    for title, netns, commands in (
            [("front end", described["frontend"]["netns"], FRONT_END_COMMANDS)] +
            [("node %s" % (node["name"],), node["netns"], NODE_COMMANDS)
             for node in described["nodes"]] +
            [("public", described["pub"]["netns"], PUBLIC_COMMANDS)]):
        for argv in commands:
            sections.append("\n## %s: %s\n%s" % (title, " ".join(argv),
                                                 _inNamespace(netns, argv)))
    path = os.path.join(directory, "snapshot-%s-%s.txt" % (
        _UNSAFE.sub("_", label), time.strftime("%H%M%S")))
    _privateWrite(path, "\n".join(sections).encode("utf-8"))
    return path


def keepConsoles(cloud, directory):
    """Copy every instance's serial console on the cloud's nodes into ``directory``."""
    target = _privateDirectory(os.path.join(directory, "consoles"))
    for index in range(cloud.nodeCount):
        name = "n%d" % (index + 1,)
        pattern = os.path.join(cloud.nodePrefix(name), "instances", "*", "i-*", "console.log")
        for console in glob.glob(pattern):
            instanceId = os.path.basename(os.path.dirname(console))
            _privateCopy(console, os.path.join(target, "%s-%s.log" % (name, instanceId)))


def keepLogs(cloud, directory):
    """
    Copy every daemon's logs, the CC's state file and dhcpd.conf into
    ``directory``; what no longer exists leaves its earlier copy in place.
    """
    prefixes = [("frontend", cloud.frontEnd)] + [
        ("n%d" % (i + 1,), cloud.nodePrefix("n%d" % (i + 1,))) for i in range(cloud.nodeCount)]
    for name, prefix in prefixes:
        layout = Layout(prefix)
        target = _privateDirectory(os.path.join(directory, name))
        for path in glob.glob(os.path.join(layout.logs, "*")):
            if os.path.isfile(path):
                _privateCopy(path, os.path.join(target, os.path.basename(path)))
        for kept in ("state.json", os.path.join("dhcp", "dhcpd.conf")):
            source = os.path.join(layout.state, "cc", kept)
            if os.path.exists(source):
                _privateCopy(source, os.path.join(target, "cc-" + os.path.basename(kept)))


class Timeline:
    """What a test saw and when, for its log and its failure messages."""

    def __init__(self):
        self.started = time.monotonic()
        self.events = []

    def note(self, what):
        self.events.append((time.monotonic() - self.started, time.strftime("%H:%M:%S"), what))

    def lines(self):
        return ["%7.2fs %s %s" % event for event in self.events]

    def __str__(self):
        return "\n".join(self.lines())
