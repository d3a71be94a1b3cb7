"""The CC's own ISC dhcpd process: started, fed new configurations, restarted, stopped.

In STATIC (and later MANAGED) mode every instance gets a fixed MAC/IP pair
that the CC hands out through a dhcpd it runs itself, as the guide describes.
``DhcpdProcess`` keeps one dhcpd running in the foreground as a child of the
CC, inside ``VNET_NETNS`` when set, checks every new file with ``dhcpd -t``
before using it, restarts the daemon when the file changes and stops it with
the CC.  What the file says is ``eucad.cc.dhcpdconfig``'s job (its names are
re-exported here for the modules that import them from this one).

Files (``Layout.state``/cc/dhcp/): ``dhcpd.conf``, ``dhcpd.leases``,
``dhcpd.pid``.  The daemon's output goes to ``httpd-cc_error_log``; its
fixed-address answers are not written to the leases file, so that log is
where DHCPACK lines are found.
"""

import grp
import os
import pwd
import re
import time

from twisted.application.service import Service
from twisted.internet import defer, error, protocol, task, threads
from twisted.logger import Logger

from eucad.cc.dhcpdconfig import (DhcpdConfig, DhcpHost, DhcpSubnet,  # noqa: F401
                                  normaliseMac)
from eucad.common import pids
from eucad.common.logfiles import openPrivateLog
from eucad.common.process import ProcessFailed

log = Logger()

_IFACE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")

#: The line dhcpd -d prints once it listens; the restart waits for it.
READY_MARKER = b"Server starting service."


class DhcpdError(Exception):
    """dhcpd rejected its configuration or would not start."""


def _pidCommandLine(pid):
    try:
        with open("/proc/%d/cmdline" % (pid,), "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


class _DhcpdProtocol(protocol.ProcessProtocol):
    """Copies dhcpd's output to the error log and tells when it is serving."""

    def __init__(self, owner):
        self.owner = owner
        self.ready = defer.Deferred()
        self.ended = defer.Deferred()
        self.tail = b""
        self.served = False
        self.stopping = False
        self._seen = b""

    def outReceived(self, data):
        self._output(data)

    def errReceived(self, data):
        self._output(data)

    def _output(self, data):
        self.owner._logOutput(data)
        self.tail = (self.tail + data)[-2000:]
        if not self.ready.called:
            self._seen = (self._seen + data)[-200:]
            if READY_MARKER in self._seen:
                self.served = True
                self.ready.callback(self)

    def processEnded(self, reason):
        if not self.ready.called:
            self.ready.errback(DhcpdError("dhcpd exited before serving: %s" % (
                self.tail.decode("utf-8", "replace").strip()[-500:],)))
        self.ended.callback(reason.value)


class DhcpdProcess(Service):
    """
    One dhcpd, restarted whenever its configuration changes.

    Nothing runs until the first ``apply``; every ``apply`` is queued behind
    the previous one, so restarts never overlap and the last configuration
    applied is the one that runs.

    @param directory: where dhcpd.conf, the leases and the pid file live.
    @param interfaces: the interfaces dhcpd listens on (VNET_INTERFACE).
    @param runner: a ``ProcessRunner`` (with the namespace, if any) for the
        one-shot ``dhcpd -t`` checks.
    @param user: VNET_DHCPUSER; when it is not root dhcpd is told to drop to
        it with ``-user``/``-group`` and gets the directory to write in.
    @param errorLog: the file dhcpd's output is appended to.
    @param runInThread: ``f(callable, *args) -> Deferred``; the file work of
        every apply (write, fsync, rename) runs there, off the reactor.
    """

    def __init__(self, directory, interfaces, runner, daemon="/usr/sbin/dhcpd",
                 user="root", reactor=None, errorLog=None, readyTimeout=15.0,
                 stopTimeout=10.0, pidAlive=pids.pidAlive, groupOf=None, uidOf=None,
                 geteuid=os.geteuid, runInThread=None):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.directory = directory
        self.interfaces = list(interfaces)
        for iface in self.interfaces:
            if not _IFACE.match(iface):
                raise ValueError("bad interface name %r" % (iface,))
        self.runner = runner
        self.daemon = daemon
        self.user = user or "root"
        self.errorLog = errorLog
        self._errorFile = None
        self.runInThread = runInThread or (lambda f, *args: threads.deferToThreadPool(
            reactor, reactor.getThreadPool(), f, *args))
        self.readyTimeout = readyTimeout
        self.stopTimeout = stopTimeout
        self.pidAlive = pidAlive
        self.geteuid = geteuid
        self.groupOf = groupOf or (lambda user: grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name)
        self.uidOf = uidOf or (lambda user: (pwd.getpwnam(user).pw_uid,
                                             pwd.getpwnam(user).pw_gid))
        self.confPath = os.path.join(directory, "dhcpd.conf")
        self.leasesPath = os.path.join(directory, "dhcpd.leases")
        self.pidPath = os.path.join(directory, "dhcpd.pid")
        self.process = None
        self.applied = None
        self._wanted = None
        self._lock = defer.DeferredLock()
        self._restartDelay = 1.0
        self._restartCall = None

    # argv ----------------------------------------------------------------

    def _dropsPrivileges(self):
        return self.user != "root" and self.geteuid() == 0

    def argv(self):
        """The daemon's argv, before the runner's namespace prefix."""
        argv = [self.daemon, "-4", "-d", "-cf", self.confPath, "-lf", self.leasesPath,
                "-pf", self.pidPath]
        if self._dropsPrivileges():
            argv += ["-user", self.user, "-group", self.groupOf(self.user)]
        return argv + self.interfaces

    def checkArgv(self, path):
        """The argv that only checks the configuration at ``path``."""
        return [self.daemon, "-t", "-cf", path]

    # Service -------------------------------------------------------------

    def startService(self):
        Service.startService(self)
        os.makedirs(self.directory, exist_ok=True)
        self._openErrorLog()

    def stopService(self):
        Service.stopService(self)
        if self._restartCall is not None and self._restartCall.active():
            self._restartCall.cancel()
        self._restartCall = None
        d = self._lock.run(self._stop)
        d.addBoth(self._closeErrorLog)
        return d

    @property
    def serving(self):
        """Whether a dhcpd started by this object is running."""
        return self.process is not None

    # Applying a configuration ----------------------------------------------

    def apply(self, config, interfaces=None):
        """
        Make dhcpd serve ``config`` (a DhcpdConfig): check it with
        ``dhcpd -t``, install it and restart dhcpd if the text or the
        interfaces changed or dhcpd is not running.

        @param interfaces: a new list of interfaces to listen on (modes with
            a network per security group add some), or None to keep them.
        @return: Deferred firing when dhcpd serves it; failing with
            DhcpdError when the check fails (the running dhcpd keeps its old
            file) or dhcpd does not start.
        """
        if interfaces is not None:
            for iface in interfaces:
                if not _IFACE.match(iface):
                    raise ValueError("bad interface name %r" % (iface,))
        self._wanted = (config.render(), list(interfaces if interfaces is not None
                                              else self._wantedInterfaces()))
        return self._lock.run(self._applyWanted)

    def _wantedInterfaces(self):
        return self._wanted[1] if self._wanted else self.interfaces

    @defer.inlineCallbacks
    def _applyWanted(self):
        wanted = self._wanted
        text, interfaces = wanted
        if not self.running:
            raise DhcpdError("the dhcpd service is stopped")
        if wanted == self.applied and self.serving:
            return
        candidate = self.confPath + ".new"
        yield self.runInThread(self._write, candidate, text)
        try:
            yield self.runner.run(self.checkArgv(candidate), timeout=30)
        except ProcessFailed as e:
            yield self.runInThread(os.unlink, candidate)
            raise DhcpdError("dhcpd -t rejected the configuration: %s" % (
                e.result.err.decode("utf-8", "replace").strip()[-500:],)) from None
        yield self.runInThread(os.replace, candidate, self.confPath)
        yield self._stop()
        if not self.running:
            return
        self.interfaces = interfaces
        if not interfaces:
            # Nothing to serve (MANAGED before the first group network):
            # dhcpd would refuse to start without an interface.
            self.applied = wanted
            return
        yield self._start()
        self.applied = wanted
        self._restartDelay = 1.0

    def _write(self, path, text):
        os.makedirs(self.directory, exist_ok=True)
        with open(path, "w", encoding="ascii") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    # Start and stop ----------------------------------------------------------

    @defer.inlineCallbacks
    def _start(self):
        yield self._clearPidFile()
        yield self.runInThread(self._prepareFiles)
        proto = _DhcpdProtocol(self)
        argv = self.runner.fullArgv(self.argv())
        env = dict(os.environ)
        env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        log.info("starting dhcpd: {argv}", argv=" ".join(argv))
        self.process = self.reactor.spawnProcess(proto, argv[0], argv, env=env)
        self.process.proto = proto
        proto.ended.addCallback(self._ended, proto)
        timer = self.reactor.callLater(
            self.readyTimeout, lambda: proto.ready.called or proto.ready.errback(
                DhcpdError("dhcpd did not start serving within %ss" % (self.readyTimeout,))))
        try:
            yield proto.ready
        except DhcpdError:
            if timer.active():
                timer.cancel()
            yield self._stop()
            raise
        if timer.active():
            timer.cancel()
        log.info("dhcpd serves {n} interface(s) as pid {pid}",
                 n=len(self.interfaces), pid=self.process.pid if self.process else None)

    def _prepareFiles(self):
        """The leases file dhcpd insists on, owned by the user it drops to."""
        if not os.path.exists(self.leasesPath):
            open(self.leasesPath, "a").close()
        if self._dropsPrivileges():
            uid, gid = self.uidOf(self.user)
            for path in (self.directory, self.leasesPath):
                os.chown(path, uid, gid)

    def _ended(self, reason, proto):
        if self.process is None or self.process.proto is not proto:
            return
        self.process = None
        if proto.stopping:
            return
        # It died on its own: say why and bring it back, a bit later each time.
        log.error("dhcpd exited unexpectedly ({reason}): {tail}", reason=reason,
                  tail=proto.tail.decode("utf-8", "replace").strip()[-500:])
        if self.running and self.applied is not None and proto.served:
            delay, self._restartDelay = self._restartDelay, min(self._restartDelay * 2, 60.0)
            self._restartCall = self.reactor.callLater(delay, self._restartAfterCrash)

    def _restartAfterCrash(self):
        self._restartCall = None
        self.applied = None
        d = self._lock.run(self._applyWanted)
        d.addErrback(lambda f: log.error("restarting dhcpd failed: {e}",
                                         e=f.getErrorMessage()))

    @defer.inlineCallbacks
    def _stop(self):
        process, self.process = self.process, None
        if process is not None:
            proto = process.proto
            proto.stopping = True
            pid = process.pid
            if not proto.ended.called:
                try:
                    process.signalProcess("TERM")
                except error.ProcessExitedAlready:
                    pass
                ended = yield self._waitFor(proto.ended, self.stopTimeout)
                if not ended:
                    log.warn("dhcpd {pid} ignored TERM; killing it", pid=pid)
                    try:
                        process.signalProcess("KILL")
                    except error.ProcessExitedAlready:
                        pass
                    yield self._waitFor(proto.ended, self.stopTimeout)
            if pid is not None:
                yield self._waitGone(pid)
        yield self._clearPidFile()

    def _waitFor(self, d, seconds):
        """Fire True when ``d`` fires, False after ``seconds`` (d is left alone)."""
        result = defer.Deferred()
        timer = self.reactor.callLater(seconds, lambda: result.called or result.callback(False))

        def fired(value):
            if timer.active():
                timer.cancel()
            if not result.called:
                result.callback(True)
            return value
        d.addBoth(fired)
        return result

    @defer.inlineCallbacks
    def _waitGone(self, pid):
        # PID 1 of the lab reaps late (LAB.md): a pid may look alive for a
        # second after its process ended.  Wait, bounded, until it is gone.
        deadline = self.reactor.seconds() + self.stopTimeout
        while self.pidAlive(pid) and self.reactor.seconds() < deadline:
            yield task.deferLater(self.reactor, 0.1, lambda: None)
        if self.pidAlive(pid):
            log.warn("dhcpd pid {pid} still present after {s}s", pid=pid, s=self.stopTimeout)

    @defer.inlineCallbacks
    def _clearPidFile(self):
        """
        Remove the pid file, first stopping a dhcpd of ours that a previous
        CC run left behind (dhcpd refuses to start while its pid file names a
        live process).  Only a process whose command line names our own
        dhcpd.conf is signalled.
        """
        pid = yield self.runInThread(self._readPidFile)
        if pid > 0 and self.pidAlive(pid) and \
                self.confPath.encode() in _pidCommandLine(pid):
            log.warn("stopping dhcpd {pid} left by an earlier run", pid=pid)
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
            yield self._waitGone(pid)
        yield self.runInThread(self._removePidFile)

    def _readPidFile(self):
        try:
            with open(self.pidPath) as f:
                return int(f.read().strip() or "0")
        except (OSError, ValueError):
            return 0

    def _removePidFile(self):
        try:
            os.unlink(self.pidPath)
        except FileNotFoundError:
            pass

    def _openErrorLog(self):
        # One descriptor from start to stop: each chunk of dhcpd's output
        # costs one write to the page cache, not an open and a close.
        if not self.errorLog or self._errorFile is not None:
            return
        try:
            self._errorFile = openPrivateLog(self.errorLog, binary=True)
        except OSError as e:
            log.warn("cannot open {path}: {e}", path=self.errorLog, e=e)

    def _closeErrorLog(self, result):
        if self._errorFile is not None:
            self._errorFile.close()
            self._errorFile = None
        return result

    def _logOutput(self, data):
        if self._errorFile is None:
            return
        try:
            self._errorFile.write(b"[%s dhcpd] %s" % (
                time.strftime("%Y-%m-%d %H:%M:%S").encode(),
                data if data.endswith(b"\n") else data + b"\n"))
        except OSError as e:
            log.warn("cannot write {path}: {e}", path=self.errorLog, e=e)
