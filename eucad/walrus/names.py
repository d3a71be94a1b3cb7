"""What a bucket name and an object key may be.

Bucket names follow S3's current rules for new buckets (the legacy
us-east-1 names with capitals and underscores are no longer made by S3):
3 to 63 lower-case letters, digits, ``.`` and ``-``, starting and ending
with a letter or digit, no ``..``, ``.-`` or ``-.``, not shaped like an IP
address, and none of the prefixes and suffixes S3 reserves.  Keys
are any UTF-8 text up to 1024 bytes; they are only ever database values, never
file names, so ``/``, ``..`` and ``%`` are ordinary characters.  Characters
that XML 1.0 cannot carry are refused, since every listing must be able to
name the key.
"""

import re

from eucad.walrus.errors import S3Error

MAX_KEY_BYTES = 1024

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_IP_SHAPED = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def checkBucketName(name):
    """Raise InvalidBucketName unless ``name`` is a bucket name."""
    if (not _BUCKET.match(name) or _IP_SHAPED.match(name)
            or any(pair in name for pair in ("..", ".-", "-."))
            or name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES)):
        raise S3Error("InvalidBucketName", BucketName=name)
    return name


def checkKey(key):
    """Raise unless ``key`` (str) is a storable object key."""
    if not key:
        raise S3Error("InvalidArgument", "An object key must not be empty.")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", Key=key[:64])
    if _XML_INVALID.search(key):
        raise S3Error("InvalidObjectName", Key=key.encode("unicode_escape").decode()[:64])
    return key
