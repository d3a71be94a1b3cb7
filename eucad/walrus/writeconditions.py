"""Conditional writes: If-None-Match: * and If-Match on PUT, CompleteMultipartUpload and DELETE.

``writeCondition(headers)`` turns the request's headers into a
``condition(current)`` the store runs inside the transaction that writes
(or deletes) the key, on the row the key holds at that moment, so two
writers racing with ``If-None-Match: *`` cannot both win.  As in S3:
``If-None-Match`` takes only ``*`` (412 when the key exists), ``If-Match``
an ETag list (412 when it differs, 404 NoSuchKey when there is no object).
"""

from eucad.walrus.errors import S3Error
from eucad.walrus.responses import unquoteEtag


def writeCondition(headers, key):
    """A condition(current row or None) for ``headers``, or None without one."""
    ifNoneMatch = (headers.get("if-none-match") or [None])[0]
    ifMatch = (headers.get("if-match") or [None])[0]
    if ifNoneMatch is None and ifMatch is None:
        return None
    if ifNoneMatch is not None and ifNoneMatch.strip() != "*":
        raise S3Error("NotImplemented", "If-None-Match on a write takes only *.")
    wanted = [unquoteEtag(tag) for tag in ifMatch.split(",")] if ifMatch is not None else None

    def condition(current):
        if ifNoneMatch is not None and current is not None:
            raise S3Error("PreconditionFailed", Condition="If-None-Match")
        if wanted is not None:
            if current is None:
                raise S3Error("NoSuchKey", Key=key)
            if "*" not in wanted and current.etag not in wanted:
                raise S3Error("PreconditionFailed", Condition="If-Match")
    return condition
