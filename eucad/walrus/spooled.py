"""A request body once fully received: in memory or a fsynced temporary file.

Handlers read small XML bodies from it (``read``), the store installs its
temporary file as a blob, and whoever is left holding it discards the file.
"""

from twisted.internet import defer

from eucad.walrus.errors import S3Error


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
