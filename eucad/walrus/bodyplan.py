"""What to do with a request body, decided from its headers alone.

The spool (eucad.walrus.body) asks a ``BodyPlan`` whether the body is
aws-chunked (and signed per chunk) and which digests to compute while it
arrives, before the first byte does.
"""

import re

from eucad.common import signing
from eucad.walrus import checksums

STREAMING_SIGNED = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
STREAMING_UNSIGNED = ("STREAMING-UNSIGNED-PAYLOAD-TRAILER",)
SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


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
        def first(name):
            values = headers.get(name)
            return values[0] if values else None
        payload = first("x-amz-content-sha256") or ""
        encoding = (first("content-encoding") or "").lower()
        framing = None
        if payload in STREAMING_SIGNED:
            framing = "signed"
        elif payload in STREAMING_UNSIGNED or "aws-chunked" in encoding:
            framing = "unsigned"
        # SHA-256 is needed to check a signed payload hash, and when a SigV4
        # request leaves the header out, to build the canonical request.
        if payload:
            sha256 = bool(SHA256_HEX.match(payload))
        else:
            sha256 = (first("authorization") or "").startswith(signing.V4_ALGORITHM)
        algorithms = set()
        for name in headers:
            if name.startswith(checksums.HEADER_PREFIX):
                algorithm = checksums.algorithmOfHeader(name)
                if algorithm:
                    algorithms.add(algorithm)
        trailers = headers.get("x-amz-trailer")
        if trailers:
            for trailer in ",".join(trailers).split(","):
                algorithm = checksums.algorithmOfHeader(trailer.strip())
                if algorithm:
                    algorithms.add(algorithm)
        sdkAlgorithm = first("x-amz-sdk-checksum-algorithm") or first("x-amz-checksum-algorithm")
        if sdkAlgorithm:
            algorithms.add(sdkAlgorithm.upper())
        if algorithms:
            algorithms = [a for a in algorithms if a in checksums.ALGORITHMS]
        decoded = first("x-amz-decoded-content-length")
        try:
            decodedLength = int(decoded) if decoded is not None else None
        except ValueError:
            decodedLength = None
        return cls(framing, sha256, sorted(algorithms), decodedLength, length)
