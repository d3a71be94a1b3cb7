"""What an S3 handler returns, and the formats S3 answers in.

Handlers return a ``Response``: a status, headers, and either bytes or a
``producer`` (a callable that streams the body to the request and returns a
Deferred firing when done).  ``eucad.walrus.service`` writes it out, so no
handler touches the twisted Request's response side.
"""

import functools
import time
from email.utils import formatdate

from eucad.walrus import s3xml


class Response:
    def __init__(self, status=200, headers=None, body=b"", producer=None):
        self.status = status
        self.headers = dict(headers or {})
        self.body = body
        self.producer = producer


def xmlResponse(root, status=200, headers=None):
    body = s3xml.serialize(root) if not isinstance(root, bytes) else root
    merged = {"Content-Type": "application/xml"}
    merged.update(headers or {})
    return Response(status, merged, body)


def emptyResponse(status=200, headers=None):
    return Response(status, headers, b"")


def httpDate(epoch):
    """``Wed, 12 Oct 2009 17:50:00 GMT`` (Last-Modified, Date)."""
    return _httpDateOfSecond(int(epoch))


@functools.lru_cache(maxsize=1024)
def _httpDateOfSecond(second):
    # An HTTP date has whole seconds; objects written in the same second
    # (and every GET of one object) share the text.
    return formatdate(second, usegmt=True)


def isoDate(epoch):
    """``2009-10-12T17:50:30.000Z`` (listings)."""
    second = int(epoch)
    head = _isoSeconds.get(second)
    if head is None:
        if len(_isoSeconds) >= _ISO_SECONDS_KEPT:
            _isoSeconds.clear()
        head = _isoSeconds[second] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    millis = round((epoch - second) * 1000)
    return head + _MILLIS[millis if millis < 1000 else 0]


# A listing renders a thousand dates a page, and they were a fifth of a
# LIST's CPU: the keys of a page were mostly written in a few seconds, so
# each second's text is kept (a plain dict: an lru_cache call cost more than
# the lookup), and the milliseconds' texts are made once.  A fraction that
# rounds up to 1000 ms shows .000 in the same second, as it always did.
_ISO_SECONDS_KEPT = 4096
_isoSeconds = {}
_MILLIS = tuple(".%03dZ" % millis for millis in range(1000))


def quoteEtag(etag):
    return '"%s"' % (etag,)


def unquoteEtag(text):
    text = text.strip()
    if text.startswith("W/"):
        text = text[2:]
    return text.strip('"')
