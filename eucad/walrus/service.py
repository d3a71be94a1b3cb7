"""The S3 service level: the root resource, the request pipeline, ListBuckets.

``WalrusResource`` is a leaf: it reads the raw request target itself (keys
may hold ``/``, ``..`` and ``%2F``, which twisted.web's path traversal would
mangle), so it serves the same tree at ``/`` and under ``/services/Walrus``
wherever it is mounted.  Every request goes through ``Walrus.handle``:
addressing, authentication (from the headers, before the body is stored:
eucad.walrus.admission), the spooled body, body checks, then the bucket or
object level (``eucad.walrus.bucket``, ``eucad.walrus.objects``) or a
browser form upload (``eucad.walrus.postupload``), and every S3Error
becomes S3's XML error here and nowhere else.

On Walrus's own Site, ``openBody`` runs as soon as a request's headers have
arrived (``WalrusRequest.gotLength``): the request is admitted or refused
before a byte of its body is stored, and ``100 Continue`` is sent only to
an admitted one.
"""

import base64
import binascii
import itertools
import secrets
import time

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from eucad.walrus import bucket as bucketLevel
from eucad.walrus import cors, names, objects, policygate, postupload, s3xml
from eucad.walrus.addressing import Router, S3Request, headerMap
from eucad.walrus.admission import ConnectionGuard, HeldBody, admit, rawErrorResponse
from eucad.walrus.auth import Authentication
from eucad.walrus.body import SPOOLS, makeSpool, spoolFromContent
from eucad.walrus.bodyplan import BodyPlan
from eucad.walrus.bucketconfigs import BucketConfigCache
from eucad.walrus import wire
from eucad.walrus.call import S3Call
from eucad.walrus.formupload import (READ_CHUNK, FormSpool, boundaryOf, formFromContent,
                                     isFormUpload)
from eucad.walrus.encryption import refuseEncryption
from eucad.walrus.errors import S3Error, errorDocument
from eucad.walrus.responses import Response, isoDate, xmlResponse

_log = Logger()
#: The request contents Walrus made itself (the others are twisted's).
_WALRUS_CONTENT = SPOOLS + (HeldBody,)


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
        self.guard = ConnectionGuard()
        self.bucketConfigs = BucketConfigCache(store)

    def spoolFactory(self, requestHeaders, length, producer):
        """``request.content`` for a WalrusRequest (see eucad.walrus.body)."""
        plan = BodyPlan.fromHeaders(headerMap(requestHeaders), length)
        return makeSpool(plan, self.blobs, self.runIo, producer, length)

    # -- before the body: admission ---------------------------------------------
    def openBody(self, request, requestLine, length):
        """
        ``request.content`` for a request whose headers have just arrived
        (``requestLine`` is (method, target, version)): a HeldBody that
        stores nothing until the request is admitted, or an EmptySpool when
        no body comes.
        """
        requestHeaders = headerMap(request.requestHeaders)
        plan = BodyPlan.fromHeaders(requestHeaders, length)
        if length == 0 and plan.framing is None:
            # Admitted with the rest of the request, from the same map.
            request.walrusHeaderMap = requestHeaders
            return makeSpool(plan, self.blobs, self.runIo, None, 0)
        headers = Headers(dict(request.requestHeaders.getAllRawHeaders()))
        method, target, version = requestLine
        expectContinue = (request.requestHeaders.getRawHeaders(b"expect") or [b""])[0]
        if expectContinue.lower() == b"100-continue":
            # twisted.web would answer 100 as soon as we return: only an
            # admitted request gets it (below).
            request.requestHeaders.removeHeader(b"expect")
        producer = request.transport
        # Everything that waits on the admission is in place (and the
        # connection paused) before it starts: it may settle at once.
        admission = defer.Deferred()

        def admitted(result):
            if expectContinue.lower() == b"100-continue" and version == b"HTTP/1.1" \
                    and request.transport is not None:
                request.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.guard.trusted(request.channel)
            return result

        def refused(failure):
            error = failure.value if failure.check(S3Error) else S3Error("InternalError")
            if not failure.check(S3Error):
                _log.failure("Admitting a request failed", failure)
            s3 = getattr(failure.value, "walrusRequest", None)
            response = self.errorResponse(error, s3, self.requestIds.next())
            request.walrusRefused = True

            def send(response):
                if request.transport is not None:
                    request.transport.write(rawErrorResponse(
                        version if version.startswith(b"HTTP/") else b"HTTP/1.1", response))
                    request.transport.loseConnection()
                return failure
            # A browser reads a refusal only with the bucket's CORS headers on it.
            return self._refusalWithCors(response, s3).addCallback(send)
        admission.addCallbacks(admitted, refused)

        def makeContent(result):
            s3, _authentication = result
            if isFormUpload(s3):
                return self._formSpool(s3, producer)
            return makeSpool(plan, self.blobs, self.runIo, producer, length)
        held = HeldBody(admission, makeContent, producer, pauseAtOnce=False)
        defer.ensureDeferred(self._admitHeaders(method, target, headers, length, request,
                                                requestHeaders)).chainDeferred(admission)
        held.holdUntilAdmitted()
        return held

    async def _admitHeaders(self, method, target, headers, length, request, mapped=None):
        """
        (S3Request, Authentication or None for a form) of an admitted
        request; ``mapped`` is headerMap(headers) if the caller has it.
        """
        host = (headers.getRawHeaders(b"host") or [b""])[0]
        hostBucket = await self._hostBucket(host, target)
        s3 = _withPeer(S3Request(method, target, headers, hostBucket, mapped), request)
        try:
            if s3.method == "OPTIONS":
                # A CORS preflight is unauthenticated: it never gets to send a body.
                raise S3Error("InvalidRequest", "A CORS preflight request carries no body.")
            if isFormUpload(s3):
                # A form's credentials are fields of its body: FormSpool asks
                # for them before the file.  Here: the bucket must exist.
                boundaryOf(s3.header("content-type", ""))
                await self.store.getBucket(s3.bucket)
                return s3, None
            return s3, await admit(self, s3, length)
        except S3Error as error:
            error.walrusRequest = s3
            raise

    def _formSpool(self, s3, producer):
        """The content of a form upload to ``s3.bucket``."""
        def admitFile(fields, filename):
            return defer.ensureDeferred(postupload.admitForm(self, s3.bucket, fields, filename,
                                                             s3))

        def fileSpool():
            return makeSpool(BodyPlan(), self.blobs, self.runIo, producer, None)
        return FormSpool(boundaryOf(s3.header("content-type", "")), admitFile, fileSpool,
                         producer)

    def busyResponse(self):
        """The bytes that turn away a connection over the unadmitted limit."""
        response = self.errorResponse(S3Error("SlowDown"), None, self.requestIds.next())
        return rawErrorResponse(b"HTTP/1.1", response)

    # -- the request ---------------------------------------------------------------
    async def _hostBucket(self, host, target):
        bucket, certain = self.router.hostBucket(host.decode("latin-1"))
        if bucket is None or certain or target.startswith(b"/services/Walrus"):
            return bucket if certain else None
        # A CNAME-style Host names a bucket only if that bucket exists.
        if await self.bucketConfigs.exists(bucket):
            return bucket
        return None

    async def _spool(self, request, s3):
        content = request.content
        if isinstance(content, SPOOLS):
            return await content.finish()
        plan = BodyPlan.fromHeaders(s3.headers, None)
        return await spoolFromContent(content, plan, self.blobs, self.runIo)

    async def _authenticatedBody(self, request, s3):
        """(Authentication, SpooledBody) of a request not admitted by openBody."""
        payloadHash = s3.header("x-amz-content-sha256")
        if payloadHash is None and (s3.header("authorization") or "").startswith("AWS4-"):
            # Only the body's own hash can complete this signature.
            body = await self._spool(request, s3)
            return await self.authenticator.authenticated(s3, body.sha256Hex), body
        authentication = await self.authenticator.authenticated(s3)
        return authentication, await self._spool(request, s3)

    async def _form(self, request, s3):
        """
        The FormBody of a form upload that did not come through openBody:
        twisted's content file, or a spool that received the raw form (a
        Site shared with another service, which admits nothing).
        """
        spool = self._formSpool(s3, None)
        content = request.content
        try:
            if not isinstance(content, SPOOLS):
                return await formFromContent(content, spool)
            raw = await content.finish()
            if raw.data is not None:
                spool.write(raw.data)
            else:
                offset = 0
                while True:
                    data = await self.runIo(_readAt, raw.tempPath, offset, READ_CHUNK)
                    if not data:
                        break
                    offset += len(data)
                    spool.write(data)
            return await spool.finish()
        except BaseException:
            spool.close()
            raise

    async def handle(self, request):
        """Answer one request (always finishes it)."""
        requestId = self.requestIds.next()
        s3 = None
        body = None
        content = request.content
        try:
            if isinstance(content, HeldBody):
                s3, authentication = await content.whenAdmitted()
                body = await content.finish()
            else:
                host = request.getHeader(b"host") or b""
                hostBucket = await self._hostBucket(host, request.path)
                s3 = _withPeer(S3Request(request.method, request.uri, request.requestHeaders,
                                         hostBucket, getattr(request, "walrusHeaderMap", None)),
                               request)
                if isFormUpload(s3):
                    body = await self._form(request, s3)
                elif s3.method != "OPTIONS":
                    authentication, body = await self._authenticatedBody(request, s3)
            if s3.method == "OPTIONS":
                # A CORS preflight: answered from the rules, unauthenticated.
                response = await cors.preflight(self, s3)
            elif isFormUpload(s3):
                form, body = body, body.spooled
                call = S3Call(self, request, s3,
                              Authentication(form.admission.user, "form"), body)
                response = await postupload.upload(call, form)
            else:
                authentication.checkBody(body)
                call = S3Call(self, request, s3, authentication, body)
                call.verifyBody()
                response = await route(call)
        except S3Error as error:
            response = self.errorResponse(error, s3 or getattr(error, "walrusRequest", None),
                                          requestId)
        except Exception:
            _log.failure("Walrus request {method} {uri} failed",
                         method=request.method, uri=request.uri)
            response = self.errorResponse(S3Error("InternalError"), s3, requestId)
        finally:
            if body is not None and not isinstance(request.content, _WALRUS_CONTENT):
                body.discard()
        if _disconnected(request) or getattr(request, "walrusRefused", False):
            return
        if s3 is not None and s3.method != "OPTIONS" and s3.header("origin"):
            response = await self._withCors(response, s3)
        self.guard.trusted(request.channel)
        await self.write(request, response, requestId)

    def _refusalWithCors(self, response, s3):
        """Deferred ``response`` (refused in admission) with the CORS headers ``s3`` gets."""
        if s3 is None or s3.method == "OPTIONS" or not s3.header("origin"):
            return defer.succeed(response)
        return defer.ensureDeferred(self._withCors(response, s3))

    async def _withCors(self, response, s3):
        """``response`` with the Access-Control-* headers a CORS rule gives ``s3``'s Origin."""
        try:
            headers = await cors.actualRequestHeaders(self, s3)
        except Exception:
            _log.failure("Looking up the CORS rules of {bucket} failed", bucket=s3.bucket)
            return response
        if headers:
            response.headers = dict(response.headers or {}, **headers)
        return response

    def errorResponse(self, error, s3, requestId):
        resource = s3.resourceName() if s3 is not None else ""
        if s3 is not None and s3.bucket and "BucketName" not in error.extra and \
                error.code in ("NoSuchBucket", "BucketNotEmpty", "BucketAlreadyExists",
                               "BucketAlreadyOwnedByYou", "InvalidBucketName"):
            error.extra["BucketName"] = s3.bucket
        headers = {"Content-Type": "application/xml"}
        if error.code == "InvalidRange" and "ActualObjectSize" in error.extra:
            headers["Content-Range"] = "bytes */%s" % (error.extra["ActualObjectSize"],)
        headers.update(getattr(error, "headers", {}))
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


def _disconnected(request):
    """
    Whether ``request``'s connection was lost before its answer: twisted
    lets go of a request's channel then (``Request.connectionLost``), which
    costs nothing to ask, unlike a notifyFinish Deferred per request.
    """
    return getattr(request, "channel", None) is None


def _withPeer(s3, request):
    """``s3`` knowing where it came from (a bucket policy's aws:SourceIp, aws:SecureTransport)."""
    client = getattr(request, "client", None)
    s3.clientAddress = getattr(client, "host", None)
    s3.secure = request.isSecure()
    return s3


def _readAt(path, offset, size):
    """``size`` bytes of ``path`` from ``offset`` (in the I/O pool)."""
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def _headerBytes(value):
    text = str(value)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


async def route(call):
    """Send a call to the service, bucket or object level."""
    s3 = call.s3
    refuseEncryption(s3.headers)
    await policygate.decide(call.walrus, s3, call.user)
    call.granted = s3.policyGranted
    await checkExpectedOwners(call)
    if not s3.bucket:
        if s3.method in ("GET", "HEAD"):
            return await listBuckets(call)
        raise S3Error("MethodNotAllowed", Method=s3.method, ResourceType="SERVICE")
    if s3.key is None:
        return await bucketLevel.dispatch(call)
    names.checkKey(s3.key)
    return await objects.dispatch(call)


async def checkExpectedOwners(call):
    """
    ``x-amz-expected-bucket-owner`` (and ``x-amz-source-expected-bucket-owner``
    for a copy's source): AccessDenied when the bucket belongs to another.
    """
    s3 = call.s3
    expected = s3.header("x-amz-expected-bucket-owner")
    if expected is not None and s3.bucket:
        bucket = await call.store.getBucket(s3.bucket)
        if bucket.owner != expected.strip():
            raise S3Error("AccessDenied")
    expectedSource = s3.header("x-amz-source-expected-bucket-owner")
    if expectedSource is not None and s3.header("x-amz-copy-source"):
        from eucad.walrus.copysource import parseCopySource
        sourceBucket, _, _ = parseCopySource(s3.header("x-amz-copy-source"))
        bucket = await call.store.getBucket(sourceBucket)
        if bucket.owner != expectedSource.strip():
            raise S3Error("AccessDenied")


def _bucketToken(name):
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii")


def _bucketAfter(token):
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect",
                      ArgumentName="continuation-token")


async def listBuckets(call):
    """
    GET Service: the caller's buckets (every bucket for an admin), by
    ``prefix``, ``max-buckets`` at a time with a continuation token.
    """
    user = call.requireUser()
    query = call.s3.query
    prefix = query.get("prefix", "")
    paged = "max-buckets" in query or "continuation-token" in query
    maxBuckets = call.intArg("max-buckets", 10000, 1, 10000)
    after = _bucketAfter(query["continuation-token"]) if "continuation-token" in query else ""
    buckets = [b for b in await call.store.listBuckets(None if user.isAdmin else user.name)
               if b.name.startswith(prefix) and b.name > after]
    more = len(buckets) > maxBuckets
    buckets = buckets[:maxBuckets]
    root = s3xml.document("ListAllMyBucketsResult")
    owner = s3xml.add(root, "Owner")
    s3xml.add(owner, "ID", user.name)
    s3xml.add(owner, "DisplayName", user.name)
    container = s3xml.add(root, "Buckets")
    for bucket in buckets:
        element = s3xml.add(container, "Bucket")
        s3xml.add(element, "Name", bucket.name)
        s3xml.add(element, "CreationDate", isoDate(bucket.created))
    if paged and more:
        s3xml.add(root, "ContinuationToken", _bucketToken(buckets[-1].name))
    if prefix:
        s3xml.add(root, "Prefix", prefix)
    return xmlResponse(root)


class SharedPortGate:
    """
    The admission gate of a Site that serves Walrus beside another service
    (the CLC's shared port): Walrus admits the requests ``isS3(method,
    target, requestHeaders)`` says are S3's, before their bodies are
    stored; the others keep the plain spool and their own service's rules.
    """

    def __init__(self, walrus, isS3):
        self.walrus = walrus
        self.isS3 = isS3
        self.guard = walrus.guard

    def openBody(self, request, requestLine, length):
        method, target, _version = requestLine
        if not self.isS3(method, target, request.requestHeaders):
            return None
        return self.walrus.openBody(request, requestLine, length)

    def busyResponse(self):
        return self.walrus.busyResponse()


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
    A Site serving ``walrus`` whose requests are admitted from their headers
    and spool bodies as they arrive, logging a line per request if
    ``accessLog``.
    """
    return wire.makeSite(WalrusResource(walrus), walrus.spoolFactory, accessLog, gate=walrus)
