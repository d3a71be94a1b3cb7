"""Who sent an EC2 Query request, proven by its signature.

Three ways of signing are accepted, as modern and 2009-era clients use them:
Signature V4 in the ``Authorization`` header (any region in the scope,
service ``ec2``), V4 presigned in the query string (``X-Amz-Signature``),
and Signature V2 in the parameters (HmacSHA1 or HmacSHA256, with
``Timestamp`` or ``Expires``).  Everything that does not need the secret is
checked before the DB is asked for it; the HMAC primitives are
``eucad.common.signing``'s.  Errors are ``CloudError`` with EC2's codes.
"""

import hashlib
from datetime import datetime, timezone

from twisted.internet import defer

from eucad.common import accounts, signing
from eucad.common.errors import CloudError

SERVICE = "ec2"

#: Longest validity of a presigned V4 URL (AWS: 7 days).
MAX_PRESIGN_SECONDS = 7 * 24 * 3600

#: Longest validity of a SignatureVersion 2 request signed with ``Expires``
#: (beyond the signer's clock skew).  Clients that use Expires set it a few
#: minutes ahead; a request good for days is one that anybody who saw its
#: URL (a log, a proxy) can replay for days.
MAX_V2_EXPIRES_SECONDS = 15 * 60

_PRESIGN_PARAMS = ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                   "X-Amz-SignedHeaders", "X-Amz-Signature")


class SignedRequest:
    """
    The parts of an HTTP request a signature covers, already decoded.

    @param rawPath: the path as sent (still percent-encoded), without query.
    @param queryPairs: ``[(name, value)]`` of the query string.
    @param params: every request parameter (query and form body), first
        value of each name.
    @param headers: ``{lower-case name: [values]}``.
    """

    def __init__(self, method, host, rawPath, queryPairs, params, headers, body):
        self.method = method
        self.host = host
        self.rawPath = rawPath or "/"
        self.queryPairs = queryPairs
        self.params = params
        self.headers = headers
        self.body = body

    def header(self, name):
        values = self.headers.get(name)
        return values[0] if values else None


class Caller:
    """The authenticated user of one request."""

    def __init__(self, name, isAdmin, accessKey, accountNumber=None):
        self.name = name
        self.isAdmin = isAdmin
        self.accessKey = accessKey
        #: The 12-digit account number EC2 shows as ``ownerId``.
        self.accountNumber = accountNumber

    def __repr__(self):
        return "<Caller %s%s>" % (self.name, " (admin)" if self.isAdmin else "")


def _fail(code, message):
    raise CloudError(code, message)


def _removeDotSegments(path):
    """RFC 3986 dot-segment removal plus collapsing ``//``, as SigV4 wants."""
    kept = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if kept:
                kept.pop()
        else:
            kept.append(segment)
    result = "/" + "/".join(kept)
    if path.endswith("/") and kept:
        result += "/"
    return result


def canonicalPath(rawPath):
    """
    SigV4's canonical URI for EC2: the normalised path as sent, encoded once
    more (every service but S3 double-encodes).
    """
    return signing.uriEncode(_removeDotSegments(rawPath), safe="/~")


def parseTimestamp(text):
    """An ISO 8601 ``Timestamp``/``Expires`` value to epoch seconds (UTC if no zone)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        _fail("InvalidParameterValue", "Invalid timestamp: %s" % (text,))
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _checkScope(credential):
    if credential.service != SERVICE:
        _fail("AuthFailure", "Credential should be scoped to correct service: "
                             "'%s'" % (SERVICE,))


def _payloadHash(request):
    """The body's SHA-256, and the client's claim of it, which must agree."""
    actual = hashlib.sha256(request.body).hexdigest()
    claimed = request.header("x-amz-content-sha256")
    if claimed is None or claimed == actual:
        return actual
    if claimed == signing.UNSIGNED_PAYLOAD and not request.body:
        return claimed
    _fail("XAmzContentSHA256Mismatch",
          "The provided 'x-amz-content-sha256' header does not match what was "
          "computed.")


def _headerV4(request, now):
    """``(accessKey, verify(secret))`` of an Authorization-header V4 request."""
    credential, signedHeaders, signature = signing.parseV4Authorization(
        request.header("authorization"))
    _checkScope(credential)
    amzDate = request.header("x-amz-date")
    if not amzDate:
        _fail("IncompleteSignature", "X-Amz-Date header is missing")
    signing.checkSkew(signing.parseAmzDate(amzDate), now, code="RequestExpired")
    if "host" not in signedHeaders:
        _fail("IncompleteSignature", "The host header must be signed")
    canonical = signing.canonicalRequest(
        request.method, canonicalPath(request.rawPath), request.queryPairs,
        request.headers, signedHeaders, _payloadHash(request))

    def verify(secret):
        signing.verifyV4(secret, credential, amzDate, canonical, signature)
    return credential.accessKey, verify


def _presignedV4(request, now):
    """``(accessKey, verify(secret))`` of a presigned V4 URL."""
    params = request.params
    if params.get("X-Amz-Algorithm") != signing.V4_ALGORITHM:
        _fail("IncompleteSignature", "Unsupported X-Amz-Algorithm")
    for name in _PRESIGN_PARAMS:
        if not params.get(name):
            _fail("IncompleteSignature", "%s is missing" % (name,))
    credential = signing.V4Credential(params["X-Amz-Credential"])
    _checkScope(credential)
    amzDate = params["X-Amz-Date"]
    issued = signing.parseAmzDate(amzDate)
    try:
        expires = int(params["X-Amz-Expires"])
    except ValueError:
        expires = -1
    if not 0 < expires <= MAX_PRESIGN_SECONDS:
        _fail("AuthFailure", "X-Amz-Expires must be between 1 and %d seconds" % (
            MAX_PRESIGN_SECONDS,))
    if now > issued + expires or issued > now + signing.MAX_SKEW_SECONDS:
        _fail("RequestExpired", "Request has expired")
    signedHeaders = params["X-Amz-SignedHeaders"].split(";")
    if "host" not in signedHeaders:
        _fail("IncompleteSignature", "The host header must be signed")
    queryPairs = [(k, v) for k, v in request.queryPairs if k != "X-Amz-Signature"]
    path = canonicalPath(request.rawPath)
    # SDKs hash the (empty) body of a presigned EC2 call; some say UNSIGNED.
    hashes = [hashlib.sha256(request.body).hexdigest()]
    if not request.body:
        hashes.append(signing.UNSIGNED_PAYLOAD)
    canonicals = [signing.canonicalRequest(request.method, path, queryPairs,
                                           request.headers, signedHeaders, h)
                  for h in hashes]

    def verify(secret):
        for canonical in canonicals[:-1]:
            try:
                return signing.verifyV4(secret, credential, amzDate, canonical,
                                        params["X-Amz-Signature"])
            except signing.SignatureError:
                pass
        signing.verifyV4(secret, credential, amzDate, canonicals[-1],
                         params["X-Amz-Signature"])
    return credential.accessKey, verify


def _queryV2(request, now):
    """``(accessKey, verify(secret))`` of a SignatureVersion 2 request."""
    params = request.params
    if params.get("SignatureVersion") != "2":
        _fail("InvalidParameterValue", "SignatureVersion must be 2 (or sign with V4)")
    for name in ("AWSAccessKeyId", "Signature"):
        if not params.get(name):
            _fail("MissingParameter",
                  "The request must contain the parameter %s" % (name,))
    timestamp, expires = params.get("Timestamp"), params.get("Expires")
    if timestamp and expires:
        _fail("InvalidParameterCombination",
              "Parameter Timestamp cannot be used with parameter Expires")
    if timestamp:
        signing.checkSkew(parseTimestamp(timestamp), now, code="RequestExpired")
    elif expires:
        until = parseTimestamp(expires)
        if now > until:
            _fail("RequestExpired", "Request has expired")
        # The signer's clock may run ahead of ours by the usual skew.
        if until > now + MAX_V2_EXPIRES_SECONDS + signing.MAX_SKEW_SECONDS:
            _fail("RequestExpired", "Expires may be at most %d minutes in the "
                  "future" % (MAX_V2_EXPIRES_SECONDS // 60,))
    else:
        _fail("MissingParameter", "The request must contain the parameter Timestamp")

    def verify(secret):
        signing.verifyEc2V2(secret, request.method, request.host, request.rawPath,
                            params)
    return params["AWSAccessKeyId"], verify


def signatureChecker(request, now):
    """
    Pick the signing scheme of ``request`` and check all that needs no
    secret; return ``(accessKey, verify(secret))``.
    """
    authorization = request.header("authorization")
    if authorization:
        if not authorization.startswith(signing.V4_ALGORITHM + " "):
            _fail("AuthFailure", "Unsupported Authorization scheme")
        return _headerV4(request, now)
    if "X-Amz-Signature" in request.params or "X-Amz-Algorithm" in request.params:
        return _presignedV4(request, now)
    if "Signature" in request.params or "AWSAccessKeyId" in request.params:
        return _queryV2(request, now)
    _fail("AuthFailure", "The request is not signed")


def _lookup(session, accessKey):
    user = accounts.findByAccessKey(session, accessKey)
    if user is None:
        return None
    return user.name, user.secretKey, bool(user.isAdmin), user.accountNumber


def _cloudErrorFromSignatureError(error):
    """The CloudError (same EC2 code and message) for a ``signing.SignatureError``."""
    return CloudError(error.code, error.message)


class Authenticator:
    """Checks a request's signature against the users in ``db``."""

    def __init__(self, db, clock):
        self.db = db
        self.clock = clock

    def authenticate(self, request):
        """A Deferred firing with the ``Caller``, or failing with CloudError."""
        try:
            accessKey, verify = signatureChecker(request, self.clock.seconds())
        except signing.SignatureError as e:
            return defer.fail(_cloudErrorFromSignatureError(e))
        except CloudError as e:
            return defer.fail(e)
        d = self.db.run(_lookup, accessKey)

        def check(found):
            if found is None:
                raise CloudError("AuthFailure", "AWS was not able to validate the "
                                 "provided access credentials", 401)
            name, secret, isAdmin, accountNumber = found
            try:
                verify(secret)
            except signing.SignatureError as e:
                raise _cloudErrorFromSignatureError(e)
            return Caller(name, isAdmin, accessKey, accountNumber)
        return d.addCallback(check)
