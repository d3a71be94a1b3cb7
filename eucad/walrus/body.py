"""Receiving request bodies: decoded, hashed and spooled to disk as they arrive.

twisted.web would collect a body in a temporary file and hand it over only
after the last byte; Walrus instead installs a ``BodySpool`` as the request's
``content`` (``WalrusRequest.gotLength``), so a body is decoded (aws-chunked
framing), hashed (MD5 for the ETag, SHA-256 when signed, the requested
flexible checksums) and written to its temporary file (beside its future
blob, see eucad.walrus.blobs) while it is still arriving.

All the blocking work is done by a ``BodyWriter`` (eucad.walrus.bodywriter)
in the I/O thread pool, one batch at a time, as Deferreds: a batch's MD5,
its other digests and its write are three jobs that run at once (hashlib,
zlib and write release the GIL, so on two cores a boto3 upload costs about
MD5's time), the write of one batch may still run while the next is hashed,
and the writes of a body run one after the other (``OrderedWrites``).  When
more than ``HIGH_WATER`` bytes wait, the connection is paused, so a 1 GiB
upload holds a few MiB in memory.  Small bodies (the common XML and 4 KiB
PUTs) stay in memory and are hashed inline; bodies declared empty get a
ready-made ``EmptySpool``.

When a request did not come through ``WalrusRequest`` (eucad.walrus.wire)
(a plain twisted.web Site, or StubTreq in tests), ``spoolFromContent`` gives
the same result from twisted's own content file.
"""

import io

from twisted.internet import defer
from twisted.logger import Logger

from eucad.walrus import checksums
from eucad.walrus.bodywriter import MAX_OBJECT_SIZE, BodyWriter
from eucad.walrus.errors import S3Error
from eucad.walrus.spooled import SpooledBody

#: Bodies up to this size are kept in memory.
SMALL_BODY = 256 * 1024
#: Pause the client when this much received data waits for the disk...
HIGH_WATER = 8 * 1024 * 1024
#: ...and resume it when less than this does.
LOW_WATER = 2 * 1024 * 1024
#: S3's largest single PUT, plus room for aws-chunked framing.
MAX_RAW_BODY = MAX_OBJECT_SIZE + MAX_OBJECT_SIZE // 64 + 1024 * 1024
READ_CHUNK = 1024 * 1024

_log = Logger()


class OrderedWrites:
    """
    The writes of one body, run in the I/O pool one after the other in the
    order they were submitted.  The first failure is kept in ``failure``
    (later writes are skipped) for the spool to raise where it waits.
    """

    def __init__(self, runIo, write):
        self.runIo = runIo
        self.write = write
        self.tail = defer.succeed(None)
        self.failure = None

    def submit(self, pieces):
        def run(_):
            if self.failure is not None:
                return None
            return self.runIo(self.write, pieces).addErrback(self._failed)
        self.tail.addCallback(run)

    def _failed(self, failure):
        if self.failure is None:
            self.failure = failure
        return None

    def whenDone(self):
        """A Deferred that fires once every write submitted so far has ended."""
        done = defer.Deferred()
        self.tail.addCallback(lambda _: done.callback(None))
        return done

    def check(self):
        """Raise what a failed write raised."""
        if self.failure is not None:
            self.failure.raiseException()


class BodySpool:
    """
    The ``content`` of a ``WalrusRequest``: receives the body from the
    reactor and hands it to a ``BodyWriter`` in the I/O pool, in order, with
    flow control.  ``finish()`` gives a Deferred SpooledBody.

    It also answers the file-like calls twisted.web makes on ``content``
    (``tell``, ``seek``, ``read``, ``close``); ``close`` after the request is
    answered removes a temporary file nobody installed.
    """

    def __init__(self, plan, blobs, runIo, producer=None, length=None):
        self.plan = plan
        self.blobs = blobs
        self.runIo = runIo
        self.producer = producer
        self.writer = BodyWriter(plan, blobs)
        self.writes = OrderedWrites(runIo, self.writer.write)
        self.received = 0
        self.pending = []
        self.pendingBytes = 0
        self.inFlight = 0
        self.busy = False
        self.paused = False
        self.onFile = False
        self.error = None
        self.result = None
        self.closed = False
        self.waiters = []
        self.finishing = False
        self.aborted = False
        if length is not None and length > MAX_RAW_BODY:
            self.error = S3Error("EntityTooLarge")
        elif length is None or length > SMALL_BODY:
            self._goToFile()

    # -- twisted.web's side ----------------------------------------------
    def write(self, data):
        self.received += len(data)
        if self.error is not None or self.closed:
            return
        if self.received > MAX_RAW_BODY:
            self.error = S3Error("EntityTooLarge")
            self.pending = []
            self._discardAfterError()
            return
        self.pending.append(data)
        self.pendingBytes += len(data)
        if not self.onFile:
            if self.pendingBytes > SMALL_BODY:
                self._goToFile()
            return
        self._pump()
        if self.pendingBytes + self.inFlight > HIGH_WATER and not self.paused \
                and self.producer is not None:
            self.paused = True
            self.producer.pauseProducing()

    def tell(self):
        return self.received

    def seek(self, offset, whence=0):
        return 0

    def read(self, size=-1):
        """Only for non-S3 consumers of a shared Site (small bodies)."""
        if self.result is not None and self.result.data is not None:
            return self.result.data if size < 0 else self.result.data[:size]
        if not self.onFile and self.error is None:
            return b"".join(self.pending)
        return b""

    def close(self):
        """Called by twisted.web when the request is done or its connection lost."""
        if self.closed:
            return
        self.closed = True
        self.pending = []
        self._resume()
        if self.result is not None:
            self.result.discard()
        else:
            self._discardAfterError()

    # -- the handler's side -------------------------------------------------
    def finish(self):
        """Deferred SpooledBody once every byte is decoded, hashed and synced."""
        if self.result is not None:
            return defer.succeed(self.result)
        if self.error is not None:
            self._discardAfterError()
            return defer.fail(self.error)
        d = defer.Deferred()
        self.waiters.append(d)
        if not self.finishing:
            self.finishing = True
            if self.onFile:
                self._pump()
            else:
                self._finishInMemory()
        return d

    # -- internals ----------------------------------------------------------
    def _goToFile(self):
        self.onFile = True
        self.busy = True
        d = self.runIo(self.writer.toFile)
        d.addCallbacks(self._batchDone, self._batchFailed, callbackArgs=(0,))

    def _pump(self):
        if self.busy or self.error is not None or self.closed:
            return
        if self.pending:
            batch, self.pending = self.pending, []
            size = sum(len(b) for b in batch)
            self.pendingBytes -= size
            self.inFlight = size
            self.busy = True
            d = self._processBatch(batch)
            d.addCallbacks(self._batchDone, self._batchFailed, callbackArgs=(size,))
        elif self.finishing:
            self.busy = True
            d = self.writes.whenDone()
            d.addCallback(lambda _: self.writes.check())
            d.addCallback(lambda _: self.runIo(self.writer.close, self.blobs, self.runIo))
            d.addCallbacks(self._closed, self._batchFailed)

    def _processBatch(self, batch):
        """
        Decode ``batch`` (if framed), then hash it in one or two jobs while
        it is queued for writing; done when it is hashed and every earlier
        write has ended, so at most two batches are held at once.
        """
        writer = self.writer
        if writer.decoder is not None:
            decoded = self.runIo(writer.decode, batch)
        else:
            decoded = defer.succeed(batch)

        def stages(pieces):
            earlier = self.writes.whenDone()
            self.writes.submit(pieces)
            lanes = [self.runIo(writer.hashMd5, pieces), earlier]
            if writer.hasOthers():
                lanes.append(self.runIo(writer.hashOthers, pieces))
            gathered = defer.gatherResults(lanes, consumeErrors=True)
            gathered.addErrback(lambda f: f.value.subFailure)
            gathered.addCallback(lambda _: self.writes.check())
            return gathered
        return decoded.addCallback(stages)

    def _batchDone(self, _, size):
        self.busy = False
        self.inFlight = 0
        if self.closed or self.error is not None:
            self._resume()
            self._discardAfterError()
            return
        if self.paused and self.pendingBytes < LOW_WATER:
            self._resume()
        self._pump()

    def _resume(self):
        if self.paused and self.producer is not None:
            self.paused = False
            self.producer.resumeProducing()

    def _batchFailed(self, failure):
        if not failure.check(S3Error):
            _log.failure("Receiving a request body failed", failure)
        self.busy = False
        self.inFlight = 0
        self.error = failure.value if failure.check(S3Error) else S3Error("InternalError")
        self.pending = []
        self._resume()
        self._discardAfterError()
        self._fireWaiters(failure if failure.check(S3Error) else None)

    def _discardAfterError(self):
        """Drop the temporary file once no batch or write is using the writer."""
        if self.onFile and not self.busy and not self.aborted:
            self.aborted = True
            self.writes.whenDone().addCallback(lambda _: self.runIo(self.writer.abort))

    def _finishInMemory(self):
        try:
            self.writer.process(self.pending)
            self.pending = []
            self._closed(self.writer.close(self.blobs, self.runIo))
        except S3Error as e:
            self.error = e
            self._fireWaiters(None)

    def _closed(self, result):
        self.busy = False
        self.result = result
        if self.closed:
            result.discard()
        waiters, self.waiters = self.waiters, []
        for d in waiters:
            d.callback(result)

    def _fireWaiters(self, failure):
        waiters, self.waiters = self.waiters, []
        for d in waiters:
            d.errback(self.error)


class EmptySpool:
    """
    The ``content`` of a request that declared no body (``Content-Length:
    0``: GET, HEAD, DELETE and most bucket calls): its SpooledBody is ready
    at once, with the digests of nothing computed once per kind of plan
    instead of a writer and fresh hash objects per request.
    """

    def __init__(self, plan, blobs, runIo):
        self.result = SpooledBody(0, _emptyDigests(plan), data=b"", blobs=blobs, runIo=runIo)

    def write(self, data):
        """Nothing arrives after a zero Content-Length; twisted never calls this."""

    def tell(self):
        return 0

    def seek(self, offset, whence=0):
        return 0

    def read(self, size=-1):
        return b""

    def close(self):
        """Nothing to clean up."""

    def finish(self):
        return defer.succeed(self.result)


_EMPTY_DIGESTS = {}


class KnownDigests:
    """What a finished BodyDigests gives a SpooledBody, worked out once."""

    def __init__(self, digests):
        self._md5Hex = digests.md5Hex()
        self._sha256Hex = digests.sha256Hex()
        self._checksums = digests.checksumsBase64()

    def md5Hex(self):
        return self._md5Hex

    def sha256Hex(self):
        return self._sha256Hex

    def checksumsBase64(self):
        return dict(self._checksums)


def _emptyDigests(plan):
    """The digests of no bytes for ``plan``'s digests (kept: every bodiless request needs them)."""
    kind = (plan.sha256, plan.algorithms)
    digests = _EMPTY_DIGESTS.get(kind)
    if digests is None:
        digests = _EMPTY_DIGESTS[kind] = KnownDigests(
            checksums.BodyDigests(plan.sha256, plan.algorithms))
    return digests


#: What ``makeSpool`` may return; the service tells them from twisted's content files.
SPOOLS = (BodySpool, EmptySpool)


def makeSpool(plan, blobs, runIo, producer=None, length=None):
    """The request ``content`` for a body of ``length`` bytes (None: unknown)."""
    if length == 0 and plan.framing is None:
        return EmptySpool(plan, blobs, runIo)
    return BodySpool(plan, blobs, runIo, producer, length)


def spoolFromContent(content, plan, blobs, runIo):
    """
    A Deferred SpooledBody from twisted.web's own ``request.content`` (a
    BytesIO or a temporary file), for requests not made by WalrusRequest.
    """
    if isinstance(content, io.BytesIO):
        data = content.getvalue()
        if len(data) <= SMALL_BODY:
            writer = BodyWriter(plan, blobs)
            try:
                writer.process([data])
                return defer.succeed(writer.close(blobs, runIo))
            except S3Error as e:
                return defer.fail(e)

    def copy():
        writer = BodyWriter(plan, blobs)
        writer.toFile()
        try:
            content.seek(0)
            while True:
                data = content.read(READ_CHUNK)
                if not data:
                    break
                writer.process([data])
        except BaseException:
            writer.abort()
            raise
        return writer.close(blobs, runIo)
    return runIo(copy)
