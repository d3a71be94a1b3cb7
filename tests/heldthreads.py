"""Stand-ins for ``runInThread`` so tests decide when "thread" work happens."""

from twisted.internet import defer


def runNow(function, *args):
    """A runInThread that runs at once (the tests own the only thread)."""
    return defer.maybeDeferred(function, *args)


class HeldThreads:
    """A runInThread whose calls wait until the test releases them."""

    def __init__(self):
        self.calls = []

    def __call__(self, function, *args):
        d = defer.Deferred()
        self.calls.append((function, args, d))
        return d

    def releaseAll(self):
        """Run every waiting call (and those they queue), in order."""
        while self.calls:
            function, args, d = self.calls.pop(0)
            try:
                result = function(*args)
            except Exception:
                d.errback()
            else:
                d.callback(result)
