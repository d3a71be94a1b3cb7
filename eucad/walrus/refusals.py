"""S3's answers to the requests the HTTP guard refuses before they reach Walrus.

``eucad.common.httpguard`` refuses an oversized URL and headers that never
finish before Walrus sees the request; this module says how S3 says no
(an ``<Error>`` document with S3's own codes).  Walrus's bodies are its
own business (it streams them to disk), so no body limit is set here.
Used by Walrus's own Site and by the front door's shared one.
"""

import uuid

from eucad.common.httpguard import RequestLimits
from eucad.walrus.errors import S3Error, errorDocument

#: The S3 error code for each refusal, and the status when S3's differs.
S3_CODES = {
    "uriTooLong": ("InvalidURI", 414),
    "headersTooLarge": ("RequestHeaderSectionTooLarge", 400),
    "bodyTooLarge": ("MaxMessageLengthExceeded", 400),
    "lengthRequired": ("MissingContentLength", 411),
    "headersTimeout": ("RequestTimeout", 400),
}

CONTENT_TYPE = b"application/xml"


def s3Answer(method, target, headers, refusal):
    """``(status, content type, body)`` of S3's error for ``refusal``."""
    code, status = S3_CODES[refusal.name]
    error = S3Error(code, refusal.message, status)
    resource = target.partition(b"?")[0][:1024].decode("latin-1")
    return status, CONTENT_TYPE, errorDocument(error, resource, str(uuid.uuid4()))


def s3Limits(clock=None):
    """The limits of a Site that serves S3 alone."""
    return RequestLimits(answer=s3Answer, clock=clock)
