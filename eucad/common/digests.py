"""Image digests as run specs carry them: ``"<algorithm>:<hex>"`` or bare hex.

The link records (``eucad.common.records``) refuse a digest in no known form
when an image reference is made; the node's image cache checks the fetched
bytes against it.  Both read it with ``parseDigest``.
"""

import hashlib
import re

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_ALGORITHM_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_ALGORITHMS = frozenset(_ALGORITHM_BY_LENGTH.values())


def parseDigest(digest):
    """
    ``(algorithm, lowercase hex)`` of a digest string, or (None, None) for
    no digest.

    @raise ValueError: for a digest in no form described above.
    """
    if digest is None or digest == "":
        return None, None
    if not isinstance(digest, str):
        raise ValueError("digest must be a string")
    algorithm, _, value = digest.rpartition(":")
    algorithm = algorithm.lower() or None
    if not _HEX.match(value):
        raise ValueError("digest %r is not hex" % (digest,))
    if algorithm is None:
        algorithm = _ALGORITHM_BY_LENGTH.get(len(value))
        if algorithm is None:
            raise ValueError("cannot tell the algorithm of digest %r" % (digest,))
    if algorithm not in _ALGORITHMS:
        raise ValueError("unsupported digest algorithm %r" % (algorithm,))
    if len(value) != hashlib.new(algorithm).digest_size * 2:
        raise ValueError("digest %r has the wrong length for %s" % (digest, algorithm))
    return algorithm, value.lower()
