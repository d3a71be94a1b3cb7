"""Walrus applies lifecycle rules itself, on a timer.

``LifecycleService`` is a child service of the Walrus daemon (and of the
front end that serves Walrus on the cloud's port): every
``WALRUS_LIFECYCLE_SECONDS`` it runs one expiration pass over every bucket
with a lifecycle configuration (eucad.walrus.lifecyclestore).  "Now" is its
clock's (``IReactorTime.seconds``), so tests hand it a
``twisted.internet.task.Clock`` and advance days in an instant.  A pass
never overlaps the previous one, and a failure is logged and the next pass
tried at the next tick.
"""

from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger

_log = Logger()


class LifecycleService(Service):
    def __init__(self, store, interval, clock=None):
        self.store = store
        self.interval = interval
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock
        self.loop = None
        self.passes = 0
        self.inFlight = None

    def startService(self):
        Service.startService(self)
        self.loop = task.LoopingCall(self.runPass)
        self.loop.clock = self.clock
        self.loop.start(self.interval, now=False).addErrback(
            lambda f: _log.failure("The lifecycle timer stopped", f))

    def stopService(self):
        """Stop ticking; the Deferred fires once a pass in flight has finished."""
        Service.stopService(self)
        loop, self.loop = self.loop, None
        if loop is not None and loop.running:
            loop.stop()
        if self.inFlight is not None:
            # The database and I/O pools stop after this service: let the
            # pass finish with them first.
            waiting = defer.Deferred()
            self.inFlight.addBoth(lambda result: (waiting.callback(None), result)[1])
            return waiting
        return None

    async def _pass(self):
        now = self.clock.seconds()
        totals = {}
        for bucket, rules in await self.store.lifecycleBuckets():
            counts = await self.store.expireBucket(bucket, rules, now)
            for action, count in counts.items():
                totals[action] = totals.get(action, 0) + count
        if totals:
            _log.info("Lifecycle pass: {totals}", totals=totals)
        return totals

    def runPass(self):
        """Deferred totals of one pass over every bucket with rules (errors logged)."""
        self.passes += 1
        d = defer.ensureDeferred(self._pass())
        d.addErrback(lambda f: _log.failure("A lifecycle pass failed", f))

        def finished(result):
            self.inFlight = None
            return result
        self.inFlight = d
        d.addBoth(finished)
        return d
