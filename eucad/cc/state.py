"""The CC's state file: what it started and what it allocated, across restarts.

A CC that restarts must keep serving the DHCP entries of running instances
and report them, so its instance records and network allocations live in one
JSON file under ``Layout.state`` (``cc/state.json``).  Writes are atomic
(temporary file, fsync, rename, fsync of the directory): after a crash the
file is either the old or the new version, never half of one.  The disk work
runs in a thread; writes requested while one is under way are merged into a
single later write of the newest data, so the file never goes backwards.
"""

import json

from twisted.internet import defer, threads
from twisted.logger import Logger

from eucad.common.atomicfile import writeAtomically

log = Logger()

FORMAT_VERSION = 1


class StateFile:
    """
    One JSON document on disk.

    @param runInThread: ``f(callable, *args) -> Deferred``; tests pass a
        synchronous one, the daemon uses the reactor's thread pool.
    """

    def __init__(self, path, runInThread=None):
        self.path = path
        self.runInThread = runInThread or threads.deferToThread
        self._writing = None
        self._pending = None
        self._waiters = []
        self._idleWaiters = []

    def load(self):
        """
        The saved document, or None when there is none yet.

        @raise ValueError: when the file exists but is not a state file of a
            version this code understands (refusing to start beats forgetting
            running instances).
        """
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        document = json.loads(raw.decode("utf-8"))
        if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
            raise ValueError("%s is not a version %d CC state file" % (self.path, FORMAT_VERSION))
        return document

    def save(self, document):
        """
        Write ``document`` (plain data; ``version`` is added).

        @return: Deferred firing once this document, or a newer one, is on disk.
        """
        data = json.dumps(dict(document, version=FORMAT_VERSION), indent=1,
                          sort_keys=True).encode("utf-8")
        d = defer.Deferred()
        self._waiters.append(d)
        self._pending = data
        if self._writing is None:
            self._writeNext()
        return d

    def _writeNext(self):
        data, self._pending = self._pending, None
        waiters, self._waiters = self._waiters, []
        self._writing = self.runInThread(writeAtomically, self.path, data, 0o600)

        def done(result):
            self._writing = None
            for waiter in waiters:
                if result is None:
                    waiter.callback(None)
                else:
                    waiter.errback(result)
            if self._pending is not None:
                self._writeNext()
            else:
                idle, self._idleWaiters = self._idleWaiters, []
                for waiter in idle:
                    waiter.callback(None)

        def failed(failure):
            log.failure("cannot write {path}", failure, path=self.path)
            done(failure)
        self._writing.addCallbacks(lambda _: done(None), failed)

    def whenIdle(self):
        """A Deferred firing once no write is under way or queued."""
        if self._writing is None:
            return defer.succeed(None)
        d = defer.Deferred()
        self._idleWaiters.append(d)
        return d
