"""The S3 bucket level: create, head, delete, locate, list, ACLs, DeleteObjects.

``dispatch(call)`` picks the operation from the method and the query's
subresource.  Tagging, CORS and policy have their own modules
(``CONFIGURATIONS``), versioning and lifecycle theirs (``eucad.walrus.versions``,
``eucad.walrus.lifecycle``).  Configurations Walrus does not keep (website,
encryption) read as "not configured", S3's own answer for a bucket without
them, and writing them is NotImplemented.
"""

import base64
import binascii
from urllib.parse import quote

from eucad.walrus import (acl, bucketpolicy, cors, lifecycle, multipart, names, policy,
                          policygate, s3xml, tagging, versions)
from eucad.walrus.errors import S3Error
from eucad.walrus.responses import emptyResponse, isoDate, quoteEtag, xmlResponse

#: GET ?sub on a bucket that has none of it -> S3's "not configured" error.
UNCONFIGURED = {
    "website": "NoSuchWebsiteConfiguration",
    "encryption": "ServerSideEncryptionConfigurationNotFoundError",
}
UNSUPPORTED = frozenset("""
accelerate analytics intelligent-tiering inventory metrics notification object-lock
ownershipControls publicAccessBlock replication requestPayment logging
website encryption
""".split())

#: Configurations kept by Walrus: subresource -> {method: handler}.
CONFIGURATIONS = {
    "tagging": {"PUT": tagging.putBucketTagging, "GET": tagging.getBucketTagging,
                "DELETE": tagging.deleteBucketTagging},
    "cors": {"PUT": cors.putBucketCors, "GET": cors.getBucketCors,
             "DELETE": cors.deleteBucketCors},
    "policy": {"PUT": bucketpolicy.putBucketPolicy, "GET": bucketpolicy.getBucketPolicy,
               "DELETE": bucketpolicy.deleteBucketPolicy},
    "policyStatus": {"GET": bucketpolicy.getBucketPolicyStatus},
}

MAX_DELETE_KEYS = 1000


async def dispatch(call):
    s3 = call.s3
    method = s3.method
    query = s3.query
    for name, handlers in CONFIGURATIONS.items():
        if name in query and method in handlers:
            return await handlers[method](call)
    if method == "PUT":
        if "acl" in query:
            return await putAcl(call)
        if "versioning" in query:
            return await versions.putVersioning(call)
        if "lifecycle" in query:
            return await lifecycle.putLifecycle(call)
        _refuseUnsupported(query)
        return await create(call)
    if method == "HEAD":
        return await head(call)
    if method == "DELETE":
        if "lifecycle" in query:
            return await lifecycle.deleteLifecycle(call)
        _refuseUnsupported(query)
        return await remove(call)
    if method == "GET":
        if "acl" in query:
            return await getAcl(call)
        if "location" in query:
            return await location(call)
        if "versioning" in query:
            return await versions.getVersioning(call)
        if "lifecycle" in query:
            return await lifecycle.getLifecycle(call)
        if "logging" in query:
            return await logging(call)
        if "uploads" in query:
            return await multipart.listUploads(call)
        if "versions" in query:
            return await versions.listVersions(call, _encoder(call))
        for name, code in UNCONFIGURED.items():
            if name in query:
                await call.store.getBucket(s3.bucket)
                raise S3Error(code, BucketName=s3.bucket)
        _refuseUnsupported(query)
        if query.get("list-type") == "2":
            return await listV2(call)
        return await listV1(call)
    if method == "POST":
        if "delete" in query:
            return await deleteObjects(call)
        _refuseUnsupported(query)
        # Form uploads are received and answered by eucad.walrus.postupload.
        raise S3Error("NotImplemented", "POST on a bucket is only a browser form upload.")
    raise S3Error("MethodNotAllowed", Method=method, ResourceType="BUCKET")


def _refuseUnsupported(query):
    for name in query:
        if name in UNSUPPORTED:
            raise S3Error("NotImplemented", "Bucket %s is not implemented by Walrus." % (name,))


async def create(call):
    user = call.requireUser()
    name = names.checkBucketName(call.s3.bucket)
    constraint = ""
    if call.body.size:
        root = s3xml.parseXml(await call.readBody(s3xml.MAX_XML_BYTES))
        if s3xml.localName(root) != "CreateBucketConfiguration":
            raise S3Error("MalformedXML")
        constraint = (s3xml.childText(root, "LocationConstraint", "") or "").strip()
        if len(constraint) > 64:
            raise S3Error("InvalidLocationConstraint")
    makeAcl = call.aclFromHeaders()
    await call.store.createBucket(user.name, name, constraint or call.walrus.location,
                                  makeAcl(None))
    call.walrus.bucketConfigs.forget(name)
    return emptyResponse(200, {"Location": "/" + name})


async def head(call):
    bucket = await call.store.getBucket(call.s3.bucket)
    call.bucketCheck(acl.READ)(bucket)
    return emptyResponse(200, {"x-amz-bucket-region": bucket.location or "us-east-1"})


async def remove(call):
    call.requireUser()
    await call.store.deleteBucket(call.s3.bucket, call.ownerCheck())
    call.walrus.bucketConfigs.forget(call.s3.bucket)
    return emptyResponse(204)


async def location(call):
    bucket = await call.store.getBucket(call.s3.bucket)
    call.bucketCheck(acl.READ)(bucket)
    root = s3xml.document("LocationConstraint")
    if bucket.location and bucket.location != "us-east-1":
        root.text = bucket.location
    return xmlResponse(root)


async def logging(call):
    bucket = await call.store.getBucket(call.s3.bucket)
    call.bucketCheck(acl.READ_ACP)(bucket)
    return xmlResponse(s3xml.document("BucketLoggingStatus"))


async def getAcl(call):
    bucket = await call.store.getBucket(call.s3.bucket)
    call.bucketCheck(acl.READ_ACP)(bucket)
    return xmlResponse(acl.toXml(bucket.acl))


async def aclFromRequest(call, owner):
    """
    The ACL a PUT ?acl asks for: headers, or an AccessControlPolicy body.
    Returns a function of the resource's owner.
    """
    if call.body.size:
        body = await call.readBody(s3xml.MAX_XML_BYTES)
        if call.s3.header("x-amz-acl"):
            raise S3Error("InvalidRequest",
                          "Specify either a canned ACL or an ACL document, not both.")
        _, grants = acl.fromXml(body)
        wanted = {g["grantee"]["id"] for g in grants if g["grantee"]["type"] == "CanonicalUser"}
        missing = wanted - await call.walrus.users.existing(wanted)
        if missing:
            raise S3Error("InvalidArgument", "Invalid id", ArgumentName="CanonicalUser/ID",
                          ArgumentValue=sorted(missing)[0])
        return lambda ownerName, bucketOwner=None: {"owner": ownerName, "grants": grants}
    call.aclFromHeaders()
    headers = call.s3.headers
    return lambda ownerName, bucketOwner=None: acl.fromHeaders(headers, ownerName, bucketOwner)


async def putAcl(call):
    call.requireUser()
    build = await aclFromRequest(call, None)
    check = call.bucketCheck(acl.WRITE_ACP)
    await call.store.setBucketAcl(call.s3.bucket, check,
                                  lambda bucket: build(bucket.owner, bucket.owner))
    call.walrus.bucketConfigs.forget(call.s3.bucket)
    return emptyResponse(200)


def _encoder(call):
    encoding = call.s3.query.get("encoding-type")
    if encoding is None:
        return lambda text: text
    if encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      ArgumentName="encoding-type", ArgumentValue=encoding)
    return lambda text: quote(text, safe="/~")


def _entries(listing, tag, encode, withOwner=True):
    """
    The serialized ``tag`` elements of a listing's objects (tuples: key,
    size, etag, modified, owner), then its CommonPrefixes.

    Each entry is one string template with its texts escaped as lxml
    escapes them (s3xml.escapeText): building the elements through lxml
    was most of a 1000-key page's time.  A text lxml would refuse goes
    through lxml, which refuses it as before.
    """
    shape = ["Key", "LastModified", "ETag", "Size"] + ([("Owner", ["ID", "DisplayName"])] if withOwner
                                            else []) + ["StorageClass"]
    template = ("<%s><Key>%%s</Key><LastModified>%%s</LastModified><ETag>\"%%s\"</ETag>"
                "<Size>%%d</Size>%s<StorageClass>STANDARD</StorageClass></%s>"
                % (tag, "<Owner><ID>%s</ID><DisplayName>%s</DisplayName></Owner>"
                   if withOwner else "", tag))
    escape = s3xml.escapeText
    plain = s3xml.isPlainText
    entry = None
    parts = []
    append = parts.append
    lastOwner = shownOwner = None
    for key, size, etag, modified, owner in listing.entries:
        shownKey = encode(key)
        if not plain(shownKey):
            shownKey = escape(shownKey)
        if withOwner and owner != lastOwner:
            lastOwner, shownOwner = owner, escape(owner)
        if shownKey is None or (withOwner and shownOwner is None):
            if entry is None:
                entry = s3xml.RepeatedElement(tag, shape)
            texts = [encode(key), isoDate(modified), quoteEtag(etag), str(size)]
            if withOwner:
                texts += [owner, owner]
            append(entry.render(texts + ["STANDARD"]).decode("utf-8"))
        elif withOwner:
            append(template % (shownKey, isoDate(modified), etag, size, shownOwner, shownOwner))
        else:
            append(template % (shownKey, isoDate(modified), etag, size))
    for prefix in listing.commonPrefixes:
        shown = escape(encode(prefix))
        if shown is None:
            common = s3xml.RepeatedElement("CommonPrefixes", ["Prefix"])
            parts.append(common.render([encode(prefix)]).decode("utf-8"))
            continue
        parts.append("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % (shown,))
    return "".join(parts).encode("utf-8")


async def _list(call, after):
    query = call.s3.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    maxKeys = call.intArg("max-keys", 1000, 0, 1000)
    _, listing = await call.store.listObjects(call.s3.bucket, prefix, delimiter, after,
                                              maxKeys, call.bucketCheck(acl.READ))
    return prefix, delimiter, maxKeys, listing


async def listV1(call):
    encode = _encoder(call)
    marker = call.s3.query.get("marker", "")
    prefix, delimiter, maxKeys, listing = await _list(call, marker)
    root = s3xml.document("ListBucketResult")
    s3xml.add(root, "Name", call.s3.bucket)
    # S3 leaves a V1 listing's Prefix as sent even with encoding-type=url
    # (and SDKs do not decode it there), unlike V2's.
    s3xml.add(root, "Prefix", prefix)
    s3xml.add(root, "Marker", encode(marker))
    s3xml.add(root, "MaxKeys", str(maxKeys))
    if delimiter:
        s3xml.add(root, "Delimiter", encode(delimiter))
    if "encoding-type" in call.s3.query:
        s3xml.add(root, "EncodingType", "url")
    s3xml.add(root, "IsTruncated", "true" if listing.truncated else "false")
    if listing.truncated and listing.lastReturned is not None:
        s3xml.add(root, "NextMarker", encode(listing.lastReturned))
    return xmlResponse(s3xml.serializeWith(root, _entries(listing, "Contents", encode)))


def _token(key):
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii")


def _untoken(token):
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect",
                      ArgumentName="continuation-token")


async def listV2(call):
    encode = _encoder(call)
    query = call.s3.query
    token = query.get("continuation-token")
    startAfter = query.get("start-after", "")
    after = _untoken(token) if token is not None else startAfter
    prefix, delimiter, maxKeys, listing = await _list(call, after)
    fetchOwner = query.get("fetch-owner", "false").lower() == "true"
    root = s3xml.document("ListBucketResult")
    s3xml.add(root, "Name", call.s3.bucket)
    s3xml.add(root, "Prefix", encode(prefix))
    s3xml.add(root, "KeyCount", str(len(listing.entries) + len(listing.commonPrefixes)))
    s3xml.add(root, "MaxKeys", str(maxKeys))
    if delimiter:
        s3xml.add(root, "Delimiter", encode(delimiter))
    if "encoding-type" in query:
        s3xml.add(root, "EncodingType", "url")
    s3xml.add(root, "IsTruncated", "true" if listing.truncated else "false")
    if token is not None:
        s3xml.add(root, "ContinuationToken", token)
    if listing.truncated and listing.lastReturned is not None:
        s3xml.add(root, "NextContinuationToken", _token(listing.lastReturned))
    if startAfter:
        s3xml.add(root, "StartAfter", encode(startAfter))
    return xmlResponse(s3xml.serializeWith(
        root, _entries(listing, "Contents", encode, withOwner=fetchOwner)))


async def deleteObjects(call):
    """POST ?delete: up to 1000 keys in one transaction."""
    if call.s3.header("content-md5") is None and not call.checksums:
        raise S3Error("InvalidRequest", "Missing required header for this request: "
                      "Content-MD5 or x-amz-checksum-*")
    root = s3xml.parseXml(await call.readBody(s3xml.MAX_XML_BYTES))
    if s3xml.localName(root) != "Delete":
        raise S3Error("MalformedXML")
    quiet = (s3xml.childText(root, "Quiet", "false") or "").strip().lower() == "true"
    entries = s3xml.children(root, "Object")
    if not entries or len(entries) > MAX_DELETE_KEYS:
        raise S3Error("MalformedXML")
    wanted = []
    errors = []
    verdicts = []
    for entry in entries:
        key = s3xml.childText(entry, "Key")
        if key is None:
            raise S3Error("MalformedXML")
        version = s3xml.childText(entry, "VersionId") or None
        try:
            names.checkKey(key)
            if version is not None:
                versions.checkVersionId(version)
            action = "s3:DeleteObjectVersion" if version is not None else "s3:DeleteObject"
            verdict = policygate.decideKey(call.s3, call.user, action, key)
            if verdict == policy.DENY:
                raise S3Error("AccessDenied")
        except S3Error as error:
            errors.append((key, version, error))
            continue
        wanted.append((key, version))
        verdicts.append(verdict)
    # The policy stands for the bucket's ACL only if it allows every key.
    call.granted = bool(verdicts) and all(v == policy.ALLOW for v in verdicts)
    deleted = await call.store.deleteObjects(call.s3.bucket, wanted, call.bucketCheck(acl.WRITE),
                                             call.userName or "anonymous")
    result = s3xml.document("DeleteResult")
    if not quiet:
        for key, version, deletion in deleted:
            element = s3xml.add(result, "Deleted")
            s3xml.add(element, "Key", key)
            if version is not None:
                s3xml.add(element, "VersionId", version)
            if deletion is not None and deletion.deleteMarker:
                s3xml.add(element, "DeleteMarker", "true")
                if version is None:
                    s3xml.add(element, "DeleteMarkerVersionId", deletion.versionId)
    for key, version, error in errors:
        element = s3xml.add(result, "Error")
        s3xml.add(element, "Key", key)
        if version is not None:
            s3xml.add(element, "VersionId", version)
        s3xml.add(element, "Code", error.code)
        s3xml.add(element, "Message", error.message)
    return xmlResponse(result)
