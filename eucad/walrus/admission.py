"""Refusing before reading: who may send a body, decided from the headers alone.

When a request's headers have arrived and a body is announced, Walrus
decides whether it will take that body before storing a byte of it:
``admit`` authenticates the request from its headers (SigV2, SigV4 with a
declared payload hash, presigned query) and, for the requests that bring
object data (PUT object, UploadPart), checks that the bucket (or upload)
exists and that the caller may write it.  Other requests with a body carry
small XML documents and are refused above ``s3xml.MAX_XML_BYTES``.

Until the answer, ``HeldBody`` is the request's content: the connection is
paused and what already arrived (at most one read) waits in memory.  Only
an admitted request gets ``100 Continue`` and a spool that writes to disk;
a refused one gets its S3 error at once and the connection is closed, so
the rest of its body is never read.

``ConnectionGuard`` bounds the connections that have not yet been admitted
or answered, so a crowd of idle or slow clients cannot hold every socket
(the per-connection header deadline is the shared HTTP guard's job).
"""

from twisted.internet import defer
from twisted.web.http import RESPONSES

from eucad.common import signing
from eucad.walrus import acl, policygate, s3xml
from eucad.walrus.encryption import refuseEncryption
from eucad.walrus.errors import S3Error

#: Connections not yet admitted or answered, at most.
MAX_UNADMITTED_CONNECTIONS = 256


def bringsObjectData(s3):
    """Whether ``s3`` stores its body as object data (PUT object, UploadPart)."""
    if s3.method != "PUT" or not s3.bucket or s3.key is None:
        return False
    if s3.header("x-amz-copy-source"):
        return False
    return not any(name in s3.query for name in ("acl", "tagging", "retention",
                                                  "legal-hold"))


async def admit(walrus, s3, length):
    """
    The Authentication of a request whose body has not been read, or an
    S3Error that refuses it.  ``length`` is the declared body length (None
    for a chunked body).
    """
    refuseEncryption(s3.headers)
    authorization = s3.header("authorization") or ""
    if authorization.startswith(signing.V4_ALGORITHM) and s3.header("x-amz-content-sha256") \
            is None:
        # S3 asks every SigV4 request for its payload hash; without it the
        # signature could only be checked after the whole body is stored.
        raise S3Error("InvalidRequest", "Missing required header for this request: "
                      "x-amz-content-sha256")
    authentication = await walrus.authenticator.authenticated(s3, None)
    user = authentication.user
    # The bucket policy: a Deny refuses here, an Allow stands for the ACL.
    await policygate.decide(walrus, s3, user)
    granted = s3.policyGranted
    if bringsObjectData(s3):
        uploadId = s3.query.get("uploadId")
        if uploadId is not None or "partNumber" in s3.query:
            bucket, upload = await walrus.store.getUpload(uploadId or "", s3.bucket, s3.key)
            if not (granted or acl.allows(bucket.acl, user, acl.WRITE)
                    or (user is not None and upload.owner == user.name)):
                raise S3Error("AccessDenied")
        else:
            # A recent row (eucad.walrus.bucketconfigs): the write checks again.
            bucket = (await walrus.bucketConfigs.get(s3.bucket)).bucket
            if bucket is None:
                raise S3Error("NoSuchBucket", BucketName=s3.bucket)
            if not (granted or acl.allows(bucket.acl, user, acl.WRITE)):
                raise S3Error("AccessDenied")
    elif length is not None and length > s3xml.MAX_XML_BYTES:
        raise S3Error("MaxMessageLengthExceeded")
    return authentication


class HeldBody:
    """
    A request's content while it waits for admission: ``admitted`` is a
    Deferred that fires once the body may be stored, or fails;
    ``makeSpool(result)`` then makes the real spool, which gets what was
    held and everything after.  ``producer`` (the connection) is paused
    meanwhile.  Otherwise it answers as that spool does.
    """

    def __init__(self, admitted, makeSpool, producer=None, pauseAtOnce=True):
        self.makeSpool = makeSpool
        self.producer = producer
        self.spool = None
        self.held = []
        self.received = 0
        self.outcome = None
        self.waiters = []
        self.closed = False
        self.paused = False
        if pauseAtOnce:
            self.holdUntilAdmitted()
        admitted.addCallbacks(self._admitted, self._refused)

    def holdUntilAdmitted(self):
        """
        Pause the connection if the admission has not settled yet.  Most
        admissions settle at once (users, buckets and policies are read
        from short-lived caches), and a pause and resume is two system
        calls for nothing: the caller that starts the admission asks for
        the pause only after it has started.
        """
        if self.outcome is None and self.producer is not None and not self.paused:
            self.paused = True
            self.producer.pauseProducing()

    def _admitted(self, result):
        if not self.closed:
            self.spool = self.makeSpool(result)
            held, self.held = self.held, []
            for data in held:
                self.spool.write(data)
            self._resume()
        self._settle((True, result))

    def _refused(self, failure):
        self.held = []
        self._settle((False, failure))

    def _settle(self, outcome):
        self.outcome = outcome
        waiters, self.waiters = self.waiters, []
        for d in waiters:
            self._fire(d)

    def _fire(self, d):
        admitted, value = self.outcome
        if admitted:
            d.callback(value)
        else:
            d.errback(value)

    def _resume(self):
        if self.paused:
            self.paused = False
            self.producer.resumeProducing()

    def whenAdmitted(self):
        """A Deferred of the admission's result, or its refusal."""
        d = defer.Deferred()
        if self.outcome is None:
            self.waiters.append(d)
        else:
            self._fire(d)
        return d

    # -- twisted.web's side ----------------------------------------------------
    def write(self, data):
        self.received += len(data)
        if self.spool is not None:
            self.spool.write(data)
        elif self.outcome is None and not self.closed:
            self.held.append(data)

    def tell(self):
        return self.received

    def seek(self, offset, whence=0):
        return 0

    def read(self, size=-1):
        return b""

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.held = []
        if self.spool is not None:
            self.spool.close()

    # -- the handler's side --------------------------------------------------------
    def finish(self):
        """Deferred SpooledBody (or FormBody) once admitted and received."""
        def spooled(_):
            if self.spool is None:
                raise S3Error("InternalError", "The request was closed.")
            return self.spool.finish()
        return self.whenAdmitted().addCallback(spooled)


class ConnectionGuard:
    """
    Counts open connections that no request has yet been admitted on or
    answered on; ``opened`` says whether one more may stay.
    """

    def __init__(self, limit=MAX_UNADMITTED_CONNECTIONS):
        self.limit = limit
        self.unadmitted = set()

    def opened(self, channel):
        if len(self.unadmitted) >= self.limit:
            return False
        self.unadmitted.add(channel)
        return True

    def trusted(self, channel):
        self.unadmitted.discard(channel)

    def closed(self, channel):
        self.unadmitted.discard(channel)


def rawErrorResponse(version, response, close=True):
    """
    The bytes of ``response`` (an eucad.walrus.responses.Response with a
    body) as a complete HTTP message, for answers written before twisted.web
    has a request to write them through (a refusal while the body is still
    arriving, or a connection over the limit).
    """
    reason = RESPONSES.get(response.status, b"Error")
    lines = [b"%s %d %s" % (version, response.status, reason)]
    headers = dict(response.headers)
    headers["Content-Length"] = str(len(response.body))
    if close:
        headers["Connection"] = "close"
    for name, value in headers.items():
        lines.append(b"%s: %s" % (name.encode("latin-1"), str(value).encode("latin-1")))
    return b"\r\n".join(lines) + b"\r\n\r\n" + response.body
