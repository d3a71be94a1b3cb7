"""The deferred process runner: argv, namespaces, exit status, timeouts, error log."""

import os

from twisted.internet import error, reactor
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial import unittest

from eucad.common.process import ProcessFailed, ProcessRunner


class FakeProcessTransport:
    """What spawnProcess returns: records signals sent to the process."""

    def __init__(self):
        self.signals = []

    def signalProcess(self, name):
        self.signals.append(name)

    def write(self, data):
        pass

    def closeStdin(self):
        pass


class FakeProcessReactor(Clock):
    """A clock whose spawnProcess records argv and lets the test end the process."""

    def __init__(self):
        Clock.__init__(self)
        self.spawned = []

    def spawnProcess(self, protocol, executable, args, env=None, **kwargs):
        transport = FakeProcessTransport()
        protocol.makeConnection(transport)
        self.spawned.append((protocol, executable, args, env))
        return transport

    def end(self, index=-1, code=0, out=b"", err=b""):
        protocol = self.spawned[index][0]
        if out:
            protocol.outReceived(out)
        if err:
            protocol.errReceived(err)
        if code == 0:
            protocol.processEnded(Failure(error.ProcessDone(0)))
        else:
            protocol.processEnded(Failure(error.ProcessTerminated(exitCode=code)))


class RunnerTests(unittest.TestCase):

    def setUp(self):
        self.reactor = FakeProcessReactor()
        self.errorLog = os.path.join(self.mktemp(), "httpd-cc_error_log")

    def test_argvIsSpawnedAsGiven(self):
        """The argv list is spawned as is, its first word as the executable."""
        runner = ProcessRunner(self.reactor)
        runner.run(["ip", "link", "set", "br0", "up"])
        _, executable, args, env = self.reactor.spawned[0]
        self.assertEqual(executable, "ip")
        self.assertEqual(args, ["ip", "link", "set", "br0", "up"])
        self.assertIn("/usr/sbin", env["PATH"])

    def test_namespacePrefix(self):
        """A runner for a namespace prefixes every command with ip netns exec."""
        runner = ProcessRunner(self.reactor, netns="lab-fe")
        runner.run(["iptables", "-L"])
        self.assertEqual(self.reactor.spawned[0][2],
                         ["ip", "netns", "exec", "lab-fe", "iptables", "-L"])

    def test_successGivesOutput(self):
        """Exit status 0 fires with the output collected."""
        d = ProcessRunner(self.reactor).run(["echo", "hi"])
        self.reactor.end(out=b"hi\n")
        result = self.successResultOf(d)
        self.assertEqual((result.code, result.out), (0, b"hi\n"))

    def test_nonZeroExitFails(self):
        """A non-zero exit fails with ProcessFailed naming the command and its stderr."""
        d = ProcessRunner(self.reactor, errorLog=self.errorLog).run(["brctl", "addbr", "x"])
        self.reactor.end(code=2, err=b"bridge exists\n")
        failure = self.failureResultOf(d, ProcessFailed)
        self.assertEqual(failure.value.result.code, 2)
        self.assertIn("bridge exists", str(failure.value))
        self.assertIn("brctl addbr x", str(failure.value))

    def test_okCodesAndUnchecked(self):
        """Listed exit codes count as success, and check=False never fails."""
        runner = ProcessRunner(self.reactor)
        d1 = runner.run(["iptables", "-C", "x"], okCodes=(0, 1))
        self.reactor.end(code=1)
        self.assertEqual(self.successResultOf(d1).code, 1)
        d2 = runner.run(["false"], check=False)
        self.reactor.end(code=1)
        self.assertEqual(self.successResultOf(d2).code, 1)

    def test_timeoutKills(self):
        """A command still running at its timeout is killed and reported as timed out."""
        d = ProcessRunner(self.reactor).run(["sleep", "100"], timeout=5)
        self.reactor.advance(4.9)
        self.assertNoResult(d)
        self.reactor.advance(0.2)
        transport = self.reactor.spawned[0][0].transport
        self.assertEqual(transport.signals, ["KILL"])
        self.reactor.end(code=137)
        failure = self.failureResultOf(d, ProcessFailed)
        self.assertIn("timed out", failure.value.reason)

    def test_stderrGoesToErrorLog(self):
        """Whatever a command says on stderr is appended to the component's error log."""
        runner = ProcessRunner(self.reactor, errorLog=self.errorLog)
        runner.run(["dhcpd", "-t"], check=False)
        self.reactor.end(code=1, err=b"line 3: syntax error\n")
        runner.run(["ip", "addr"])
        self.reactor.end(code=0)
        runner.close()
        text = open(self.errorLog).read()
        self.assertIn("dhcpd -t (exit 1)", text)
        self.assertIn("line 3: syntax error", text)
        self.assertNotIn("ip addr", text)


class RealProcessTests(unittest.TestCase):

    def test_realCommand(self):
        """A real shell command's output, exit status and stderr come back."""
        errorLog = os.path.join(self.mktemp(), "err.log")
        runner = ProcessRunner(reactor, errorLog=errorLog)
        d = runner.run(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
        self.addCleanup(runner.close)

        def check(result):
            self.assertEqual((result.code, result.out, result.err), (3, b"out\n", b"err\n"))
            self.assertIn("err", open(errorLog).read())
        return d.addCallback(check)

    def test_missingExecutableFails(self):
        """A command that does not exist fails instead of hanging."""
        d = ProcessRunner(reactor).run(["/nonexistent/eucad-tool"])
        return self.assertFailure(d, ProcessFailed)
