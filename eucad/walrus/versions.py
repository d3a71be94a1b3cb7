"""The S3 operations of versioning: Put/GetBucketVersioning, ListObjectVersions,
and what versions add to the object level's answers.

The object level (eucad.walrus.objects) calls ``readableVersion``,
``versionHeaders`` and ``hiddenByMarker`` for GET/HEAD/DELETE/COPY with or
without ``versionId``; the bucket level (eucad.walrus.bucket) routes
``?versioning`` and ``?versions`` here.  What a version is in the store is
eucad.walrus.versioning.
"""

from eucad.walrus import acl, s3xml
from eucad.walrus.errors import S3Error
from eucad.walrus.responses import emptyResponse, httpDate, isoDate, quoteEtag, xmlResponse
from eucad.walrus.versioning import ENABLED, NULL, SUSPENDED, checkVersionId, isVersioned


# -- the bucket's status -------------------------------------------------------------
async def putVersioning(call):
    """PutBucketVersioning: Enabled or Suspended, by the bucket's owner."""
    call.requireUser()
    root = s3xml.parseXml(await call.readBody(s3xml.MAX_XML_BYTES))
    if s3xml.localName(root) != "VersioningConfiguration":
        raise S3Error("MalformedXML")
    status = (s3xml.childText(root, "Status", "") or "").strip()
    if status not in (ENABLED, SUSPENDED):
        raise S3Error("IllegalVersioningConfigurationException",
                      "The Versioning element must be specified", status=400)
    mfaDelete = (s3xml.childText(root, "MfaDelete", "") or "").strip()
    if mfaDelete == "Enabled":
        raise S3Error("NotImplemented", "MFA Delete is not implemented by Walrus.")
    await call.store.setVersioning(call.s3.bucket, status, call.ownerCheck())
    return emptyResponse(200)


async def getVersioning(call):
    """GetBucketVersioning: no Status until versioning was first set, as in S3."""
    bucket = await call.store.getBucket(call.s3.bucket)
    call.bucketCheck(acl.READ)(bucket)
    root = s3xml.document("VersioningConfiguration")
    if bucket.versioning:
        s3xml.add(root, "Status", bucket.versioning)
    return xmlResponse(root)


# -- the object level's answers -------------------------------------------------------
def requestedVersion(call):
    """The ``versionId`` of the request (checked), or None."""
    versionId = call.s3.query.get("versionId")
    if versionId is not None:
        checkVersionId(versionId)
    return versionId


def versionHeaders(bucket, version):
    """``x-amz-version-id`` (and the marker flag) of a version in a versioned bucket."""
    headers = {}
    if isVersioned(bucket) or version.versionId != NULL:
        headers["x-amz-version-id"] = version.versionId
    if getattr(version, "deleteMarker", False):
        headers["x-amz-delete-marker"] = "true"
    return headers


async def readableVersion(call, versionId):
    """
    (bucket, version) of a GET/HEAD by version id: 405 with the marker's
    headers for a delete marker, AccessDenied without READ on the version.
    """
    bucket, version, _latest = await call.store.lookupVersion(call.s3.bucket, call.s3.key,
                                                             versionId)
    if version.deleteMarker:
        error = S3Error("MethodNotAllowed", "The specified method is not allowed against "
                        "this resource.", Method=call.s3.method, ResourceType="DeleteMarker")
        error.headers = dict(versionHeaders(bucket, version),
                             **{"Last-Modified": httpDate(version.modified),
                                "Allow": "DELETE"})
        raise error
    if not call.allows(version.acl, acl.READ):
        raise S3Error("AccessDenied")
    return bucket, version


async def hiddenByMarker(call, error):
    """``error`` (NoSuchKey) with the headers of the delete marker hiding the key, if any."""
    marker = await call.store.currentDeleteMarker(call.s3.bucket, call.s3.key)
    if marker is not None:
        error.headers = {"x-amz-delete-marker": "true", "x-amz-version-id": marker.versionId}
    return error


def deletionHeaders(deletion):
    """The headers DeleteObject answers for a Deletion (none in an unversioned bucket)."""
    if deletion is None:
        return {}
    headers = {"x-amz-version-id": deletion.versionId}
    if deletion.deleteMarker:
        headers["x-amz-delete-marker"] = "true"
    return headers


# -- ListObjectVersions ---------------------------------------------------------------
async def listVersions(call, encode):
    """ListObjectVersions, paged by key-marker and version-id-marker."""
    query = call.s3.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    maxKeys = call.intArg("max-keys", 1000, 0, 1000)
    keyMarker = query.get("key-marker", "")
    versionMarker = query.get("version-id-marker", "")
    if versionMarker and not keyMarker:
        raise S3Error("InvalidArgument", "A version-id marker cannot be specified without "
                      "a key marker.", ArgumentName="version-id-marker",
                      ArgumentValue=versionMarker)
    if versionMarker:
        checkVersionId(versionMarker)
    _, listing = await call.store.listVersions(call.s3.bucket, prefix, delimiter, keyMarker,
                                               versionMarker, maxKeys,
                                               call.bucketCheck(acl.READ))
    root = s3xml.document("ListVersionsResult")
    s3xml.add(root, "Name", call.s3.bucket)
    s3xml.add(root, "Prefix", encode(prefix))
    s3xml.add(root, "KeyMarker", encode(keyMarker))
    s3xml.add(root, "VersionIdMarker", versionMarker)
    s3xml.add(root, "MaxKeys", str(maxKeys))
    if delimiter:
        s3xml.add(root, "Delimiter", encode(delimiter))
    if "encoding-type" in query:
        s3xml.add(root, "EncodingType", "url")
    s3xml.add(root, "IsTruncated", "true" if listing.truncated else "false")
    if listing.truncated:
        s3xml.add(root, "NextKeyMarker", encode(listing.nextKey))
        if listing.nextVersionId is not None:
            s3xml.add(root, "NextVersionIdMarker", listing.nextVersionId)
    return xmlResponse(s3xml.serializeWith(root, _entries(listing, encode)))


def _entries(listing, encode):
    """The serialized Version and DeleteMarker elements, then the CommonPrefixes."""
    owner = ("Owner", ["ID", "DisplayName"])
    versionElement = s3xml.RepeatedElement("Version", [
        "Key", "VersionId", "IsLatest", "LastModified", "ETag", "Size", "StorageClass", owner])
    markerElement = s3xml.RepeatedElement("DeleteMarker", [
        "Key", "VersionId", "IsLatest", "LastModified", owner])
    parts = []
    for version, latest in listing.entries:
        texts = [encode(version.key), version.versionId, "true" if latest else "false",
                 isoDate(version.modified)]
        if version.deleteMarker:
            parts.append(markerElement.render(texts + [version.owner, version.owner]))
        else:
            parts.append(versionElement.render(texts + [
                quoteEtag(version.etag), str(version.size), "STANDARD", version.owner,
                version.owner]))
    common = s3xml.RepeatedElement("CommonPrefixes", ["Prefix"])
    parts.extend(common.render([encode(prefix)]) for prefix in listing.commonPrefixes)
    return b"".join(parts)
