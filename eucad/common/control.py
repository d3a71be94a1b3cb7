"""eucad-ctl: start, stop and show the daemons this host's eucalyptus.conf enables.

The guide starts a host's components with ``$EUCALYPTUS/etc/init.d/eucalyptus
start``; that script (``etc/init.d/eucalyptus``) calls ``eucad-ctl``, which
reads ``ENABLE_CLOUD``, ``ENABLE_WALRUS``, ``ENABLE_CC`` and ``ENABLE_NC``
(set by ``euca_conf -cloud/-walrus/-cc/-nc``) and runs one ``twistd`` per
enabled component, with its PID file in ``var/run/eucalyptus/`` of the
install.  A daemon is only ever signalled when the process behind its PID
file is that very daemon (its plugin and prefix on its command line).

Where systemd runs the daemons from the packages' units, ``status`` reads
the units' states from systemd over D-Bus (``eucad.common.unitstates``)
and falls back to the PID files for any unit systemd does not know.

When the CLC and Walrus are both enabled on one port and address (the
defaults put both at 8773), ``eucalyptus-clc`` serves Walrus in its own
process (``eucad.common.components``): no separate walrus daemon is
started, and ``status`` says where Walrus is served.
"""

import argparse
import os
import signal
import subprocess
import sys
import time

from eucad.common.components import COMPONENTS, servedBy
from eucad.common.config import EucaConf, Layout
from eucad.common.daemon import fail
from eucad.common.logfiles import ensurePrivateFile
from eucad.common.pids import pidAlive
from eucad.common.polling import PollTimeout, pollUntil


class ControlError(Exception):
    """A daemon did not start or stop as asked."""


def twistdPath():
    """The twistd of the Python that runs eucad (a venv's, or the system's)."""
    here = os.path.join(os.path.dirname(sys.executable), "twistd")
    return here if os.path.exists(here) else "twistd"


class TwistdDaemon:
    """One eucad daemon run by twistd, known by its PID file."""

    def __init__(self, name, prefix, pidFile, twistdLog):
        self.name = name
        self.plugin = "eucalyptus-" + name
        self.prefix = os.path.abspath(prefix)
        self.pidFile = pidFile
        self.twistdLog = twistdLog

    def pid(self):
        """The daemon's PID, or None unless that process is this daemon."""
        try:
            with open(self.pidFile) as f:
                pid = int(f.read().strip())
            with open("/proc/%d/cmdline" % (pid,), "rb") as f:
                words = f.read().split(b"\0")
        except (OSError, ValueError):
            return None
        if self.plugin.encode() in words and self.prefix.encode() in words \
                and pidAlive(pid):
            return pid
        return None

    def start(self, timeout=30):
        """Start unless running; wait until its PID file names it."""
        if self.pid() is not None:
            return False
        os.makedirs(os.path.dirname(self.pidFile), exist_ok=True)
        # twistd creates its log with the caller's umask, and keeps the mode
        # of an existing one when it rotates: make it 0600 first.
        ensurePrivateFile(self.twistdLog)
        if os.path.exists(self.pidFile):
            os.unlink(self.pidFile)
        result = subprocess.run(
            [twistdPath(), "--pidfile", self.pidFile, "--logfile", self.twistdLog,
             self.plugin, "--prefix", self.prefix],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise ControlError("%s did not start: %s" % (
                self.plugin, result.stdout.strip()[-2000:]))
        try:
            pollUntil("a PID file", self.pid, timeout, 0.05)
        except PollTimeout:
            raise ControlError("%s wrote no PID file in %ss (see %s)" % (
                self.plugin, timeout, self.twistdLog))
        return True

    def stop(self, timeout=30):
        """SIGTERM, then SIGKILL after ``timeout``; False if it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pidAlive(pid):
            time.sleep(0.05)
        if pidAlive(pid):
            os.kill(pid, signal.SIGKILL)
        return True


def daemonsFor(prefix, onlyEnabled=True):
    """
    The daemons of the install at ``prefix``, in start order: those to
    start (``onlyEnabled``: the enabled ones, less a Walrus the CLC
    serves), or every one there may be to stop or show.
    """
    layout = Layout(prefix)
    conf = EucaConf.load(layout.conf)
    found = []
    for key, name in COMPONENTS:
        if onlyEnabled and not conf.getBool(key):
            continue
        if onlyEnabled and servedBy(conf, name):
            continue
        found.append(TwistdDaemon(
            name, layout.prefix,
            layout.path("var", "run", "eucalyptus", name + ".pid"),
            layout.log(name + "-twistd.log")))
    return found


def systemdStates(daemons, mode, prefix):
    """
    ``{plugin: UnitState}`` of the daemons' systemd units, or ``{}`` where
    systemd is not asked (``mode`` no; auto without systemd or for another
    prefix than the units' /) or does not answer (said on stderr).
    """
    from eucad.common import unitstates
    if mode == "no" or (mode == "auto" and not (
            prefix == "/" and unitstates.systemdBooted())):
        return {}
    units = [d.plugin + ".service" for d in daemons]
    try:
        states = unitstates.readUnitStatesBlocking(units)
    except Exception as e:
        print("eucad-ctl: systemd did not answer over D-Bus (%s); showing PID files"
              % (" ".join(str(e).split()) or type(e).__name__,), file=sys.stderr)
        return {}
    return {d.plugin: state for d, state in zip(daemons, states)}


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="eucad-ctl", description="Start or stop this host's eucad daemons.")
    parser.add_argument("command", choices=("start", "stop", "restart", "status"))
    parser.add_argument("--prefix", default=os.environ.get("EUCALYPTUS", "/"),
                        help="the $EUCALYPTUS install root")
    parser.add_argument("--systemd", choices=("auto", "yes", "no"), default="auto",
                        help="status: read the units' states from systemd over D-Bus "
                        "(auto: when systemd runs and the prefix is /, the units' own)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not os.path.exists(Layout(args.prefix).conf):
        fail("eucad-ctl: no %s (run euca_conf first)" % (Layout(args.prefix).conf,))
    enabled = daemonsFor(args.prefix)
    everything = daemonsFor(args.prefix, onlyEnabled=False)
    if args.command == "status":
        conf = EucaConf.load(Layout(args.prefix).conf)
        units = systemdStates(everything, args.systemd, Layout(args.prefix).prefix)
        running = set()
        for daemon in everything:
            unit = units.get(daemon.plugin)
            if unit is not None and unit.activeState != "not-loaded":
                state = unit.describe()
                if unit.running:
                    running.add(daemon.plugin)
                print("%-18s %s" % (daemon.plugin, state))
                continue
            pid = daemon.pid()
            if pid:
                running.add(daemon.plugin)
            host = servedBy(conf, daemon.name)
            if host is not None and not pid:
                state = "served by %s" % (host,)
            else:
                state = "running (pid %d)" % pid if pid else "stopped"
            print("%-18s %s" % (daemon.plugin, state))
        return 0 if all(d.plugin in running for d in enabled) else 3
    if args.command in ("stop", "restart"):
        # Everything, enabled or not: a component disabled since it started
        # must still be stoppable.
        for daemon in reversed(everything):
            if daemon.stop():
                print("stopped %s" % (daemon.plugin,))
    if args.command in ("start", "restart"):
        if not enabled:
            fail("eucad-ctl: nothing is enabled in %s (euca_conf -cloud/-walrus/-cc/-nc Y)"
                 % (Layout(args.prefix).conf,))
        for daemon in enabled:
            try:
                if daemon.start():
                    print("started %s" % (daemon.plugin,))
            except ControlError as e:
                fail("eucad-ctl: %s" % (e,))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
