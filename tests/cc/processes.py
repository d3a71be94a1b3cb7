"""A reactor for tests that expects exact commands instead of running them.

In the style of Twisted's procmon tests and Buildbot's ExpectShell: the test
lists the argv it expects, in order, and what each command does (output,
exit code); ``spawnProcess`` checks each argv against the list.  One-shot
commands finish on the next ``settle()``; long-running ones (dhcpd) stay up
until the test feeds them output or ends them.  Time is a ``task.Clock``.
"""

from twisted.internet import error, task
from twisted.internet.interfaces import IProcessTransport
from twisted.python.failure import Failure
from zope.interface import implementer


class Expect:
    """One expected command and its scripted behaviour."""

    def __init__(self, argv, code=0, out=b"", err=b"", longRunning=False,
                 exitOnTerm=True):
        self.argv = list(argv)
        self.code = code
        self.out = out
        self.err = err
        self.longRunning = longRunning
        self.exitOnTerm = exitOnTerm
        self.process = None


@implementer(IProcessTransport)
class FakeProcess:
    """The transport handed to the process protocol; records signals."""

    def __init__(self, reactor, argv, proto, pid, expectation):
        self.reactor = reactor
        self.argv = argv
        self.proto = proto
        self.pid = pid
        self.expectation = expectation
        self.signals = []
        self.ended = False
        self.stdinClosed = False
        self.written = []

    def signalProcess(self, signal):
        if self.ended:
            raise error.ProcessExitedAlready()
        self.signals.append(signal)
        if signal == "KILL" or (signal == "TERM" and self.expectation.exitOnTerm):
            self.reactor.callLater(0, self.end, None, {"TERM": 15, "KILL": 9}[signal])

    def feed(self, out=b"", err=b""):
        """Deliver output as if the process wrote it."""
        if out:
            self.proto.outReceived(out)
        if err:
            self.proto.errReceived(err)

    def end(self, code=0, signal=None):
        """End the process with exit ``code`` (or by ``signal``)."""
        if self.ended:
            return
        self.ended = True
        if signal is None and code == 0:
            reason = error.ProcessDone(0)
        else:
            reason = error.ProcessTerminated(exitCode=code, signal=signal)
        self.pid = None
        self.proto.processEnded(Failure(reason))

    def closeStdin(self):
        self.stdinClosed = True

    def write(self, data):
        self.written.append(data)

    def closeStdout(self):
        pass

    def closeStderr(self):
        pass

    def closeChildFD(self, fd):
        pass

    def writeToChild(self, fd, data):
        self.written.append(data)

    def loseConnection(self):
        self.closeStdin()

    def getPeer(self):
        return None

    def getHost(self):
        return None

    def writeSequence(self, seq):
        self.written.extend(seq)


class FakeProcessReactor(task.Clock):
    """
    A Clock whose ``spawnProcess`` checks argv against ``expect`` calls.

    @ivar spawned: every FakeProcess, in spawn order.
    @ivar unexpected: argv lists nobody expected (spawnProcess also raises).
    """

    def __init__(self):
        task.Clock.__init__(self)
        self.expected = []
        self.spawned = []
        self.unexpected = []
        self._nextPid = 4000

    def expect(self, argv, **kwargs):
        """Expect ``argv`` next; keyword arguments as for ``Expect``."""
        expectation = Expect(argv, **kwargs)
        self.expected.append(expectation)
        return expectation

    def spawnProcess(self, processProtocol, executable, args=(), env=None, path=None,
                     uid=None, gid=None, usePTY=False, childFDs=None):
        args = list(args)
        if not self.expected or self.expected[0].argv != args:
            self.unexpected.append(args)
            raise AssertionError("unexpected command %r; expected %r" % (
                args, self.expected[0].argv if self.expected else None))
        if executable != args[0]:
            raise AssertionError("executable %r is not argv[0] %r" % (executable, args[0]))
        expectation = self.expected.pop(0)
        self._nextPid += 1
        process = FakeProcess(self, args, processProtocol, self._nextPid, expectation)
        expectation.process = process
        self.spawned.append(process)
        processProtocol.makeConnection(process)
        if not expectation.longRunning:
            def finish():
                process.feed(expectation.out, expectation.err)
                process.end(expectation.code)
            self.callLater(0, finish)
        return process

    def settle(self):
        """Run everything due now (callLater(0) chains included)."""
        self.advance(0)

    def assertAllUsed(self, testCase):
        testCase.assertEqual([e.argv for e in self.expected], [], "expected commands never ran")
        testCase.assertEqual(self.unexpected, [], "unexpected commands ran")
