"""Receiving request bodies: decoded, hashed and spooled to disk as they arrive.

twisted.web would collect a body in a temporary file and hand it over only
after the last byte; Walrus instead installs a ``BodySpool`` as the request's
``content`` (``WalrusRequest.gotLength``), so a body is decoded (aws-chunked
framing), hashed (MD5 for the ETag, SHA-256 when signed, the requested
flexible checksums) and written to its temporary file (beside its future
blob, see eucad.walrus.blobs) while it is still arriving.  The work is done
in the I/O thread pool one batch at a time, in order, with the write of a
batch overlapping the hashing of the next and the kernel told to start
writing to disk as data comes (so the final fsync has little left to do);
when more than ``HIGH_WATER`` bytes wait, the connection is paused, so a
1 GiB upload holds a few MiB in memory.  Small bodies (the common XML and
4 KiB PUTs) stay in memory and are hashed inline; bodies declared empty get
a ready-made ``EmptySpool``.

When a request did not come through ``WalrusRequest`` (eucad.walrus.wire) (a plain twisted.web
Site, or StubTreq in tests), ``spoolFromContent`` gives the same result from
twisted's own content file.
"""

import hashlib
import io
import re
from concurrent.futures import ThreadPoolExecutor

from twisted.internet import defer
from twisted.logger import Logger

from eucad.common import signing
from eucad.walrus import checksums
from eucad.walrus.blobs import startWriteback, writeAll
from eucad.walrus.errors import S3Error

#: Bodies up to this size are kept in memory.
SMALL_BODY = 256 * 1024
#: Pause the client when this much received data waits for the disk...
HIGH_WATER = 8 * 1024 * 1024
#: ...and resume it when less than this does.
LOW_WATER = 2 * 1024 * 1024
#: S3's largest single PUT, plus room for aws-chunked framing.
MAX_OBJECT_SIZE = 5 * 1024 ** 3
MAX_RAW_BODY = MAX_OBJECT_SIZE + MAX_OBJECT_SIZE // 64 + 1024 * 1024
READ_CHUNK = 1024 * 1024
#: Start writing a large body to disk every time this much more has arrived.
WRITEBACK_STEP = 8 * 1024 * 1024

STREAMING_SIGNED = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
STREAMING_UNSIGNED = ("STREAMING-UNSIGNED-PAYLOAD-TRAILER",)

_log = Logger()

_CHUNK_HEADER = re.compile(rb"^([0-9a-fA-F]{1,16})(?:;chunk-signature=([0-9a-fA-F]{64}))?$")


class BodyPlan:
    """
    What to do with a body, decided from the headers alone: whether it is
    aws-chunked (and signed per chunk), and which digests to compute.
    """

    def __init__(self, framing=None, sha256=False, algorithms=(), decodedLength=None,
                 length=None):
        self.framing = framing            # None, "signed" or "unsigned"
        self.sha256 = sha256
        self.algorithms = tuple(algorithms)
        self.decodedLength = decodedLength
        self.length = length

    @classmethod
    def fromHeaders(cls, headers, length):
        """``headers`` maps lower-case names to lists of values."""
        first = lambda name: (headers.get(name) or [None])[0]
        payload = first("x-amz-content-sha256") or ""
        encoding = (first("content-encoding") or "").lower()
        framing = None
        if payload in STREAMING_SIGNED:
            framing = "signed"
        elif payload in STREAMING_UNSIGNED or "aws-chunked" in encoding:
            framing = "unsigned"
        authorization = first("authorization") or ""
        # SHA-256 is needed to check a signed payload hash, and when a SigV4
        # request leaves the header out, to build the canonical request.
        sha256 = bool(re.match(r"^[0-9a-fA-F]{64}$", payload)) or (
            authorization.startswith(signing.V4_ALGORITHM) and not payload)
        algorithms = set()
        for name in headers:
            algorithm = checksums.algorithmOfHeader(name)
            if algorithm:
                algorithms.add(algorithm)
        for trailer in ",".join(headers.get("x-amz-trailer", [])).split(","):
            algorithm = checksums.algorithmOfHeader(trailer.strip())
            if algorithm:
                algorithms.add(algorithm)
        sdkAlgorithm = first("x-amz-sdk-checksum-algorithm") or first("x-amz-checksum-algorithm")
        if sdkAlgorithm:
            algorithms.add(sdkAlgorithm.upper())
        algorithms = [a for a in algorithms if a in checksums.ALGORITHMS]
        decoded = first("x-amz-decoded-content-length")
        try:
            decodedLength = int(decoded) if decoded is not None else None
        except ValueError:
            decodedLength = None
        return cls(framing, sha256, sorted(algorithms), decodedLength, length)


class AwsChunkedDecoder:
    """
    Incremental parser of ``Content-Encoding: aws-chunked`` bodies:
    ``hex-size[;chunk-signature=sig]\\r\\n data \\r\\n`` ... a zero-size chunk,
    then optional trailer lines and an empty line.

    ``chunks`` records (signature, SHA-256 of the chunk's data) for the
    signature check that happens once the signing key is known; ``trailers``
    holds the trailing headers (``x-amz-checksum-crc32``...).
    """

    MAX_LINE = 4096
    MAX_TRAILERS = 16

    def __init__(self, signed):
        self.signed = signed
        self.chunks = []
        self.trailers = {}
        self.state = "header"
        self.line = b""
        self.remaining = 0
        self.chunkHash = None
        self.chunkSignature = None
        self.done = False

    def _fail(self, message):
        raise S3Error("InvalidRequest", "Malformed aws-chunked body: " + message)

    def _takeLine(self, data, start):
        """(line or None if incomplete, next index)."""
        end = data.find(b"\n", start)
        if end < 0:
            self.line += data[start:]
            if len(self.line) > self.MAX_LINE:
                self._fail("line too long")
            return None, len(data)
        line = self.line + data[start:end]
        self.line = b""
        if len(line) > self.MAX_LINE:
            self._fail("line too long")
        return line.rstrip(b"\r"), end + 1

    def feed(self, data):
        """Return the payload pieces contained in ``data``."""
        pieces = []
        index = 0
        size = len(data)
        view = memoryview(data)
        while index < size:
            if self.state == "data":
                take = min(self.remaining, size - index)
                piece = view[index:index + take]
                if self.chunkHash is not None:
                    self.chunkHash.update(piece)
                pieces.append(piece)
                index += take
                self.remaining -= take
                if self.remaining == 0:
                    self.state = "crlf"
                    self._endChunk()
            elif self.state == "crlf":
                line, index = self._takeLine(data, index)
                if line is None:
                    break
                if line:
                    self._fail("missing CRLF after chunk data")
                self.state = "header"
            elif self.state == "header":
                line, index = self._takeLine(data, index)
                if line is None:
                    break
                self._startChunk(line)
            elif self.state == "trailer":
                line, index = self._takeLine(data, index)
                if line is None:
                    break
                if not line:
                    self.state = "end"
                    self.done = True
                    continue
                name, sep, value = line.decode("latin-1").partition(":")
                if not sep or len(self.trailers) >= self.MAX_TRAILERS:
                    self._fail("bad trailer")
                self.trailers[name.strip().lower()] = value.strip()
            else:
                if bytes(view[index:]).strip():
                    self._fail("data after the final chunk")
                break
        return pieces

    def _startChunk(self, line):
        match = _CHUNK_HEADER.match(line.strip())
        if not match:
            self._fail("bad chunk header")
        self.remaining = int(match.group(1), 16)
        signature = match.group(2)
        if self.signed and signature is None:
            self._fail("chunk without a signature")
        self.chunkSignature = signature.decode("ascii").lower() if signature else None
        self.chunkHash = hashlib.sha256() if self.signed else None
        if self.remaining == 0:
            self._endChunk()
            self.state = "trailer"
        else:
            self.state = "data"

    def _endChunk(self):
        if self.signed:
            self.chunks.append((self.chunkSignature, self.chunkHash.hexdigest()))
        self.chunkHash = None

    def close(self):
        """Raise unless the final chunk arrived."""
        if self.state == "trailer" and not self.line:
            self.done = True   # some clients end right after the last chunk
        if not self.done:
            raise S3Error("IncompleteBody")


class SpooledBody:
    """
    A fully received body: its decoded bytes (small bodies, ``data``) or a
    fsynced temporary file (``tempPath``), and what was computed over it.
    """

    def __init__(self, size, digests, data=None, tempPath=None, chunks=(),
                 trailers=None, blobs=None, runIo=None):
        self.size = size
        self.md5Hex = digests.md5Hex()
        self.sha256Hex = digests.sha256Hex()
        self.checksums = digests.checksumsBase64()
        self.data = data
        self.tempPath = tempPath
        self.chunks = list(chunks)
        self.trailers = dict(trailers or {})
        self.blobs = blobs
        self.runIo = runIo

    def read(self, limit):
        """
        Deferred of the body's bytes, if it has at most ``limit`` of them;
        MaxMessageLengthExceeded otherwise (for XML request bodies).
        """
        if self.size > limit:
            return defer.fail(S3Error("MaxMessageLengthExceeded"))
        if self.data is not None:
            return defer.succeed(self.data)

        def readFile(path):
            with open(path, "rb") as f:
                return f.read(limit + 1)
        return self.runIo(readFile, self.tempPath)

    def discard(self):
        """Remove the temporary file, if any is left (not installed)."""
        if self.tempPath is not None and self.blobs is not None:
            path, self.tempPath = self.tempPath, None
            return self.runIo(self.blobs.discardTemp, path)
        return defer.succeed(None)


class BodyWriter:
    """
    The synchronous part: decode, hash, write.  One per body; its methods run
    in one thread at a time (the I/O pool, or inline for small bodies).
    """

    def __init__(self, plan, blobs=None):
        self.plan = plan
        self.blobs = blobs
        self.decoder = AwsChunkedDecoder(plan.framing == "signed") if plan.framing else None
        self.digests = checksums.BodyDigests(plan.sha256, plan.algorithms)
        self.handle = None
        self.tempPath = None
        self.memory = []
        self.fileWriter = None
        self.hashHelper = None
        self.writing = None
        self.written = 0
        self.writebackFrom = 0

    def toFile(self):
        """Switch to writing a temporary file (must be called before data)."""
        self.handle, self.tempPath = self.blobs.createTemp()
        # Hashing and writing both release the GIL: a second thread writes
        # while this one hashes, which nearly halves the time a large upload
        # spends in Walrus on two cores.  A third hashes what is not MD5,
        # when anything is (see BodyDigests.updateMany).
        self.fileWriter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="walrus-write")
        if self.digests.beyondMd5():
            self.hashHelper = ThreadPoolExecutor(max_workers=1,
                                                 thread_name_prefix="walrus-hash")

    def _write(self, pieces):
        fd = self.handle.fileno()
        writeAll(fd, pieces)
        self.written += sum(len(piece) for piece in pieces)
        if self.written - self.writebackFrom >= WRITEBACK_STEP:
            startWriteback(fd, self.writebackFrom, self.written - self.writebackFrom)
            self.writebackFrom = self.written

    def process(self, pieces):
        """
        Decode, hash and write one batch.  On file, the batch's write is
        left running while the next batch is hashed: only the write before
        it is waited for here, so a write slowed by the disk (or a hash
        slowed by the CPU) does not stall the other stage.  At most two
        batches are held, the one being hashed and the one being written.
        """
        decoded = []
        for data in pieces:
            if self.decoder is not None:
                decoded.extend(self.decoder.feed(data))
            else:
                decoded.append(data)
        if self.handle is not None:
            previous, self.writing = self.writing, self.fileWriter.submit(self._write, decoded)
            try:
                self.digests.updateMany(decoded, self.hashHelper)
            finally:
                if previous is not None:
                    previous.result()
        else:
            for piece in decoded:
                self.digests.update(piece)
                self.memory.append(bytes(piece))
        if self.digests.size > MAX_OBJECT_SIZE:
            raise S3Error("EntityTooLarge")

    def _stopWriter(self, check=True):
        """Wait for the last write; raise what it raised if ``check``."""
        if self.hashHelper is not None:
            self.hashHelper.shutdown(wait=True)
            self.hashHelper = None
        if self.fileWriter is not None:
            writing, self.writing = self.writing, None
            self.fileWriter.shutdown(wait=True)
            self.fileWriter = None
            if writing is not None and check:
                writing.result()

    def close(self, blobsForResult=None, runIo=None):
        """Finish: check framing and length, fsync; a SpooledBody."""
        try:
            if self.decoder is not None:
                self.decoder.close()
                if (self.plan.decodedLength is not None
                        and self.plan.decodedLength != self.digests.size):
                    raise S3Error("IncompleteBody")
            self._stopWriter()
            if self.handle is not None:
                self.blobs.finishTemp(self.handle)
                self.handle = None
        except BaseException:
            self.abort()
            raise
        return SpooledBody(
            self.digests.size, self.digests,
            data=None if self.tempPath else b"".join(self.memory),
            tempPath=self.tempPath,
            chunks=self.decoder.chunks if self.decoder else (),
            trailers=self.decoder.trailers if self.decoder else None,
            blobs=blobsForResult or self.blobs, runIo=runIo)

    def abort(self):
        self._stopWriter(check=False)
        if self.handle is not None:
            try:
                self.handle.close()
            except OSError:
                pass
            self.handle = None
        if self.tempPath is not None and self.blobs is not None:
            self.blobs.discardTemp(self.tempPath)
            self.tempPath = None


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
            d = self.runIo(self.writer.process, batch)
            d.addCallbacks(self._batchDone, self._batchFailed, callbackArgs=(size,))
        elif self.finishing:
            self.busy = True
            d = self.runIo(self.writer.close, self.blobs, self.runIo)
            d.addCallbacks(self._closed, self._batchFailed)

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
        """Drop the temporary file once no batch is using the writer."""
        if self.onFile and not self.busy and not self.aborted:
            self.aborted = True
            self.runIo(self.writer.abort)

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


def _emptyDigests(plan):
    """Finished BodyDigests of no bytes for ``plan``'s digests (kept, never updated)."""
    kind = (plan.sha256, plan.algorithms)
    digests = _EMPTY_DIGESTS.get(kind)
    if digests is None:
        digests = _EMPTY_DIGESTS[kind] = checksums.BodyDigests(plan.sha256, plan.algorithms)
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
