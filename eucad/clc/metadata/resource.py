"""The metadata service's HTTP side: EC2's paths over one instance's record.

``MetadataResource`` answers GET (and HEAD) for::

    /                               the versions, then ``latest``
    /VERSION/                       ``meta-data`` (and ``user-data`` if any)
    /VERSION/meta-data/...          listings and values (``categories``)
    /VERSION/user-data              the user data as given, else 404

The requester is found by its address alone (``lookup.instanceAt`` in the
database's thread pool); any request from an address that is not a pending
or running instance's is answered 404, whatever its path, so that nothing
tells a stranger which paths exist.  Headers are never trusted to name the
requester.
"""

import base64
import binascii

from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from eucad.clc.metadata import categories, lookup

log = Logger()

TEXT = b"text/plain; charset=utf-8"
BINARY = b"application/octet-stream"


class NotFound(Exception):
    """The path names nothing for this requester."""


def userDataBytes(record):
    """The instance's user data as the user gave it, or None."""
    stored = record["userData"]
    if not stored:
        return None
    # RunInstances keeps UserData base64-encoded, as it arrived.
    try:
        return base64.b64decode(stored, validate=True)
    except (binascii.Error, ValueError):
        return None


def answerFor(record, names):
    """
    ``(content type, body)`` for the path ``names`` asked by the instance
    ``record`` describes; raises L{NotFound}.
    """
    if not names:
        return TEXT, "\n".join(categories.VERSIONS + (categories.LATEST,)).encode()
    version, rest = names[0], names[1:]
    if not categories.isKnownVersion(version):
        raise NotFound()
    userData = userDataBytes(record)
    if not rest:
        listing = ["meta-data"] + (["user-data"] if userData is not None else [])
        return TEXT, "\n".join(listing).encode()
    if rest == ["user-data"]:
        if userData is None:
            raise NotFound()
        return BINARY, userData
    if rest[0] != "meta-data":
        raise NotFound()
    node = categories.find(categories.metadataTree(record, version), rest[1:])
    if node is None:
        raise NotFound()
    if isinstance(node, categories.Directory):
        return TEXT, node.listing().encode()
    return TEXT, node.encode()


def requestNames(request):
    """The path's non-empty segments as text (``/a//b/`` is ``a``, ``b``)."""
    try:
        return [segment.decode("utf-8") for segment in request.postpath if segment]
    except UnicodeDecodeError:
        raise NotFound()


class MetadataResource(Resource):
    """
    The whole metadata tree, for every instance, by requester address.

    @param db: a ``eucad.common.db.Database`` (anything with ``run``).
    """

    isLeaf = True

    def __init__(self, db):
        Resource.__init__(self)
        self.db = db

    def render_GET(self, request):
        address = getattr(request.getClientAddress(), "host", None)
        gone = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        d = self.db.run(lookup.instanceAt, address)
        d.addCallback(self._answer, request)
        d.addErrback(self._failed, request, address)
        d.addCallback(self._write, request, gone)
        return NOT_DONE_YET

    def _answer(self, record, request):
        if record is None:
            raise NotFound()
        return (200,) + answerFor(record, requestNames(request))

    def _failed(self, failure, request, address):
        if failure.check(NotFound):
            return 404, TEXT, b"Not Found"
        log.failure("metadata request from {address} failed", failure, address=address)
        return 500, TEXT, b"Internal Server Error"

    def _write(self, answer, request, gone):
        if gone:
            return
        code, contentType, body = answer
        request.setResponseCode(code)
        request.setHeader(b"content-type", contentType)
        request.setHeader(b"content-length", b"%d" % (len(body),))
        request.write(body)
        request.finish()
