"""A ProcessRunner stand-in that expects exact argv lists (for NC tests)."""

from twisted.internet import defer

from eucad.common.process import ProcessFailed, ProcessResult


class ExpectedRunner:
    """
    Answers ``run(argv, ...)`` from a list of expected commands, in order:
    each is ``(argv, code)``, ``(argv, "timeout")`` or ``(argv, callable)``
    where the callable gets the argv and returns the exit code (so a test
    can make the file the command would have made).  Anything unexpected
    fails the run and is recorded in ``unexpected``.
    """

    def __init__(self, expected):
        self.expected = list(expected)
        self.ran = []
        self.unexpected = []

    def run(self, argv, timeout=60, check=True, stdin=None, okCodes=(0,)):
        argv = [str(a) for a in argv]
        self.ran.append(argv)
        if not self.expected or not _matches(self.expected[0][0], argv):
            self.unexpected.append(argv)
            return defer.fail(AssertionError("unexpected command %r" % (argv,)))
        _, outcome = self.expected.pop(0)
        if outcome == "timeout":
            return defer.fail(ProcessFailed(ProcessResult(argv, None, b"", b""),
                                            "timed out after %ss" % (timeout,)))
        code = outcome(argv) if callable(outcome) else outcome
        result = ProcessResult(argv, code, b"", b"" if code == 0 else b"failed")
        if check and code not in okCodes:
            return defer.fail(ProcessFailed(result, "exit status %s" % (code,)))
        return defer.succeed(result)


def _matches(pattern, argv):
    """Equal argv, where a pattern item ``...`` matches any one argument."""
    return len(pattern) == len(argv) and all(
        p is Ellipsis or p == a for p, a in zip(pattern, argv))
