"""The S3 service level: the root resource, the request pipeline, ListBuckets.

``WalrusResource`` is a leaf: it reads the raw request target itself (keys
may hold ``/``, ``..`` and ``%2F``, which twisted.web's path traversal would
mangle), so it serves the same tree at ``/`` and under ``/services/Walrus``
wherever it is mounted.  Every request goes through ``Walrus.handle``:
addressing, the spooled body, authentication, body checks, then the bucket
or object level (``eucad.walrus.bucket``, ``eucad.walrus.objects``), and
every S3Error becomes S3's XML error here and nowhere else.
"""

import itertools
import secrets
import time

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from eucad.walrus import bucket as bucketLevel
from eucad.walrus import names, objects, s3xml
from eucad.walrus.addressing import Router, S3Request
from eucad.walrus.body import SPOOLS, makeSpool, spoolFromContent
from eucad.walrus.bodyplan import BodyPlan
from eucad.walrus import wire
from eucad.walrus.call import S3Call
from eucad.walrus.errors import S3Error, errorDocument
from eucad.walrus.responses import Response, isoDate, xmlResponse

_log = Logger()


class RequestIds:
    """
    S3's x-amz-request-id: 16 hex digits, unique.  A random half chosen at
    start and a counter: an id per request from os.urandom was a system call
    (and a chance to lose the GIL) on every request.
    """

    def __init__(self):
        self.prefix = secrets.randbits(32)
        self.counter = itertools.count()

    def next(self):
        return "%08X%08X" % (self.prefix, next(self.counter) & 0xFFFFFFFF)


class Walrus:
    """
    The collaborators of the S3 front door: the store, the authenticator,
    the users, the addressing router, the blob directory and the I/O runner.
    """

    def __init__(self, store, users, authenticator, router=None, location="",
                 clock=time.time):
        self.store = store
        self.users = users
        self.blobs = store.blobs
        self.runIo = store.runIo
        self.authenticator = authenticator
        self.router = router or Router()
        self.location = location
        self.clock = clock
        self.requestIds = RequestIds()

    def spoolFactory(self, requestHeaders, length, producer):
        """``request.content`` for a WalrusRequest (see eucad.walrus.body)."""
        from eucad.walrus.addressing import headerMap
        plan = BodyPlan.fromHeaders(headerMap(requestHeaders), length)
        return makeSpool(plan, self.blobs, self.runIo, producer, length)

    async def _hostBucket(self, request):
        host = request.getHeader(b"host") or b""
        bucket, certain = self.router.hostBucket(host.decode("latin-1"))
        if bucket is None or certain or request.path.startswith(b"/services/Walrus"):
            return bucket if certain else None
        # A CNAME-style Host names a bucket only if that bucket exists.
        if await self.store.bucketExists(bucket):
            return bucket
        return None

    async def _spool(self, request, s3):
        content = request.content
        if isinstance(content, SPOOLS):
            return await content.finish()
        plan = BodyPlan.fromHeaders(s3.headers, None)
        return await spoolFromContent(content, plan, self.blobs, self.runIo)

    async def handle(self, request):
        """Answer one request (always finishes it)."""
        requestId = self.requestIds.next()
        disconnected = []
        request.notifyFinish().addErrback(lambda f: disconnected.append(f))
        s3 = None
        body = None
        try:
            hostBucket = await self._hostBucket(request)
            s3 = S3Request(request.method, request.uri, request.requestHeaders, hostBucket)
            body = await self._spool(request, s3)
            authentication = await self.authenticator.authenticate(s3, body.sha256Hex)
            authentication.checkBody(body)
            call = S3Call(self, request, s3, authentication, body)
            call.verifyBody()
            response = await route(call)
        except S3Error as error:
            response = self.errorResponse(error, s3, requestId)
        except Exception:
            _log.failure("Walrus request {method} {uri} failed",
                         method=request.method, uri=request.uri)
            response = self.errorResponse(S3Error("InternalError"), s3, requestId)
        finally:
            if body is not None and not isinstance(request.content, SPOOLS):
                body.discard()
        if disconnected:
            return
        await self.write(request, response, requestId)

    def errorResponse(self, error, s3, requestId):
        resource = s3.resourceName() if s3 is not None else ""
        if s3 is not None and s3.bucket and "BucketName" not in error.extra and \
                error.code in ("NoSuchBucket", "BucketNotEmpty", "BucketAlreadyExists",
                               "BucketAlreadyOwnedByYou", "InvalidBucketName"):
            error.extra["BucketName"] = s3.bucket
        headers = {"Content-Type": "application/xml"}
        if error.code == "InvalidRange" and "ActualObjectSize" in error.extra:
            headers["Content-Range"] = "bytes */%s" % (error.extra["ActualObjectSize"],)
        return Response(error.status, headers, errorDocument(error, resource, requestId))

    async def write(self, request, response, requestId):
        request.setResponseCode(response.status)
        request.defaultContentType = None
        request.setHeader(b"x-amz-request-id", requestId.encode())
        request.setHeader(b"x-amz-id-2", requestId.encode())
        request.setHeader(b"Server", b"Walrus")
        for name, value in response.headers.items():
            request.setHeader(name.encode("latin-1"), _headerBytes(value))
        if response.producer is not None:
            try:
                await response.producer(request)
            except defer.CancelledError:
                return
            except Exception:
                _log.failure("Streaming a response failed")
                request.loseConnection()
                return
        else:
            if "Content-Length" not in response.headers:
                request.setHeader(b"Content-Length", str(len(response.body)).encode())
            if response.body:
                request.write(response.body)
        if not request.finished and getattr(request, "channel", None) is not None:
            request.finish()


def _headerBytes(value):
    text = str(value)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


async def route(call):
    """Send a call to the service, bucket or object level."""
    s3 = call.s3
    if not s3.bucket:
        if s3.method in ("GET", "HEAD"):
            return await listBuckets(call)
        raise S3Error("MethodNotAllowed", Method=s3.method, ResourceType="SERVICE")
    if s3.key is None:
        return await bucketLevel.dispatch(call)
    names.checkKey(s3.key)
    return await objects.dispatch(call)


async def listBuckets(call):
    """GET Service: the caller's buckets (every bucket for an admin)."""
    user = call.requireUser()
    buckets = await call.store.listBuckets(None if user.isAdmin else user.name)
    root = s3xml.document("ListAllMyBucketsResult")
    owner = s3xml.add(root, "Owner")
    s3xml.add(owner, "ID", user.name)
    s3xml.add(owner, "DisplayName", user.name)
    container = s3xml.add(root, "Buckets")
    for bucket in buckets:
        element = s3xml.add(container, "Bucket")
        s3xml.add(element, "Name", bucket.name)
        s3xml.add(element, "CreationDate", isoDate(bucket.created))
    return xmlResponse(root)


class WalrusResource(Resource):
    """The twisted.web face of a Walrus: every request goes to ``handle``."""

    isLeaf = True

    def __init__(self, walrus):
        Resource.__init__(self)
        self.walrus = walrus

    def getChild(self, path, request):
        return self

    def render(self, request):
        defer.ensureDeferred(self.walrus.handle(request)).addErrback(
            lambda f: _log.failure("Unhandled Walrus error", f))
        return NOT_DONE_YET


def makeSite(walrus, accessLog=False):
    """
    A Site serving ``walrus`` whose requests spool bodies as they arrive,
    logging a line per request if ``accessLog``.
    """
    return wire.makeSite(WalrusResource(walrus), walrus.spoolFactory, accessLog)
