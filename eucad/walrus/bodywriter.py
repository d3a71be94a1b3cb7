"""The blocking work on one request body: decode, hash, write, fsync.

A ``BodyWriter`` holds one body's decoder, digests and temporary file.  Its
stages (``decode``, ``hashMd5``, ``hashOthers``, ``write``) are separate so
that the spool (eucad.walrus.body) can run them as parallel jobs in the I/O
thread pool; ``process`` runs all of them in order in the calling thread,
for small bodies and for bodies copied from twisted.web's own content file.
"""

from eucad.walrus import checksums
from eucad.walrus.awschunked import AwsChunkedDecoder
from eucad.walrus.blobs import startWriteback, writeAll
from eucad.walrus.errors import S3Error
from eucad.walrus.spooled import SpooledBody

#: S3's largest single PUT.
MAX_OBJECT_SIZE = 5 * 1024 ** 3
#: Start writing a large body to disk every time this much more has arrived.
WRITEBACK_STEP = 8 * 1024 * 1024


class BodyWriter:
    """
    Decode, hash and write one body.  Each stage runs in one thread at a
    time; ``hashMd5``, ``hashOthers`` and ``write`` of the same batch may
    run at once (they only read the decoded pieces).
    """

    def __init__(self, plan, blobs=None):
        self.plan = plan
        self.blobs = blobs
        self.decoder = AwsChunkedDecoder(plan.framing == "signed") if plan.framing else None
        self.digests = checksums.BodyDigests(plan.sha256, plan.algorithms)
        self.handle = None
        self.tempPath = None
        self.memory = []
        self.written = 0
        self.writebackFrom = 0

    def toFile(self):
        """Switch to writing a temporary file (must be called before data)."""
        self.handle, self.tempPath = self.blobs.createTemp()

    def hasOthers(self):
        """Whether any digest besides MD5 is wanted (a second hashing lane)."""
        return bool(self.digests.beyondMd5())

    # -- the stages -----------------------------------------------------------
    def decode(self, pieces):
        """The payload pieces of raw ``pieces`` (aws-chunked framing removed)."""
        if self.decoder is None:
            return list(pieces)
        decoded = []
        for data in pieces:
            decoded.extend(self.decoder.feed(data))
        return decoded

    def hashMd5(self, pieces):
        self.digests.updateMd5(pieces)
        if self.digests.size > MAX_OBJECT_SIZE:
            raise S3Error("EntityTooLarge")

    def hashOthers(self, pieces):
        self.digests.updateOthers(pieces)

    def write(self, pieces):
        """Append ``pieces`` to the temporary file, starting writeback as it grows."""
        fd = self.handle.fileno()
        writeAll(fd, pieces)
        self.written += sum(len(piece) for piece in pieces)
        if self.written - self.writebackFrom >= WRITEBACK_STEP:
            startWriteback(fd, self.writebackFrom, self.written - self.writebackFrom)
            self.writebackFrom = self.written

    def process(self, pieces):
        """Every stage for one batch, in order, in this thread."""
        decoded = self.decode(pieces)
        self.hashMd5(decoded)
        self.hashOthers(decoded)
        if self.handle is not None:
            self.write(decoded)
        else:
            self.memory.extend(bytes(piece) for piece in decoded)

    # -- the end --------------------------------------------------------------
    def close(self, blobsForResult=None, runIo=None):
        """Finish: check framing and length, fsync; a SpooledBody."""
        try:
            if self.decoder is not None:
                self.decoder.close()
                if (self.plan.decodedLength is not None
                        and self.plan.decodedLength != self.digests.size):
                    raise S3Error("IncompleteBody")
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
        """Close and remove the temporary file, if any."""
        if self.handle is not None:
            try:
                self.handle.close()
            except OSError:
                pass
            self.handle = None
        if self.tempPath is not None and self.blobs is not None:
            self.blobs.discardTemp(self.tempPath)
            self.tempPath = None
