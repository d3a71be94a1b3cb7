"""The one way eucad runs an external command (ip, iptables, dhcpd -t, qemu-img...).

Commands are argv lists, never shell strings.  Each run has a timeout, its
exit status is checked, and its stderr is appended to the component's error
log (``httpd-cc_error_log`` and friends in the guide), so that an admin finds
why a network step failed.  A runner made with ``netns`` prefixes every argv
with ``ip netns exec NS``: that is how the CC drives a front end that lives in
a network namespace (the lab, and tests).
"""

import os
import time

from twisted.internet import defer, error, protocol
from twisted.internet import reactor as _defaultReactor
from twisted.logger import Logger

from eucad.common.logfiles import openPrivateLog

log = Logger()


class ProcessResult:
    """What a finished command left: exit code, stdout and stderr bytes."""

    def __init__(self, argv, code, out, err, signal=None):
        self.argv = argv
        self.code = code
        self.out = out
        self.err = err
        self.signal = signal

    def __repr__(self):
        return "<ProcessResult %r code=%r>" % (self.argv, self.code)


class ProcessFailed(Exception):
    """A command exited non-zero, was killed, or timed out."""

    def __init__(self, result, reason):
        Exception.__init__(self, "%s: %s (stderr: %s)" % (
            " ".join(result.argv), reason,
            result.err.decode("utf-8", "replace").strip()[-500:]))
        self.result = result
        self.reason = reason


class _Collector(protocol.ProcessProtocol):
    """Collects output and fires ``done`` with (code, signal) when it ends."""

    def __init__(self, stdin):
        self.stdin = stdin
        self.out = []
        self.err = []
        self.done = defer.Deferred()

    def connectionMade(self):
        if self.stdin is not None:
            self.transport.write(self.stdin)
        self.transport.closeStdin()

    def outReceived(self, data):
        self.out.append(data)

    def errReceived(self, data):
        self.err.append(data)

    def processEnded(self, reason):
        value = reason.value
        self.done.callback((getattr(value, "exitCode", None),
                            getattr(value, "signal", None)))


class ProcessRunner:
    """
    Runs argv lists as deferred processes.

    @param errorLog: path that stderr of every command is appended to, or None.
    @param netns: network namespace to run commands in, or None.
    """

    def __init__(self, reactor=None, errorLog=None, netns=None, env=None):
        self.reactor = reactor or _defaultReactor
        self.errorLog = errorLog
        self.netns = netns or None
        self.env = env
        self._errorFile = None

    def fullArgv(self, argv):
        """``argv`` as it will be spawned (with the namespace prefix)."""
        argv = [str(a) for a in argv]
        if self.netns:
            return ["ip", "netns", "exec", self.netns] + argv
        return argv

    def _environment(self):
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        if "/usr/sbin" not in env["PATH"]:
            env["PATH"] += ":/usr/sbin:/sbin"
        return env

    def run(self, argv, timeout=60, check=True, stdin=None, okCodes=(0,)):
        """
        Run ``argv`` to its end.

        @return: Deferred firing with a ProcessResult; failing with
            ProcessFailed when ``check`` and the exit code is not in
            ``okCodes``, or when ``timeout`` seconds pass (the process is
            killed then).
        """
        full = self.fullArgv(argv)
        collector = _Collector(stdin)
        try:
            transport = self.reactor.spawnProcess(
                collector, full[0], full, env=self._environment())
        except OSError as e:
            return defer.fail(ProcessFailed(ProcessResult(full, None, b"", str(e).encode()),
                                            "could not start"))
        timedOut = []

        def kill():
            timedOut.append(True)
            try:
                transport.signalProcess("KILL")
            except error.ProcessExitedAlready:
                pass
        timer = self.reactor.callLater(timeout, kill)

        def finished(codeAndSignal):
            if timer.active():
                timer.cancel()
            code, signal = codeAndSignal
            result = ProcessResult(full, code, b"".join(collector.out),
                                   b"".join(collector.err), signal)
            self._logStderr(result)
            if timedOut:
                raise ProcessFailed(result, "timed out after %ss" % (timeout,))
            if check and code not in okCodes:
                raise ProcessFailed(result, "exit status %s" % (
                    code if code is not None else "signal %s" % (signal,)))
            return result
        return collector.done.addCallback(finished)

    def _logStderr(self, result):
        if not result.err or not self.errorLog:
            return
        # One descriptor for the runner's life: each command costs a write to
        # the page cache on the reactor thread, not an open and a close.
        try:
            if self._errorFile is None:
                self._errorFile = openPrivateLog(self.errorLog, binary=True)
            err = result.err if result.err.endswith(b"\n") else result.err + b"\n"
            self._errorFile.write(("[%s] %s (exit %s)\n" % (
                time.strftime("%Y-%m-%d %H:%M:%S"), " ".join(result.argv),
                result.code)).encode() + err)
        except OSError as e:
            log.warn("cannot write error log {path}: {e}", path=self.errorLog, e=e)

    def close(self):
        """Close the error log (it reopens if the runner is used again)."""
        if self._errorFile is not None:
            self._errorFile.close()
            self._errorFile = None
