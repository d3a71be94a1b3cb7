"""One authenticated S3 request as the handlers see it.

``S3Call`` bundles the parsed request, the caller, the spooled body and the
Walrus collaborators, and holds what several handlers share: permission
checks (as callables the store runs inside its transactions), the object
headers and user metadata to keep, checksum verification, query arguments.
"""

import base64
import binascii
import hmac

from eucad.walrus import acl, checksums
from eucad.walrus.errors import S3Error
from eucad.walrus.responses import httpDate, quoteEtag

#: Request headers kept with an object and returned on GET/HEAD.
STORED_HEADERS = ("content-type", "content-encoding", "content-disposition",
                  "content-language", "cache-control", "expires",
                  "x-amz-website-redirect-location")
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
MAX_METADATA_BYTES = 2048


class S3Call:
    def __init__(self, walrus, request, s3, authentication, body):
        self.walrus = walrus
        self.store = walrus.store
        self.request = request
        self.s3 = s3
        self.authentication = authentication
        self.user = authentication.user
        self.body = body
        #: The flexible checksums of the body, once verifyBody has run.
        self.checksums = {}
        #: Whether the bucket's policy explicitly allows this request
        #: (eucad.walrus.policygate): the ACL checks below then pass.
        self.granted = getattr(s3, "policyGranted", False)

    # -- who may do what ------------------------------------------------------
    @property
    def userName(self):
        return self.user.name if self.user is not None else None

    def requireUser(self):
        if self.user is None:
            raise S3Error("AccessDenied", "Anonymous users cannot do this.")
        return self.user

    def allows(self, resourceAcl, permission):
        return self.granted or acl.allows(resourceAcl, self.user, permission)

    def bucketCheck(self, permission):
        """A check(bucket) that raises AccessDenied without ``permission``."""
        def check(bucket, *ignored):
            if not self.allows(bucket.acl, permission):
                raise S3Error("AccessDenied")
        return check

    def ownerCheck(self):
        """A check(bucket) that passes only the bucket's owner and admins."""
        def check(bucket, *ignored):
            if self.granted:
                return
            if self.user is None or not (self.user.isAdmin or self.user.name == bucket.owner):
                raise S3Error("AccessDenied")
        return check

    def strictOwnerCheck(self):
        """
        A check(bucket) for the bucket's owner and admins only, whatever the
        policy says: who may change the policy itself.
        """
        def check(bucket, *ignored):
            if self.user is None or not (self.user.isAdmin or self.user.name == bucket.owner):
                raise S3Error("AccessDenied")
        return check

    def objectCheck(self, permission):
        """A check(bucket, object) on the object's own ACL."""
        def check(bucket, obj):
            if not self.allows(obj.acl, permission):
                raise S3Error("AccessDenied")
        return check

    def uploadCheck(self):
        """Multipart operations: bucket WRITE, or having started the upload."""
        def check(bucket, upload):
            if self.allows(bucket.acl, acl.WRITE):
                return
            if self.user is not None and upload.owner == self.user.name:
                return
            raise S3Error("AccessDenied")
        return check

    def aclFromHeaders(self, default="private"):
        """A makeAcl(bucket) for the x-amz-acl / x-amz-grant-* headers."""
        owner = self.userName or "anonymous"
        headers = self.s3.headers

        def makeAcl(bucket, *ignored):
            return acl.fromHeaders(headers, owner, bucket.owner if bucket is not None else None,
                                   default)
        # Validate now so a bad header fails before any data is written.
        acl.fromHeaders(headers, owner, None, default)
        return makeAcl

    # -- metadata ---------------------------------------------------------------
    def objectHeaders(self):
        """The Content-* and cache headers a new object keeps."""
        kept = {}
        for name in STORED_HEADERS:
            values = self.s3.headers.get(name)
            if not values:
                continue
            # A list-valued header may arrive as several lines: one value.
            value = ", ".join(values)
            if name == "content-encoding":
                codings = [c.strip() for c in value.split(",")]
                if any(c.lower() == "aws-chunked" for c in codings):
                    # Only the transfer framing goes; the codings the object
                    # keeps come back as the client wrote them.
                    codings = [c for c in codings if c and c.lower() != "aws-chunked"]
                    if not codings:
                        continue
                    value = ", ".join(codings)
            kept[name] = value
        kept.setdefault("content-type", DEFAULT_CONTENT_TYPE)
        return kept

    def userMetadata(self):
        """``x-amz-meta-*`` headers (names lower-case, without the prefix)."""
        meta = {}
        for name, values in self.s3.headers.items():
            if name.startswith("x-amz-meta-"):
                meta[name[len("x-amz-meta-"):]] = ",".join(values)
        total = sum(len(k.encode()) + len(v.encode()) for k, v in meta.items())
        if total > MAX_METADATA_BYTES:
            raise S3Error("MetadataTooLarge", MaxSizeAllowed=str(MAX_METADATA_BYTES))
        return meta

    # -- the body -----------------------------------------------------------------
    def verifyBody(self):
        """
        Check Content-MD5 and any x-amz-checksum-* (header or trailer) against
        the body; return {algorithm: base64} of the checksums to keep.
        """
        body = self.body
        md5 = self.s3.header("content-md5")
        if md5 is not None:
            given = checksums.decodeBase64Digest(md5, 16)
            if not hmac.compare_digest(given, binascii.unhexlify(body.md5Hex)):
                raise S3Error("BadDigest", ExpectedDigest=md5,
                              CalculatedDigest=base64.b64encode(
                                  binascii.unhexlify(body.md5Hex)).decode())
        sent = {}
        sources = [self.s3.headers]
        if self.s3.method == "POST" and "uploadId" in self.s3.query:
            # On CompleteMultipartUpload the checksum headers name the whole
            # object (eucad.walrus.multipart), not the XML body.
            sources = []
        if body.trailers:
            sources.append({k: [v] for k, v in body.trailers.items()})
        for source in sources:
            for name, values in source.items():
                if not name.lower().startswith(checksums.HEADER_PREFIX):
                    continue
                algorithm = checksums.algorithmOfHeader(name)
                if algorithm:
                    checksums.checkAlgorithm(algorithm)
                    sent[algorithm] = values[0].strip()
        computed = body.checksums
        for algorithm, value in sent.items():
            mine = computed.get(algorithm)
            if mine is None:
                raise S3Error("InvalidRequest", "Checksum %s was not computed." % (algorithm,))
            if not hmac.compare_digest(mine.encode(), value.encode()):
                raise S3Error("BadDigest", "The %s you specified did not match the "
                              "calculated checksum." % (algorithm,))
        self.checksums = dict(computed)
        return self.checksums

    def readBody(self, limit):
        return self.body.read(limit)

    # -- query arguments ------------------------------------------------------------
    def intArg(self, name, default, low=0, high=None):
        text = self.s3.query.get(name)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            raise S3Error("InvalidArgument", "%s must be an integer" % (name,),
                          ArgumentName=name, ArgumentValue=text)
        if value < low:
            raise S3Error("InvalidArgument", "%s must be at least %d" % (name, low),
                          ArgumentName=name, ArgumentValue=text)
        if high is not None and value > high:
            value = high
        return value


#: The response names of the stored headers (STORED_HEADERS).
RESPONSE_NAMES = {"content-type": "Content-Type", "content-encoding": "Content-Encoding",
                  "content-disposition": "Content-Disposition",
                  "content-language": "Content-Language", "cache-control": "Cache-Control",
                  "expires": "Expires",
                  "x-amz-website-redirect-location": "x-amz-website-redirect-location"}


def objectResponseHeaders(obj, overrides=None, withChecksums=False):
    """The headers GET and HEAD answer for ``obj``."""
    headers = {
        "ETag": quoteEtag(obj.etag),
        "Last-Modified": httpDate(obj.modified),
        "Accept-Ranges": "bytes",
        "x-amz-storage-class": "STANDARD",
    }
    names = RESPONSE_NAMES
    for name, value in obj.headers.items():
        headers[names.get(name, name)] = value
    for name, value in obj.meta.items():
        headers["x-amz-meta-" + name] = value
    for name, value in (overrides or {}).items():
        headers[names.get(name, name)] = value
    if withChecksums:
        for algorithm, value in obj.checksums.items():
            headers[checksums.headerName(algorithm)] = value
            if "-" in value:
                headers["x-amz-checksum-type"] = "COMPOSITE"
            else:
                headers["x-amz-checksum-type"] = "FULL_OBJECT"
    return headers
