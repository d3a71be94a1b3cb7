"""Conditional requests and byte ranges, as S3 evaluates them on GET and HEAD.

Also used for CopyObject and UploadPartCopy, whose ``x-amz-copy-source-if-*``
headers mean the same four conditions applied to the source.
"""

from eucad.walrus.auth import httpDateToEpoch
from eucad.walrus.errors import S3Error
from eucad.walrus.responses import unquoteEtag


def _secondsEqualOrBefore(modified, epoch):
    return int(modified) <= int(epoch)


def evaluateConditions(headers, obj, prefix=""):
    """
    RFC 7232 order: If-Match, If-Unmodified-Since, If-None-Match,
    If-Modified-Since.  Returns None, 304 or 412.  ``prefix`` is
    ``x-amz-copy-source-`` for CopyObject's conditions.
    """
    get = lambda name: (headers.get(prefix + name) or [None])[0]
    etag = obj.etag
    ifMatch = get("if-match")
    ifNoneMatch = get("if-none-match")
    ifModified = get("if-modified-since")
    ifUnmodified = get("if-unmodified-since")
    if ifMatch is not None:
        tags = [unquoteEtag(t) for t in ifMatch.split(",")]
        if "*" not in tags and etag not in tags:
            return 412
    elif ifUnmodified is not None:
        try:
            if not _secondsEqualOrBefore(obj.modified, httpDateToEpoch(ifUnmodified)):
                return 412
        except S3Error:
            pass
    if ifNoneMatch is not None:
        tags = [unquoteEtag(t) for t in ifNoneMatch.split(",")]
        if "*" in tags or etag in tags:
            return 304
    elif ifModified is not None:
        try:
            if _secondsEqualOrBefore(obj.modified, httpDateToEpoch(ifModified)):
                return 304
        except S3Error:
            pass
    return None


def parseRange(text, size):
    """
    (start, length) of a ``Range: bytes=...`` header, None to send the whole
    object (absent or unparseable header, as S3 does), InvalidRange if it
    cannot be satisfied.
    """
    if not text:
        return None
    text = text.strip()
    if not text.startswith("bytes=") or "," in text:
        return None
    first, dash, last = text[len("bytes="):].strip().partition("-")
    first, last = first.strip(), last.strip()
    try:
        if not dash or (not first and not last):
            return None
        if not first:
            suffix = int(last)
            if suffix <= 0:
                raise S3Error("InvalidRange", ActualObjectSize=str(size), RangeRequested=text)
            suffix = min(suffix, size)
            if size == 0:
                raise S3Error("InvalidRange", ActualObjectSize=str(size), RangeRequested=text)
            return size - suffix, suffix
        start = int(first)
        end = int(last) if last else None
    except ValueError:
        return None
    if end is not None and end < start:
        return None
    if start >= size:
        raise S3Error("InvalidRange", ActualObjectSize=str(size), RangeRequested=text)
    end = size - 1 if end is None else min(end, size - 1)
    return start, end - start + 1
