"""The S3 object level: PUT, GET, HEAD, DELETE, CopyObject and object ACLs.

GET and HEAD honour Range and the four conditional headers; bodies leave
through ``eucad.walrus.zerocopy`` (large) or in one read (small).  A PUT's
body has already been spooled, hashed and checked by the time it gets here;
storing it is ``WalrusStore.putObject``.  Multipart operations at this level
are in ``eucad.walrus.multipart``.
"""

from eucad.walrus import acl, multipart, s3xml, tagging, versions, zerocopy
from eucad.walrus.call import objectResponseHeaders
from eucad.walrus.checksums import responseHeaders as checksumHeaders
from eucad.walrus.conditions import evaluateConditions, parseRange
from eucad.walrus.copysource import copyConditions, parseCopySource, sourceReadCheck
from eucad.walrus.errors import S3Error
from eucad.walrus.responses import Response, emptyResponse, isoDate, quoteEtag, xmlResponse
from eucad.walrus.rows import ObjectRow
from eucad.walrus.writeconditions import writeCondition

#: Ranges up to this size are read in one go instead of streamed.
SMALL_READ = 256 * 1024

UNSUPPORTED = frozenset("torrent legal-hold retention restore select "
                        "renameObject".split())
#: What GetObjectAttributes may be asked for (x-amz-object-attributes).
OBJECT_ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")

RESPONSE_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


async def dispatch(call):
    s3 = call.s3
    method = s3.method
    query = s3.query
    for name in query:
        if name in UNSUPPORTED:
            raise S3Error("NotImplemented", "Object %s is not implemented by Walrus." % (name,))
    version = versions.requestedVersion(call)
    if method == "PUT":
        if "acl" in query:
            return await putAcl(call, version)
        if "tagging" in query:
            return await tagging.putObjectTagging(call, version)
        if version is not None:
            raise S3Error("NotImplemented", "Writing to a version by id is not implemented "
                          "by Walrus.")
        if "uploadId" in query or "partNumber" in query:
            return await multipart.uploadPart(call)
        if s3.header("x-amz-copy-source"):
            return await copy(call)
        return await put(call)
    if method in ("GET", "HEAD"):
        if "acl" in query:
            return await getAcl(call)
        if "tagging" in query and method == "GET":
            return await tagging.getObjectTagging(call, version)
        if "attributes" in query and method == "GET":
            return await attributes(call)
        if "uploadId" in query:
            return await multipart.listParts(call)
        return await get(call, method == "HEAD")
    if method == "DELETE":
        if "uploadId" in query:
            return await multipart.abort(call)
        if "tagging" in query:
            return await tagging.deleteObjectTagging(call, version)
        return await remove(call)
    if method == "POST":
        if "uploads" in query:
            return await multipart.create(call)
        if "uploadId" in query:
            return await multipart.complete(call)
        raise S3Error("NotImplemented", "This POST on an object is not implemented.")
    raise S3Error("MethodNotAllowed", Method=method, ResourceType="OBJECT")


async def put(call):
    if "content-length" not in call.s3.headers and "transfer-encoding" not in call.s3.headers:
        raise S3Error("MissingContentLength")
    headers = call.objectHeaders()
    meta = call.userMetadata()
    makeAcl = call.aclFromHeaders()
    condition = writeCondition(call.s3.headers, call.s3.key)
    tags = tagging.tagsFromHeader(call.s3.headers)
    obj = await call.store.putObject(
        call.userName or "anonymous", call.s3.bucket, call.s3.key, call.body, headers, meta,
        makeAcl, call.bucketCheck(acl.WRITE), call.checksums, condition, tags)
    result = {"ETag": quoteEtag(obj.etag)}
    result.update(checksumHeaders(call.checksums))
    if obj.versionId != versions.NULL:
        result["x-amz-version-id"] = obj.versionId
    return emptyResponse(200, result)


async def remove(call):
    if call.s3.header("if-none-match") is not None:
        raise S3Error("NotImplemented", "DELETE takes If-Match, not If-None-Match.")
    deletion = await call.store.deleteObject(
        call.s3.bucket, call.s3.key, call.bucketCheck(acl.WRITE),
        writeCondition(call.s3.headers, call.s3.key), versions.requestedVersion(call),
        call.userName or "anonymous")
    return emptyResponse(204, versions.deletionHeaders(deletion))


# -- reading ----------------------------------------------------------------
async def _lookupReadable(call, readUpTo=0):
    """
    (bucket row, object row (or the version ``?versionId=`` names), its
    bytes if it has at most ``readUpTo``, else None).
    """
    versionId = call.s3.query.get("versionId")
    if versionId is not None:
        bucket, version = await versions.readableVersion(call, versionId)
        return bucket, version, None
    bucket, obj, data = await call.store.lookupObject(call.s3.bucket, call.s3.key, readUpTo)
    if obj is None:
        # Without the right to list, a missing key is indistinguishable
        # from a forbidden one (as in S3).
        if not call.allows(bucket.acl, acl.READ):
            raise S3Error("AccessDenied")
        error = S3Error("NoSuchKey", Key=call.s3.key)
        if versions.isVersioned(bucket):
            error = await versions.hiddenByMarker(call, error)
        raise error
    if not call.allows(obj.acl, acl.READ):
        raise S3Error("AccessDenied")
    return bucket, obj, data


async def get(call, headOnly):
    s3 = call.s3
    for attempt in (1, 2):
        try:
            bucket, obj, whole = await _lookupReadable(call, 0 if headOnly else SMALL_READ)
        except FileNotFoundError:
            # Replaced between the lookup and the read: look again, once.
            if attempt == 2:
                raise S3Error("InternalError", "The object changed while being read.")
            continue
        condition = evaluateConditions(s3.headers, obj)
        if condition == 412:
            raise S3Error("PreconditionFailed", Condition="If-Match")
        if condition == 304:
            return emptyResponse(304, {"ETag": quoteEtag(obj.etag),
                                       "Last-Modified": objectResponseHeaders(obj)["Last-Modified"]})
        part = partRange(call, obj)
        requested = part[:2] if part is not None else parseRange(s3.header("range"), obj.size)
        start, length = requested if requested is not None else (0, obj.size)
        overrides = {header: s3.query[name] for name, header in RESPONSE_OVERRIDES.items()
                     if name in s3.query} if s3.query else None
        checksumMode = (s3.header("x-amz-checksum-mode") or "").upper() == "ENABLED"
        if overrides or (checksumMode and requested is None):
            headers = objectResponseHeaders(obj, overrides, checksumMode and requested is None)
            headers.update(versions.versionHeaders(bucket, obj))
            headers.update(tagging.countHeader(obj))
        else:
            headers = dict(answerHeaders(bucket, obj))
        headers["Content-Length"] = str(length)
        status = 200
        if requested is not None:
            status = 206
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, start + length - 1, obj.size)
        if part is not None and "-" in obj.etag:
            headers["x-amz-mp-parts-count"] = str(part[2])
        if headOnly:
            return Response(status, headers)
        if whole is not None:
            return Response(status, headers, whole[start:start + length])
        try:
            if length <= SMALL_READ:
                data = await call.store.readRange(obj, start, length) if length else b""
                return Response(status, headers, data)
            handles = await call.store.openSegments(obj)
        except FileNotFoundError:
            # Replaced between the lookup and the open: look again, once.
            if attempt == 2:
                raise S3Error("InternalError", "The object changed while being read.")
            continue
        segments = [(handle, size) for handle, (_blob, size) in zip(handles, obj.segments)]

        def stream(request, segments=segments, start=start, length=length):
            return zerocopy.stream(request, segments, start, length, call.walrus.runIo)
        return Response(status, headers, producer=stream)


def answerHeaders(bucket, obj):
    """
    The headers a plain GET or HEAD of ``obj`` answers (no overrides, no
    checksums, before its length), kept on an ObjectRow: a cached row
    answers many GETs, and the row and its bucket's versioning status are
    all they depend on.  The caller copies them before adding its own.
    """
    versioned = versions.isVersioned(bucket)
    kept = getattr(obj, "answerHeaders", None)
    if kept is not None and kept[0] == versioned:
        return kept[1]
    headers = objectResponseHeaders(obj)
    headers.update(versions.versionHeaders(bucket, obj))
    headers.update(tagging.countHeader(obj))
    if isinstance(obj, ObjectRow):
        obj.answerHeaders = (versioned, headers)
    return headers


async def attributes(call):
    """GetObjectAttributes: the attributes x-amz-object-attributes names."""
    wanted = [name.strip() for name in
              ",".join(call.s3.headers.get("x-amz-object-attributes", [])).split(",")
              if name.strip()]
    if not wanted or any(name not in OBJECT_ATTRIBUTES for name in wanted):
        raise S3Error("InvalidArgument", "Invalid attribute name specified.",
                      ArgumentName="x-amz-object-attributes")
    bucket, obj, _ = await _lookupReadable(call)
    root = s3xml.document("GetObjectAttributesResponse")
    if "ETag" in wanted:
        s3xml.add(root, "ETag", obj.etag)
    if "Checksum" in wanted and obj.checksums:
        element = s3xml.add(root, "Checksum")
        for algorithm, value in obj.checksums.items():
            s3xml.add(element, "Checksum" + algorithm, value)
        s3xml.add(element, "ChecksumType",
                  "COMPOSITE" if "-" in next(iter(obj.checksums.values())) else "FULL_OBJECT")
    if "ObjectParts" in wanted and "-" in obj.etag:
        _objectParts(call, root, obj)
    if "StorageClass" in wanted:
        s3xml.add(root, "StorageClass", "STANDARD")
    if "ObjectSize" in wanted:
        s3xml.add(root, "ObjectSize", str(obj.size))
    return xmlResponse(root, headers=dict(versions.versionHeaders(bucket, obj), **{
        "Last-Modified": objectResponseHeaders(obj)["Last-Modified"]}))


def _objectParts(call, root, obj):
    """The ObjectParts of a multipart object: each segment is one part, in order."""
    headers = call.s3.headers
    try:
        marker = int((headers.get("x-amz-part-number-marker") or ["0"])[0])
        maxParts = int((headers.get("x-amz-max-parts") or ["1000"])[0])
    except ValueError:
        raise S3Error("InvalidArgument", "Part number marker and max parts must be integers.")
    maxParts = max(0, min(maxParts, 1000))
    parts = [(number, size) for number, (_blob, size) in enumerate(obj.segments, 1)
             if number > marker]
    shown, truncated = parts[:maxParts], len(parts) > maxParts
    element = s3xml.add(root, "ObjectParts")
    s3xml.add(element, "TotalPartsCount", str(len(obj.segments)))
    s3xml.add(element, "PartNumberMarker", str(marker))
    if shown:
        s3xml.add(element, "NextPartNumberMarker", str(shown[-1][0]))
    s3xml.add(element, "MaxParts", str(maxParts))
    s3xml.add(element, "IsTruncated", "true" if truncated else "false")
    for number, size in shown:
        part = s3xml.add(element, "Part")
        s3xml.add(part, "PartNumber", str(number))
        s3xml.add(part, "Size", str(size))


def partRange(call, obj):
    """
    (start, length, part count) of the part ``?partNumber=`` asks for on a
    GET or HEAD, or None without one.  A multipart object's parts are its
    segments; any other object is one part.  416 InvalidPartNumber past
    the last part, as S3 answers.
    """
    if "partNumber" not in call.s3.query:
        return None
    number = call.intArg("partNumber", None, 1)
    if number is None or number > 10000:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, "
                      "inclusive", ArgumentName="partNumber")
    if call.s3.header("range"):
        raise S3Error("InvalidRequest", "Cannot specify both Range header and partNumber "
                      "query parameter.")
    sizes = [size for _blob, size in obj.segments] if "-" in obj.etag else [obj.size]
    if number > len(sizes):
        raise S3Error("InvalidPartNumber", PartNumberRequested=str(number),
                      ActualPartCount=str(len(sizes)))
    return sum(sizes[:number - 1]), sizes[number - 1], len(sizes)


# -- copying ------------------------------------------------------------------
async def copy(call):
    s3 = call.s3
    sourceBucket, sourceKey, sourceVersion = parseCopySource(s3.header("x-amz-copy-source"))
    directive = (s3.header("x-amz-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown metadata directive.",
                      ArgumentName="x-amz-metadata-directive", ArgumentValue=directive)
    if directive == "COPY" and (sourceBucket, sourceKey) == (s3.bucket, s3.key) \
            and sourceVersion is None:
        raise S3Error("InvalidRequest", "This copy request is illegal because it is trying to "
                      "copy an object to itself without changing the object's metadata, "
                      "storage class, website redirect location or encryption attributes.")
    replaced = (call.objectHeaders(), call.userMetadata()) if directive == "REPLACE" else None

    def attributes(source):
        if replaced is not None:
            return replaced
        return dict(source.headers), dict(source.meta)
    algorithm = s3.header("x-amz-checksum-algorithm")
    algorithms = [algorithm.upper()] if algorithm else []
    obj, source = await call.store.copyObject(
        call.userName or "anonymous", sourceBucket, sourceKey, sourceReadCheck(call),
        copyConditions(s3.headers), s3.bucket, s3.key, attributes, call.aclFromHeaders(),
        call.bucketCheck(acl.WRITE), algorithms, tagging.copiedTags(s3.headers), sourceVersion)
    root = s3xml.document("CopyObjectResult")
    s3xml.add(root, "LastModified", isoDate(obj.modified))
    s3xml.add(root, "ETag", quoteEtag(obj.etag))
    for name, value in obj.checksums.items():
        s3xml.add(root, "Checksum" + name, value)
    headers = {}
    if sourceVersion is not None or source.versionId != versions.NULL:
        headers["x-amz-copy-source-version-id"] = source.versionId
    if obj.versionId != versions.NULL:
        headers["x-amz-version-id"] = obj.versionId
    return xmlResponse(root, headers=headers)


# -- ACLs ----------------------------------------------------------------------
async def getAcl(call):
    versionId = call.s3.query.get("versionId")
    if versionId is not None:
        _, obj, _latest = await call.store.lookupVersion(call.s3.bucket, call.s3.key, versionId)
        if obj.deleteMarker:
            raise S3Error("MethodNotAllowed", Method="GET", ResourceType="DeleteMarker")
    else:
        _, obj = await call.store.headObject(call.s3.bucket, call.s3.key)
    if not call.allows(obj.acl, acl.READ_ACP):
        raise S3Error("AccessDenied")
    return xmlResponse(acl.toXml(obj.acl))


async def putAcl(call, versionId=None):
    from eucad.walrus.bucket import aclFromRequest
    build = await aclFromRequest(call, None)

    def makeAcl(bucket, obj):
        return build(obj.acl["owner"], bucket.owner)
    if versionId is not None:
        await call.store.setVersionAcl(call.s3.bucket, call.s3.key, versionId,
                                       call.objectCheck(acl.WRITE_ACP), makeAcl)
        return emptyResponse(200, {"x-amz-version-id": versionId})
    await call.store.setObjectAcl(call.s3.bucket, call.s3.key, call.objectCheck(acl.WRITE_ACP),
                                  makeAcl)
    return emptyResponse(200)
