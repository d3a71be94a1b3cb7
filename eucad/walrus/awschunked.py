"""Decoding ``Content-Encoding: aws-chunked`` bodies as they arrive.

SigV4 streaming uploads frame the payload in chunks, each optionally signed
over the previous chunk's signature, and may end with trailing headers (the
flexible checksum).  The decoder keeps what the signature check needs
(each chunk's signature and SHA-256) for ``eucad.walrus.auth``.
"""

import hashlib
import re

from eucad.walrus.errors import S3Error

_CHUNK_HEADER = re.compile(rb"^([0-9a-fA-F]{1,16})(?:;chunk-signature=([0-9a-fA-F]{64}))?$")


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
