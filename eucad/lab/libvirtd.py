"""A lab node's own libvirtd, in the node's network namespace.

Each node of the lab is a host of the cloud, so each needs its own libvirtd
that creates its VMs' taps on the node's bridge.  The daemon runs inside
the node's network namespace and in a private mount namespace where the
node's directory D supplies ``/etc/libvirt``, ``/run/libvirt``,
``/var/lib/libvirt``, ``/var/log/libvirt`` and ``/var/cache/libvirt``; its
socket is then ``D/run/libvirt-sock`` for everyone, reached with
``qemu+unix:///system?socket=D/run/libvirt-sock``.  (A unix socket path
must fit in 107 bytes; when D is deeper than that, as under a test's
temporary directory, the run directory is a short one given by the caller.)

``D/etc`` is a copy of ``/etc/libvirt`` with qemu running as root, console
output to plain files (no virtlogd) and no cgroups: with the defaults each
create re-probes QEMU many times and takes 45 s here instead of 0.4 s.
"""

import os
import shutil
import socket
import sys
import time

from eucad.lab import netns, subreaper
from eucad.lab.ownedprocess import OwnedProcess

QEMU_CONF_SETTINGS = (
    'user = "root"',
    'group = "root"',
    'stdio_handler = "file"',
    'cgroup_controllers = [ ]',
)

# (subdirectory of D, where it appears to libvirtd); "run" may live elsewhere.
PRIVATE_MOUNTS = (
    ("etc", "/etc/libvirt"),
    ("run", "/run/libvirt"),
    ("lib", "/var/lib/libvirt"),
    ("log", "/var/log/libvirt"),
    ("cache", "/var/cache/libvirt"),
)
SOCKET_NAME = "libvirt-sock"
MAX_SOCKET_PATH = 107  # sockaddr_un.sun_path is 108 bytes with its NUL

SUBREAPER = os.path.abspath(subreaper.__file__).replace(".pyc", ".py")


class LibvirtdFailed(Exception):
    """A node's libvirtd did not come up."""


def runDirectory(directory, fallback):
    """``directory``/run, or ``fallback`` if the socket path there would be too long."""
    preferred = os.path.join(directory, "run")
    if len(os.path.join(preferred, SOCKET_NAME).encode()) <= MAX_SOCKET_PATH:
        return preferred
    if len(os.path.join(fallback, SOCKET_NAME).encode()) > MAX_SOCKET_PATH:
        raise ValueError("no usable socket path for %s" % (directory,))
    return fallback


def libvirtUri(runDir):
    """The URI that reaches the libvirtd whose /run/libvirt is ``runDir``."""
    return "qemu+unix:///system?socket=%s" % (os.path.join(runDir, SOCKET_NAME),)


class NodeLibvirtd:
    """
    Prepares, starts, checks and stops one node's libvirtd.

    @param netns: the node's network namespace.
    @param directory: the node's directory D (created by L{prepare}).
    @param runner: a L{eucad.lab.commands.CommandRunner}.
    @param runDir: what the daemon sees as /run/libvirt (default D/run).
    """

    def __init__(self, netns, directory, runner, runDir=None, etcSource="/etc/libvirt",
                 python=None):
        self.netns = netns
        self.directory = os.path.abspath(directory)
        self.runDir = os.path.abspath(runDir or os.path.join(self.directory, "run"))
        self.runner = runner
        self.etcSource = etcSource
        self.python = python or sys.executable
        self.process = None

    @property
    def uri(self):
        return libvirtUri(self.runDir)

    @property
    def socketPath(self):
        return os.path.join(self.runDir, SOCKET_NAME)

    def mounts(self):
        """(source, target) of each bind mount the daemon runs with."""
        return [(self.runDir if sub == "run" else os.path.join(self.directory, sub), target)
                for sub, target in PRIVATE_MOUNTS]

    @property
    def logPath(self):
        return os.path.join(self.directory, "libvirtd.out")

    def prepare(self):
        """Make D's subdirectories and its configuration (once)."""
        etc = os.path.join(self.directory, "etc")
        for source, _ in self.mounts():
            if source != etc:
                os.makedirs(source, exist_ok=True)
        if os.path.exists(os.path.join(etc, "qemu.conf")):
            return
        shutil.copytree(self.etcSource, etc, symlinks=True, dirs_exist_ok=True)
        # The host's default NAT network must not autostart on a node.
        autostart = os.path.join(etc, "qemu", "networks", "autostart")
        if os.path.isdir(autostart):
            for name in os.listdir(autostart):
                os.unlink(os.path.join(autostart, name))
        with open(os.path.join(etc, "qemu.conf"), "a") as f:
            f.write("\n# eucad lab node settings\n")
            for line in QEMU_CONF_SETTINGS:
                f.write(line + "\n")

    def startArgv(self):
        """The command that runs libvirtd in the node's namespaces."""
        argv = ["unshare", "-m", "--propagation", "private", self.python, SUBREAPER]
        for source, target in self.mounts():
            argv += ["--bind", source, target]
        argv += ["--", "libvirtd", "-p", "/run/libvirt/libvirtd.pid"]
        return netns.inNamespace(self.netns, argv)

    def start(self):
        """Start the daemon (not waiting for it); returns its OwnedProcess."""
        self.prepare()
        if os.path.exists(self.socketPath):
            os.unlink(self.socketPath)
        popen = self.runner.spawn(self.startArgv(), self.logPath)
        self.process = OwnedProcess.fromPopen(popen)
        return self.process

    def answers(self):
        """True when something accepts connections on the daemon's socket."""
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(self.socketPath)
            return True
        except OSError:
            return False
        finally:
            probe.close()

    def waitReady(self, timeout=30.0):
        """Wait until the socket answers; raise LibvirtdFailed if it dies or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                return
            if self.process is not None and not self.process.alive():
                raise LibvirtdFailed("libvirtd in %s exited: %s" % (self.netns, self._logTail()))
            time.sleep(0.05)
        raise LibvirtdFailed("libvirtd in %s did not answer in %ss: %s"
                             % (self.netns, timeout, self._logTail()))

    def warmArgv(self):
        return ["virsh", "-c", self.uri, "domcapabilities", "--virttype", "qemu"]

    def warmCapabilities(self):
        """Probe QEMU once now, so the first instance does not wait for it."""
        self.runner.run(self.warmArgv(), timeout=180)

    def stop(self, timeout=20.0):
        """Stop the daemon (its subreaper ends the VMs it left); True when gone."""
        if self.process is None:
            return True
        return self.process.terminate(timeout)

    def _logTail(self):
        try:
            with open(self.logPath, errors="replace") as f:
                return f.read()[-800:].strip()
        except OSError:
            return "(no output)"
