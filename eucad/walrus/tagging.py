"""Tags on objects and buckets: the Tagging document, the x-amz-tagging header, the limits.

S3 keeps a tag set per object (at most 10 tags) and per bucket (at most
50): keys of 1 to 128 characters, values of up to 256, letters, digits,
white space and ``_ . : / = + - @`` only, no key twice and no key under the
reserved ``aws:`` prefix; anything else is ``InvalidTag`` (``MalformedXML``
for a document of the wrong shape).  A PUT, COPY or CreateMultipartUpload
may set an object's tags with ``x-amz-tagging`` (URL-query encoded; an
upload keeps them for the object it completes), COPY keeps the source's unless
``x-amz-tagging-directive: REPLACE``; GET and HEAD answer the count in
``x-amz-tagging-count``.

Tag sets are kept as ``{key: value}`` in their given order (the object's
row, eucad.walrus.configstore; a bucket's is a JSON configuration document).
"""

import json
import unicodedata
from urllib.parse import parse_qsl

from eucad.walrus import acl, policygate, s3xml, versions
from eucad.walrus.errors import S3Error
from eucad.walrus.responses import emptyResponse, xmlResponse

MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 256
#: A Tagging document of 50 tags of the longest keys and values is ~40 KB.
MAX_TAGGING_BYTES = 64 * 1024
_PUNCTUATION = frozenset("_.:/=+-@")


def _allowed(text):
    """Letters, numbers, separators (spaces) and S3's punctuation only."""
    for char in text:
        if char in _PUNCTUATION:
            continue
        if unicodedata.category(char)[0] not in "LNZ":
            return False
    return True


def validate(pairs, limit):
    """
    ``pairs`` [(key, value)] -> {key: value}, or InvalidTag naming the
    first rule broken.
    """
    if len(pairs) > limit:
        raise S3Error("InvalidTag", "Object tags cannot be greater than %d" % (limit,)
                      if limit == MAX_OBJECT_TAGS else
                      "Bucket tags cannot be greater than %d" % (limit,))
    tags = {}
    for key, value in pairs:
        if not key or len(key) > MAX_KEY_CHARS:
            raise S3Error("InvalidTag", "The TagKey you have provided is too long, max %d"
                          % (MAX_KEY_CHARS,) if key else "The TagKey you have provided is "
                          "invalid", TagKey=key)
        if len(value) > MAX_VALUE_CHARS:
            raise S3Error("InvalidTag", "The TagValue you have provided is too long, max %d"
                          % (MAX_VALUE_CHARS,), TagKey=key)
        if not _allowed(key) or not _allowed(value):
            raise S3Error("InvalidTag", "The TagKey or TagValue you have provided contains "
                          "characters that are not allowed", TagKey=key)
        if key.lower().startswith("aws:"):
            raise S3Error("InvalidTag", "Your TagKey cannot be prefixed with aws:", TagKey=key)
        if key in tags:
            raise S3Error("InvalidTag", "Cannot provide multiple Tags with the same key",
                          TagKey=key)
        tags[key] = value
    return tags


def parseTagging(body, limit):
    """The tag set of a ``<Tagging><TagSet><Tag>...`` document (bytes)."""
    root = s3xml.parseXml(body, limit=MAX_TAGGING_BYTES)
    if s3xml.localName(root) != "Tagging":
        raise S3Error("MalformedXML")
    tagSets = s3xml.children(root, "TagSet")
    if len(tagSets) != 1:
        raise S3Error("MalformedXML")
    pairs = []
    for element in tagSets[0]:
        if s3xml.localName(element) != "Tag":
            raise S3Error("MalformedXML")
        key = s3xml.childText(element, "Key")
        value = s3xml.childText(element, "Value")
        if key is None or value is None:
            raise S3Error("MalformedXML")
        pairs.append((key, value))
    return validate(pairs, limit)


def tagsFromHeader(headers):
    """The tag set ``x-amz-tagging`` asks for, or None without the header."""
    values = headers.get("x-amz-tagging")
    if not values:
        return None
    text = values[0]
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                          errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise S3Error("InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 "
                      "then URLEncoded URL query parameters without tag name duplicates.",
                      ArgumentName="x-amz-tagging", ArgumentValue=text)
    if len({key for key, _ in pairs}) != len(pairs):
        raise S3Error("InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 "
                      "then URLEncoded URL query parameters without tag name duplicates.",
                      ArgumentName="x-amz-tagging", ArgumentValue=text)
    return validate(pairs, MAX_OBJECT_TAGS)


def copiedTags(headers):
    """
    ``tagsOf(source)`` for CopyObject: the source's tags (directive COPY,
    the default) or the request's own (REPLACE).
    """
    directive = (headers.get("x-amz-tagging-directive") or ["COPY"])[0].strip().upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown tagging directive.",
                      ArgumentName="x-amz-tagging-directive", ArgumentValue=directive)
    if directive == "REPLACE":
        replaced = tagsFromHeader(headers)
        return lambda source: replaced
    return lambda source: dict(source.tags or {})


def countHeader(obj):
    """``{"x-amz-tagging-count": n}`` for an object with tags, else {}."""
    tags = getattr(obj, "tags", None)
    return {"x-amz-tagging-count": str(len(tags))} if tags else {}


def taggingDocument(tags):
    root = s3xml.document("Tagging")
    tagSet = s3xml.add(root, "TagSet")
    for key, value in tags.items():
        element = s3xml.add(tagSet, "Tag")
        s3xml.add(element, "Key", key)
        s3xml.add(element, "Value", value)
    return root


# -- object tagging ---------------------------------------------------------------
def _objectTagCheck(call):
    """
    Who may change an object's tags: whoever may write the bucket, and the
    object's owner (S3's PutObjectTagging/DeleteObjectTagging for the ACL era).
    """
    def check(bucket, obj):
        if call.granted or acl.allows(bucket.acl, call.user, acl.WRITE):
            return
        if call.user is not None and call.user.name in (obj.owner, bucket.owner):
            return
        raise S3Error("AccessDenied")
    return check


async def _setTags(call, versionId, tags, status):
    """
    Replace the tags of the key's current version, or of the version
    ``versionId`` names (each version keeps its own); the answer names the
    version changed, as S3's does in a versioned bucket.
    """
    if versionId is not None:
        await call.store.setVersionTags(call.s3.bucket, call.s3.key, versionId,
                                        _objectTagCheck(call), tags)
        return emptyResponse(status, {"x-amz-version-id": versionId})
    changed = await call.store.setObjectTags(call.s3.bucket, call.s3.key,
                                             _objectTagCheck(call), tags)
    if changed is not None and changed != versions.NULL:
        return emptyResponse(status, {"x-amz-version-id": changed})
    return emptyResponse(status)


async def putObjectTagging(call, versionId=None):
    tags = parseTagging(await call.readBody(MAX_TAGGING_BYTES), MAX_OBJECT_TAGS)
    # A bucket policy on s3:RequestObjectTag decides once the tags are known.
    call.granted = await policygate.decideTagging(call.walrus, call.s3, call.user, tags)
    return await _setTags(call, versionId, tags, 200)


async def getObjectTagging(call, versionId=None):
    """The tag set of the key's current version, or of ``versionId`` (kept with each version)."""
    if versionId is not None:
        _, obj = await versions.readableVersion(call, versionId)
        return xmlResponse(taggingDocument(obj.tags or {}),
                           headers={"x-amz-version-id": obj.versionId})
    bucket, obj = await call.store.headObject(call.s3.bucket, call.s3.key)
    if not call.allows(obj.acl, acl.READ):
        raise S3Error("AccessDenied")
    # S3 names the current version in a versioned bucket.
    return xmlResponse(taggingDocument(obj.tags or {}),
                       headers=versions.versionHeaders(bucket, obj))


async def deleteObjectTagging(call, versionId=None):
    return await _setTags(call, versionId, None, 204)


# -- bucket tagging -----------------------------------------------------------------
async def putBucketTagging(call):
    tags = parseTagging(await call.readBody(MAX_TAGGING_BYTES), MAX_BUCKET_TAGS)
    await call.store.putBucketConfig(call.s3.bucket, "tagging", json.dumps(tags),
                                     call.ownerCheck())
    return emptyResponse(204)


async def getBucketTagging(call):
    document = await call.store.getBucketConfig(call.s3.bucket, "tagging", call.ownerCheck())
    if document is None:
        raise S3Error("NoSuchTagSet", BucketName=call.s3.bucket)
    return xmlResponse(taggingDocument(json.loads(document)))


async def deleteBucketTagging(call):
    await call.store.deleteBucketConfig(call.s3.bucket, "tagging", call.ownerCheck())
    return emptyResponse(204)
