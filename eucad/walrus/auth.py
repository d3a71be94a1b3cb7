"""Who sent an S3 request: Signature V2, Signature V4, or nobody.

The service calls ``Authenticator.authenticate(s3request)`` after the body
has been spooled, and gets an ``Authentication``: the user (a row of
``eucad.common.accounts``, the CLC's users) or None for anonymous, plus
``checkBody(spooled)`` that verifies what the signature says about the
payload: its SHA-256, or for ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` the chain
of chunk signatures (and the trailer's).

S3's string-to-sign differs from EC2's in the resource it names, so the S3
canonicalisation lives here while the HMACs and SigV4 helpers are
``eucad.common.signing``'s.  A signature may have been computed over the
path with or without ``/services/Walrus`` (euca2ools and botocore leave it
out, boto 2 keeps it), and over the path as sent or as re-encoded, so each
of those candidates is tried; each comparison is constant-time.
"""

import base64
import functools
import hashlib
import hmac
import time
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from twisted.internet import defer

from eucad.common import signing
from eucad.walrus.errors import S3Error

#: Query parameters that are part of a SigV2 CanonicalizedResource.
V2_SUBRESOURCES = frozenset("""
accelerate acl analytics cors defaultObjectAcl delete encryption intelligent-tiering
inventory legal-hold lifecycle location logging metrics notification object-lock
partNumber policy policyStatus publicAccessBlock replication requestPayment
response-cache-control response-content-disposition response-content-encoding
response-content-language response-content-type response-expires restore retention
select select-type storageClass tagging torrent uploadId uploads versionId versioning
versions website
""".split())

MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600


def _signatureMismatch(stringToSign=None):
    extra = {}
    if stringToSign is not None:
        extra["StringToSign"] = stringToSign
    return S3Error("SignatureDoesNotMatch", **extra)


def _fromSigningError(error):
    if error.code == "AuthFailure":
        return S3Error("AccessDenied", "AWS authentication requires a valid Date or "
                                       "x-amz-date header")
    return S3Error(error.code, error.message)


@functools.lru_cache(maxsize=256)
def _parseHttpDate(text):
    """Epoch of an HTTP date, or None.  Kept: clients sending many requests
    a second send the same Date on each, and the parse costs 15 us."""
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def httpDateToEpoch(text):
    epoch = _parseHttpDate(text)
    if epoch is None:
        raise S3Error("AccessDenied", "AWS authentication requires a valid Date or "
                                      "x-amz-date header")
    return epoch


def requestEpoch(request):
    """The time the request says it was made (x-amz-date, else Date)."""
    amz = request.header("x-amz-date")
    if amz:
        if amz.endswith("Z") and "T" in amz and len(amz) == 16:
            try:
                return signing.parseAmzDate(amz)
            except signing.SignatureError as e:
                raise _fromSigningError(e)
        return httpDateToEpoch(amz)
    date = request.header("date")
    if not date:
        raise S3Error("AccessDenied", "AWS authentication requires a valid Date or "
                                      "x-amz-date header")
    return httpDateToEpoch(date)


def checkSkew(epoch, now):
    if abs(now - epoch) > signing.MAX_SKEW_SECONDS:
        raise S3Error("RequestTimeTooSkewed",
                      RequestTime=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch)),
                      ServerTime=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)),
                      MaxAllowedSkewMilliseconds=str(signing.MAX_SKEW_SECONDS * 1000))


def _reencodedPath(rawPath):
    return quote(unquote(rawPath), safe="/~")


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def v2ResourceCandidates(request):
    """The CanonicalizedResource paths a SigV2 client may have signed."""
    paths = [request.rawPath, request.addressPath]
    if request.hostStyle:
        paths = ["/" + quote(request.bucket, safe="") + request.addressPath]
    if request.bucket and request.key is None:
        # botocore signs a bucket-level request as /bucket/ and sends /bucket.
        paths += [p + "/" for p in paths if not p.endswith("/")]
    paths += [_reencodedPath(p) for p in paths]
    subresources = sorted((name, value) for name, value in request.queryPairs
                          if name in V2_SUBRESOURCES)
    suffix = "&".join(name + ("=" + value if value != "" else "")
                      for name, value in subresources)
    return [p + ("?" + suffix if suffix else "") for p in _unique(paths)]


def v2StringToSign(request, dateLine, resource):
    amzHeaders = []
    for name in sorted(request.headers):
        if name.startswith("x-amz-"):
            values = ",".join(v.strip() for v in request.headers[name])
            amzHeaders.append("%s:%s\n" % (name, values))
    return "%s\n%s\n%s\n%s\n%s%s" % (
        request.method, request.header("content-md5", ""),
        request.header("content-type", ""), dateLine, "".join(amzHeaders), resource)


def _v2Matches(secret, request, dateLine, given):
    """
    (True, string to sign) if ``given`` signs one of the resources a client
    may have signed, else (False, the string to sign of the first).  The
    path exactly as sent, the usual case, is tried before the candidates
    are all worked out.
    """
    try:
        givenRaw = base64.b64decode(given, validate=True)
    except (ValueError, base64.binascii.Error):
        return False, None
    key = secret.encode("utf-8")

    def matches(resource):
        text = v2StringToSign(request, dateLine, resource)
        expected = hmac.digest(key, text.encode("utf-8"), "sha1")
        return hmac.compare_digest(expected, givenRaw), text
    if not request.hostStyle and not request.rawQuery:
        ok, text = matches(request.rawPath)
        if ok:
            return True, text
    first = None
    for resource in v2ResourceCandidates(request):
        ok, text = matches(resource)
        first = first or text
        if ok:
            return True, text
    return False, first


class Authentication:
    """The outcome: ``user`` (None when anonymous) and the payload checks."""

    def __init__(self, user, scheme, payloadHash=None, streaming=None):
        self.user = user
        self.scheme = scheme
        self.payloadHash = payloadHash
        self.streaming = streaming

    def checkBody(self, spooled):
        """Raise unless the body is the one the signature covers."""
        if self.payloadHash is not None and len(self.payloadHash) == 64:
            if spooled.sha256Hex is None or not hmac.compare_digest(
                    spooled.sha256Hex, self.payloadHash.lower()):
                raise S3Error("XAmzContentSHA256Mismatch",
                              ClientComputedContentSHA256=self.payloadHash,
                              S3ComputedContentSHA256=spooled.sha256Hex or "")
        if self.streaming is not None:
            self.streaming.verify(spooled.chunks, spooled.trailers)


class ChunkSignatureChain:
    """
    The per-chunk signatures of an aws-chunked SigV4 body: each chunk is
    signed over the previous chunk's signature, the first over the request's.
    """

    def __init__(self, signingKey, amzDate, scope, seedSignature, trailer):
        self.signingKey = signingKey
        self.amzDate = amzDate
        self.scope = scope
        self.seedSignature = seedSignature.lower()
        self.trailer = trailer

    def _sign(self, text):
        return hmac.new(self.signingKey, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def verify(self, chunks, trailers):
        previous = self.seedSignature
        if not chunks:
            raise S3Error("SignatureDoesNotMatch", "The body has no signed chunks.")
        for given, chunkHash in chunks:
            expected = self._sign("\n".join([
                "AWS4-HMAC-SHA256-PAYLOAD", self.amzDate, self.scope, previous,
                signing.EMPTY_SHA256, chunkHash]))
            if given is None or not hmac.compare_digest(expected, given):
                raise S3Error("SignatureDoesNotMatch",
                              "A chunk signature does not match.")
            previous = expected
        if self.trailer:
            given = trailers.get("x-amz-trailer-signature")
            canonical = "".join("%s:%s\n" % (name, value) for name, value in trailers.items()
                                if name != "x-amz-trailer-signature")
            expected = self._sign("\n".join([
                "AWS4-HMAC-SHA256-TRAILER", self.amzDate, self.scope, previous,
                hashlib.sha256(canonical.encode("utf-8")).hexdigest()]))
            if given is None or not hmac.compare_digest(expected, given.lower()):
                raise S3Error("SignatureDoesNotMatch",
                              "The trailer signature does not match.")


class Authenticator:
    """
    Checks signatures against the users of ``lookupUser(accessKey)`` (a
    Deferred of a User row or None).  ``clock()`` gives the time.
    """

    def __init__(self, lookupUser, clock=time.time):
        self.lookupUser = lookupUser
        self.clock = clock

    def authenticate(self, request, actualSha256=None):
        """
        Deferred Authentication for ``request`` (an S3Request).
        ``actualSha256`` is the body's SHA-256 for SigV4 requests that did
        not send ``x-amz-content-sha256``.
        """
        return defer.ensureDeferred(self.authenticated(request, actualSha256))

    async def authenticated(self, request, actualSha256=None):
        """
        ``authenticate`` as a coroutine, for callers that are coroutines
        themselves: one Deferred less per request.
        """
        authorization = request.header("authorization")
        query = request.query
        if authorization:
            if authorization.startswith(signing.V4_ALGORITHM + " "):
                return await self._v4Header(request, authorization, actualSha256)
            if authorization.startswith("AWS "):
                return await self._v2Header(request, authorization)
            raise S3Error("InvalidArgument", "Unsupported Authorization Type",
                          ArgumentName="Authorization", ArgumentValue=authorization[:32])
        if "X-Amz-Signature" in query or "X-Amz-Credential" in query:
            return await self._v4Query(request)
        if "Signature" in query and "AWSAccessKeyId" in query:
            return await self._v2Query(request)
        return Authentication(None, "anonymous")

    async def _user(self, accessKey):
        user = await self.lookupUser(accessKey)
        if user is None:
            raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=accessKey)
        return user

    # -- Signature Version 2 -------------------------------------------------
    async def _v2Header(self, request, authorization):
        accessKey, sep, given = authorization[4:].strip().rpartition(":")
        if not sep or not accessKey:
            raise S3Error("InvalidArgument", "AWS authorization header is invalid.  "
                          "Expected AwsAccessKeyId:signature",
                          ArgumentName="Authorization")
        epoch = requestEpoch(request)
        checkSkew(epoch, self.clock())
        user = await self._user(accessKey)
        dateLine = "" if request.header("x-amz-date") else request.header("date", "")
        ok, text = _v2Matches(user.secretKey, request, dateLine, given.strip())
        if not ok:
            raise _signatureMismatch(text)
        return Authentication(user, "v2")

    async def _v2Query(self, request):
        query = request.query
        try:
            expires = int(query.get("Expires", ""))
        except ValueError:
            raise S3Error("AccessDenied", "Query-string authentication requires the "
                                          "Signature, Expires and AWSAccessKeyId parameters")
        if self.clock() > expires:
            raise S3Error("AccessDenied", "Request has expired", Expires=str(expires))
        user = await self._user(query["AWSAccessKeyId"])
        ok, text = _v2Matches(user.secretKey, request, str(expires), query["Signature"])
        if not ok:
            raise _signatureMismatch(text)
        return Authentication(user, "v2-query")

    # -- Signature Version 4 -------------------------------------------------
    def _canonicalPaths(self, request):
        return _unique([request.rawPath, _reencodedPath(request.rawPath)])

    def _verifyV4(self, user, request, credential, amzDate, signedHeaders, signature,
                  queryPairs, payloadHash):
        if "host" not in signedHeaders:
            raise S3Error("AccessDenied", "Host must be a signed header.")
        lastError = None
        for path in self._canonicalPaths(request):
            try:
                canonical = signing.canonicalRequest(
                    request.method, path, queryPairs, request.headers, signedHeaders,
                    payloadHash)
            except signing.SignatureError as e:
                raise _fromSigningError(e)
            try:
                return signing.verifyV4(user.secretKey, credential, amzDate, canonical,
                                        signature)
            except signing.SignatureError as e:
                lastError = e
        raise _fromSigningError(lastError)

    async def _v4Header(self, request, authorization, actualSha256):
        try:
            credential, signedHeaders, signature = signing.parseV4Authorization(authorization)
        except signing.SignatureError as e:
            raise _fromSigningError(e)
        amzDate = request.header("x-amz-date")
        if amzDate:
            try:
                epoch = signing.parseAmzDate(amzDate)
            except signing.SignatureError as e:
                raise _fromSigningError(e)
        else:
            epoch = requestEpoch(request)
            amzDate = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))
        checkSkew(epoch, self.clock())
        user = await self._user(credential.accessKey)
        payloadHash = request.header("x-amz-content-sha256")
        if payloadHash is None:
            payloadHash = actualSha256 or signing.EMPTY_SHA256
        key = self._verifyV4(user, request, credential, amzDate, signedHeaders, signature,
                             request.queryPairs, payloadHash)
        streaming = None
        if payloadHash.startswith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"):
            streaming = ChunkSignatureChain(key, amzDate, credential.scope, signature,
                                            payloadHash.endswith("-TRAILER"))
        return Authentication(user, "v4", payloadHash, streaming)

    async def _v4Query(self, request):
        query = request.query
        if query.get("X-Amz-Algorithm") != signing.V4_ALGORITHM:
            raise S3Error("AuthorizationQueryParametersError",
                          "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
        try:
            credential = signing.V4Credential(query["X-Amz-Credential"])
            amzDate = query["X-Amz-Date"]
            expires = int(query["X-Amz-Expires"])
            signedHeaders = query["X-Amz-SignedHeaders"].split(";")
            signature = query["X-Amz-Signature"]
            epoch = signing.parseAmzDate(amzDate)
        except (KeyError, ValueError, signing.SignatureError):
            raise S3Error("AuthorizationQueryParametersError",
                          "Query-string authentication version 4 requires the "
                          "X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, "
                          "X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
        if not 0 < expires <= MAX_PRESIGNED_EXPIRES:
            raise S3Error("AuthorizationQueryParametersError",
                          "X-Amz-Expires must be between 1 and 604800 seconds")
        now = self.clock()
        if epoch - now > signing.MAX_SKEW_SECONDS:
            raise S3Error("AccessDenied", "Request is not valid yet")
        if now > epoch + expires:
            raise S3Error("AccessDenied", "Request has expired",
                          XAmzExpires=str(expires))
        user = await self._user(credential.accessKey)
        pairs = [(k, v) for k, v in request.queryPairs if k != "X-Amz-Signature"]
        payloadHash = request.header("x-amz-content-sha256") or signing.UNSIGNED_PAYLOAD
        self._verifyV4(user, request, credential, amzDate, signedHeaders, signature,
                       pairs, payloadHash)
        return Authentication(user, "v4-query",
                              payloadHash if len(payloadHash) == 64 else None)
