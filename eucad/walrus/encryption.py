"""Server-side encryption: not implemented, so refused, never silently ignored.

A PUT with ``x-amz-server-side-encryption`` (SSE-S3, SSE-KMS) or SSE-C
keys, accepted and stored in clear, would make its client believe its data
is encrypted when it is not; a GET with SSE-C keys would return data
nobody encrypted.  Until Walrus encrypts for real, every request (or form
field) that asks for server-side encryption gets S3's NotImplemented.
"""

from eucad.walrus.errors import S3Error

_PREFIXES = ("x-amz-server-side-encryption", "x-amz-copy-source-server-side-encryption")


def refuseEncryption(names):
    """Raise NotImplemented if any of ``names`` (lower-case) asks for SSE."""
    for name in names:
        if name.startswith(_PREFIXES):
            raise S3Error("NotImplemented", "Server-side encryption (%s) is not implemented "
                          "by Walrus; nothing was stored." % (name,))
