"""Moving Walrus's bucket directory while it runs, as the configuration page asks.

Three rows of ``cloud_settings`` say where the blobs are
(``eucad.common.bucketdirectory``): where the administrator wants them,
where every blob is, and an old root whose copies are still to be deleted.
When the
wanted directory differs from the active one a move runs: ``MovableBlobs``
writes new blobs to the wanted root and reads from both; ``copyBlobs``
copies the old blobs across; one transaction makes the wanted root the
active one; then the old copies are deleted.  Requests are served all the
while.  A Walrus killed during a move finds wanted != active when it
starts, serves from both roots again and goes on copying; killed after the
switch, it deletes the leftover copies when it starts.  The page refuses a
new directory while a move runs (``moveUnderWay``).

``BucketDirectoryService`` reads the rows when Walrus starts, then every
``interval`` seconds; the store's I/O threads wait for that first read
(``MovableBlobs`` knows no root until then), so no request can write to the
install's default directory while the data is elsewhere.
"""

import threading

from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger

from eucad.common.bucketdirectory import bucketRoots, clearLeftover, switchRoots
from eucad.walrus import bucketdir

log = Logger()

#: Seconds between reads of the wanted directory.
INTERVAL = 1.0
#: Seconds the old copies are kept after the switch, for reads that looked
#: a blob up in the old root just before it.
GRACE = 2.0


class BucketDirectoryService(Service):
    """
    @param blobs: the store's ``MovableBlobs``.
    @param database: the Walrus's ``Database`` (``run``).
    @param default: the install's bukkits directory.
    @param runIo: Walrus's I/O threads (``runIo(f, *args)``).
    """

    def __init__(self, blobs, database, default, runIo, clock=None, interval=INTERVAL,
                 grace=GRACE):
        self.blobs = blobs
        self.database = database
        self.default = default
        self.runIo = runIo
        self.clock = clock
        self.interval = interval
        self.grace = grace
        self.loop = None
        self.moving = None
        self.ready = None
        self._stop = threading.Event()
        self._unusable = None

    def startService(self):
        Service.startService(self)
        if self.clock is None:
            from twisted.internet import reactor
            self.clock = reactor
        self._stop.clear()
        self.loop = task.LoopingCall(self.check)
        self.loop.clock = self.clock
        self.ready = self.loop.start(self.interval, now=True)
        self.ready.addErrback(lambda f: log.failure("bucket directory watch stopped", f))

    def stopService(self):
        Service.stopService(self)
        self._stop.set()
        self.blobs.abandon()
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        return self.moving

    @defer.inlineCallbacks
    def check(self):
        """Read the rows; start or resume a move, or delete leftovers; never fails."""
        if self.moving is not None:
            return
        try:
            wanted, active, leftover = yield self.database.run(bucketRoots, self.default)
        except Exception:
            log.failure("reading the bucket directory rows")
            return
        if wanted != active and not (yield self.runIo(bucketdir.usable, wanted)):
            if self._unusable != wanted:
                self._unusable = wanted
                log.error("Walrus cannot write to the bucket directory {wanted}; it keeps "
                          "{active} and tries again", wanted=wanted, active=active)
            wanted = active
        self.blobs.useRoots(wanted, active)
        self.blobs.rootsKnown()
        if wanted != active:
            self.moving = self._move(active, wanted)
        elif leftover and leftover != active:
            self.moving = self._removeLeftover(leftover)
        else:
            return
        self.moving.addErrback(lambda f: log.failure("moving the bucket directory", f))
        self.moving.addBoth(self._moved)

    def _moved(self, _):
        self.moving = None

    @defer.inlineCallbacks
    def _move(self, old, new):
        log.info("Moving the bucket directory from {old} to {new}", old=old, new=new)
        copied = 0
        # Twice: blobs installed in the old root just as the move began are
        # caught by the second pass.
        for _ in range(2):
            copied += yield self.runIo(bucketdir.copyBlobs, old, new, self._stop)
        if self._stop.is_set():
            return
        yield self.database.run(switchRoots, old, new)
        self.blobs.useRoots(new)
        log.info("The bucket directory is {new} ({n} blobs copied)", new=new, n=copied)
        yield task.deferLater(self.clock, self.grace, lambda: None)
        yield self._removeLeftover(old)

    @defer.inlineCallbacks
    def _removeLeftover(self, old):
        if self._stop.is_set():
            return
        yield self.runIo(bucketdir.removeRoot, old)
        yield self.database.run(clearLeftover)
        log.info("Deleted the old copies under {old}", old=old)
