"""The digests S3 computes over a body: MD5 for the ETag, the flexible checksums.

Clients send ``Content-MD5`` and, since 2025, ``x-amz-checksum-<algorithm>``
(boto3 sends CRC32 on every PUT); Walrus verifies whichever came and stores
it so that ``x-amz-checksum-mode: ENABLED`` gets it back.  ``BodyDigests``
updates all the wanted digests in one pass over each chunk, in whatever
thread the body is being written from.
"""

import base64
import binascii
import hashlib
import zlib

from eucad.walrus.errors import S3Error

try:
    import crc32c as _crc32c
except ImportError:  # pragma: no cover - listed as a dependency
    _crc32c = None


class _Crc:
    """A hashlib-like wrapper around a CRC function ``f(data, value)``."""

    def __init__(self, function):
        self.function = function
        self.value = 0

    def update(self, data):
        self.value = self.function(data, self.value)

    def digest(self):
        return self.value.to_bytes(4, "big")


def _newCrc32():
    return _Crc(zlib.crc32)


def _newCrc32c():
    if _crc32c is None:
        raise S3Error("NotImplemented", "CRC32C is not available on this server.")
    return _Crc(lambda data, value: _crc32c.crc32c(data, value))


#: S3 algorithm name -> factory of an object with update()/digest().
ALGORITHMS = {
    "CRC32": _newCrc32,
    "CRC32C": _newCrc32c,
    "SHA1": hashlib.sha1,
    "SHA256": hashlib.sha256,
}


def headerName(algorithm):
    """``x-amz-checksum-crc32`` for ``CRC32``."""
    return "x-amz-checksum-" + algorithm.lower()


def responseHeaders(sums):
    """``{"CRC32": v}`` -> ``{"x-amz-checksum-crc32": v}``."""
    return {headerName(algorithm): value for algorithm, value in sums.items()}


#: What every checksum header's (lower-case) name starts with.
HEADER_PREFIX = "x-amz-checksum-"


def algorithmOfHeader(name):
    """``CRC32`` for ``x-amz-checksum-crc32``; None for any other header."""
    name = name.lower()
    if not name.startswith(HEADER_PREFIX) or name == "x-amz-checksum-mode" \
            or name == "x-amz-checksum-algorithm" or name == "x-amz-checksum-type":
        return None
    return name[len("x-amz-checksum-"):].upper()


def checkAlgorithm(algorithm):
    """Raise unless Walrus can compute ``algorithm``."""
    if algorithm not in ALGORITHMS:
        raise S3Error("InvalidRequest" if algorithm != "CRC64NVME" else "NotImplemented",
                      "Checksum algorithm %s is not supported." % (algorithm,))
    return algorithm


def decodeBase64Digest(text, size=None):
    """The bytes of a base64 digest header; InvalidDigest if it is not one."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise S3Error("InvalidDigest")
    if size is not None and len(raw) != size:
        raise S3Error("InvalidDigest")
    return raw


class BodyDigests:
    """
    MD5 always (the ETag), SHA-256 when the signature covers the payload, and
    any flexible checksum algorithms asked for.

    The work splits in two lanes, ``updateMd5`` and ``updateOthers``, that
    the body spool runs as two jobs in the I/O thread pool: hashlib and zlib
    release the GIL while they hash a large buffer, so on two cores a
    boto3-style upload (MD5, SHA-256 and CRC32 all wanted) is hashed in
    MD5's time instead of the sum of the three.
    """

    def __init__(self, sha256=False, algorithms=()):
        self.md5 = hashlib.md5()
        self.sha256 = hashlib.sha256() if sha256 else None
        self.checksums = {name: ALGORITHMS[checkAlgorithm(name)]()
                          for name in algorithms}
        self.size = 0

    def update(self, data):
        self.size += len(data)
        self.md5.update(data)
        if self.sha256 is not None:
            self.sha256.update(data)
        for digest in self.checksums.values():
            digest.update(data)

    def beyondMd5(self):
        """The digests being computed other than MD5."""
        others = list(self.checksums.values())
        if self.sha256 is not None:
            others.insert(0, self.sha256)
        return others

    def updateMd5(self, pieces):
        """MD5 and the size over ``pieces`` (one lane of a parallel update)."""
        for piece in pieces:
            self.md5.update(piece)
            self.size += len(piece)

    def updateOthers(self, pieces):
        """Every digest but MD5 over ``pieces`` (the other lane)."""
        others = self.beyondMd5()
        for piece in pieces:
            for digest in others:
                digest.update(piece)

    def md5Hex(self):
        return self.md5.hexdigest()

    def sha256Hex(self):
        return self.sha256.hexdigest() if self.sha256 is not None else None

    def checksumsBase64(self):
        """``{"CRC32": "base64"}`` for every flexible checksum computed."""
        return {name: base64.b64encode(digest.digest()).decode("ascii")
                for name, digest in self.checksums.items()}


def compositeChecksum(algorithm, partChecksums):
    """
    A multipart object's checksum: the digest of the parts' raw digests,
    followed by ``-N`` (S3's COMPOSITE checksum type).
    """
    digest = ALGORITHMS[checkAlgorithm(algorithm)]()
    for text in partChecksums:
        digest.update(base64.b64decode(text))
    return "%s-%d" % (base64.b64encode(digest.digest()).decode("ascii"),
                      len(partChecksums))


#: The reflected polynomials of the CRCs whose values combine across parts.
CRC_POLYNOMIALS = {"CRC32": 0xEDB88320, "CRC32C": 0x82F63B78}


def _gf2Times(matrix, vector):
    total = 0
    index = 0
    while vector:
        if vector & 1:
            total ^= matrix[index]
        vector >>= 1
        index += 1
    return total


def _gf2Square(matrix):
    return [_gf2Times(matrix, row) for row in matrix]


def crcCombine(first, second, secondLength, polynomial):
    """
    The CRC of A+B from the CRC of A, the CRC of B and B's length (the
    zero-padding operator applied in GF(2), as zlib's crc32_combine does),
    so a whole object's CRC comes from its parts' without reading them.
    """
    if secondLength <= 0:
        return first
    odd = [polynomial] + [1 << n for n in range(31)]
    even = _gf2Square(odd)
    odd = _gf2Square(even)
    length = secondLength
    while True:
        even = _gf2Square(odd)
        if length & 1:
            first = _gf2Times(even, first)
        length >>= 1
        if not length:
            break
        odd = _gf2Square(even)
        if length & 1:
            first = _gf2Times(odd, first)
        length >>= 1
        if not length:
            break
    return first ^ second


def fullObjectChecksum(algorithm, parts):
    """
    S3's FULL_OBJECT checksum of a multipart object from its parts'
    (base64 CRC, size) in order; only CRCs combine this way.
    """
    polynomial = CRC_POLYNOMIALS.get(algorithm)
    if polynomial is None:
        raise S3Error("InvalidRequest", "The FULL_OBJECT checksum type is not supported "
                      "for %s." % (algorithm,))
    value = 0
    for text, size in parts:
        crc = int.from_bytes(base64.b64decode(text), "big")
        value = crcCombine(value, crc, size, polynomial)
    return base64.b64encode(value.to_bytes(4, "big")).decode("ascii")


def multipartEtag(partMd5Hexes):
    """MD5 of the concatenated binary part MD5s, then ``-N``."""
    joined = b"".join(bytes.fromhex(h) for h in partMd5Hexes)
    return "%s-%d" % (hashlib.md5(joined).hexdigest(), len(partMd5Hexes))
