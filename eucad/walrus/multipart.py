"""Multipart uploads: create, upload part (and part copy), list, complete, abort.

Each part is a blob of its own; completing an upload turns the chosen part
blobs into the object's segments in one transaction, so completing a 5 GiB
upload copies nothing.  The ETag is S3's: MD5 of the parts' binary MD5s,
then ``-N``.
"""

from eucad.walrus import acl, s3xml, tagging
from eucad.walrus.checksums import CRC_POLYNOMIALS, algorithmOfHeader, checkAlgorithm
from eucad.walrus.checksums import responseHeaders as checksumHeaders
from eucad.walrus.copysource import copyConditions, parseCopySource, sourceReadCheck
from eucad.walrus.errors import S3Error
from eucad.walrus.responses import emptyResponse, isoDate, quoteEtag, unquoteEtag, xmlResponse
from eucad.walrus.writeconditions import writeCondition
from eucad.walrus.uploadstore import MAX_PARTS


def _owner(parent, tag, name):
    element = s3xml.add(parent, tag)
    s3xml.add(element, "ID", name)
    s3xml.add(element, "DisplayName", name)


def _uploadId(call):
    uploadId = call.s3.query.get("uploadId", "")
    if not uploadId:
        raise S3Error("InvalidArgument", "The uploadId must not be empty.",
                      ArgumentName="uploadId")
    return uploadId


async def create(call):
    s3 = call.s3
    algorithm = (s3.header("x-amz-checksum-algorithm") or "").upper()
    if algorithm:
        checkAlgorithm(algorithm)
    checksumType = (s3.header("x-amz-checksum-type") or "").upper()
    if checksumType not in ("", "COMPOSITE", "FULL_OBJECT"):
        raise S3Error("InvalidRequest", "Unknown x-amz-checksum-type %s." % (checksumType,))
    if checksumType and not algorithm:
        raise S3Error("InvalidRequest", "x-amz-checksum-type needs x-amz-checksum-algorithm.")
    if checksumType == "FULL_OBJECT" and algorithm not in CRC_POLYNOMIALS:
        raise S3Error("InvalidRequest", "The FULL_OBJECT checksum type is not supported "
                      "for %s." % (algorithm,))
    upload = await call.store.createUpload(
        call.userName or "anonymous", s3.bucket, s3.key, call.objectHeaders(),
        call.userMetadata(), call.aclFromHeaders(), call.bucketCheck(acl.WRITE), algorithm,
        checksumType, tagging.tagsFromHeader(s3.headers))
    root = s3xml.document("InitiateMultipartUploadResult")
    s3xml.add(root, "Bucket", s3.bucket)
    s3xml.add(root, "Key", s3.key)
    s3xml.add(root, "UploadId", upload.uploadId)
    headers = {"x-amz-checksum-algorithm": algorithm} if algorithm else {}
    if algorithm:
        headers["x-amz-checksum-type"] = checksumType or "COMPOSITE"
    return xmlResponse(root, headers=headers)


def _partNumber(call):
    number = call.intArg("partNumber", None, 1)
    if number is None or number > MAX_PARTS:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, "
                      "inclusive", ArgumentName="partNumber",
                      ArgumentValue=call.s3.query.get("partNumber", ""))
    return number


def parseCopyRange(text):
    """``bytes=first-last`` -> (start, length)."""
    if not text.startswith("bytes="):
        raise S3Error("InvalidArgument", "The x-amz-copy-source-range value must be of the form "
                      "bytes=first-last", ArgumentName="x-amz-copy-source-range")
    first, _, last = text[len("bytes="):].partition("-")
    try:
        start, end = int(first), int(last)
    except ValueError:
        raise S3Error("InvalidArgument", "The x-amz-copy-source-range value must be of the form "
                      "bytes=first-last", ArgumentName="x-amz-copy-source-range")
    if start < 0 or end < start:
        raise S3Error("InvalidRange")
    return start, end - start + 1


async def uploadPart(call):
    s3 = call.s3
    uploadId = _uploadId(call)
    number = _partNumber(call)
    if s3.header("x-amz-copy-source"):
        sourceBucket, sourceKey, sourceVersion = parseCopySource(s3.header("x-amz-copy-source"))
        copyRange = s3.header("x-amz-copy-source-range")
        start, length = parseCopyRange(copyRange.strip()) if copyRange else (0, None)
        _, part = await call.store.copyPart(
            uploadId, s3.bucket, s3.key, number, sourceBucket, sourceKey,
            sourceReadCheck(call), copyConditions(s3.headers), start, length,
            call.uploadCheck(), [], sourceVersion)
        root = s3xml.document("CopyPartResult")
        s3xml.add(root, "LastModified", isoDate(part.modified))
        s3xml.add(root, "ETag", quoteEtag(part.etag))
        copied = {"x-amz-copy-source-version-id": sourceVersion} if sourceVersion else {}
        return xmlResponse(root, headers=copied)
    part = await call.store.putPart(uploadId, s3.bucket, s3.key, number, call.body,
                                    call.checksums, call.uploadCheck())
    headers = {"ETag": quoteEtag(part.etag)}
    headers.update(checksumHeaders(call.checksums))
    return emptyResponse(200, headers)


async def listParts(call):
    s3 = call.s3
    uploadId = _uploadId(call)
    marker = call.intArg("part-number-marker", 0, 0)
    maxParts = call.intArg("max-parts", 1000, 0, 1000)
    upload, parts, truncated = await call.store.listParts(
        uploadId, s3.bucket, s3.key, marker, maxParts, call.uploadCheck())
    root = s3xml.document("ListPartsResult")
    s3xml.add(root, "Bucket", s3.bucket)
    s3xml.add(root, "Key", s3.key)
    s3xml.add(root, "UploadId", uploadId)
    _owner(root, "Initiator", upload.owner)
    _owner(root, "Owner", upload.owner)
    s3xml.add(root, "StorageClass", "STANDARD")
    s3xml.add(root, "PartNumberMarker", str(marker))
    if parts:
        s3xml.add(root, "NextPartNumberMarker", str(parts[-1].number))
    s3xml.add(root, "MaxParts", str(maxParts))
    s3xml.add(root, "IsTruncated", "true" if truncated else "false")
    if upload.checksumAlgorithm:
        s3xml.add(root, "ChecksumAlgorithm", upload.checksumAlgorithm)
    for part in parts:
        element = s3xml.add(root, "Part")
        s3xml.add(element, "PartNumber", str(part.number))
        s3xml.add(element, "LastModified", isoDate(part.modified))
        s3xml.add(element, "ETag", quoteEtag(part.etag))
        s3xml.add(element, "Size", str(part.size))
        for algorithm, value in part.checksums.items():
            s3xml.add(element, "Checksum" + algorithm, value)
    return xmlResponse(root)


async def listUploads(call):
    s3 = call.s3
    query = s3.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    keyMarker = query.get("key-marker", "")
    uploadIdMarker = query.get("upload-id-marker", "")
    maxUploads = call.intArg("max-uploads", 1000, 0, 1000)
    listing = await call.store.listUploads(s3.bucket, prefix, delimiter, keyMarker,
                                           uploadIdMarker, maxUploads,
                                           call.bucketCheck(acl.READ))
    root = s3xml.document("ListMultipartUploadsResult")
    s3xml.add(root, "Bucket", s3.bucket)
    s3xml.add(root, "KeyMarker", keyMarker)
    s3xml.add(root, "UploadIdMarker", uploadIdMarker)
    if listing.truncated and listing.entries:
        s3xml.add(root, "NextKeyMarker", listing.entries[-1].key)
        s3xml.add(root, "NextUploadIdMarker", listing.entries[-1].uploadId)
    s3xml.add(root, "Prefix", prefix)
    if delimiter:
        s3xml.add(root, "Delimiter", delimiter)
    s3xml.add(root, "MaxUploads", str(maxUploads))
    s3xml.add(root, "IsTruncated", "true" if listing.truncated else "false")
    for upload in listing.entries:
        element = s3xml.add(root, "Upload")
        s3xml.add(element, "Key", upload.key)
        s3xml.add(element, "UploadId", upload.uploadId)
        _owner(element, "Initiator", upload.owner)
        _owner(element, "Owner", upload.owner)
        s3xml.add(element, "StorageClass", "STANDARD")
        s3xml.add(element, "Initiated", isoDate(upload.initiated))
    for common in listing.commonPrefixes:
        s3xml.add(s3xml.add(root, "CommonPrefixes"), "Prefix", common)
    return xmlResponse(root)


def parseCompletion(body):
    """CompleteMultipartUpload -> [(number, etag, {algorithm: checksum})]."""
    root = s3xml.parseXml(body)
    if s3xml.localName(root) != "CompleteMultipartUpload":
        raise S3Error("MalformedXML")
    requested = []
    for element in s3xml.children(root, "Part"):
        number = s3xml.childText(element, "PartNumber")
        etag = s3xml.childText(element, "ETag")
        if number is None or etag is None:
            raise S3Error("MalformedXML")
        try:
            number = int(number.strip())
        except ValueError:
            raise S3Error("MalformedXML")
        sums = {}
        for algorithm in ("CRC32", "CRC32C", "SHA1", "SHA256"):
            value = s3xml.childText(element, "Checksum" + algorithm)
            if value:
                sums[algorithm] = value.strip()
        requested.append((number, unquoteEtag(etag), sums))
    if len(requested) > MAX_PARTS:
        raise S3Error("MalformedXML")
    return requested


def wholeChecksumOf(headers):
    """
    (algorithm, value) of the ``x-amz-checksum-*`` header a Complete
    carries: the whole object's checksum (COMPOSITE ``...-N`` or
    FULL_OBJECT), never the XML body's.
    """
    found = None
    for name, values in headers.items():
        algorithm = algorithmOfHeader(name)
        if algorithm:
            checkAlgorithm(algorithm)
            found = (algorithm, values[0])
    return found


async def complete(call):
    s3 = call.s3
    uploadId = _uploadId(call)
    requested = parseCompletion(await call.readBody(s3xml.MAX_XML_BYTES))
    obj = await call.store.completeUpload(uploadId, s3.bucket, s3.key, requested,
                                          call.uploadCheck(), wholeChecksumOf(s3.headers),
                                          writeCondition(s3.headers, s3.key))
    root = s3xml.document("CompleteMultipartUploadResult")
    s3xml.add(root, "Location", "/%s/%s" % (s3.bucket, s3.key))
    s3xml.add(root, "Bucket", s3.bucket)
    s3xml.add(root, "Key", s3.key)
    s3xml.add(root, "ETag", quoteEtag(obj.etag))
    for algorithm, value in obj.checksums.items():
        s3xml.add(root, "Checksum" + algorithm, value)
        s3xml.add(root, "ChecksumType", "COMPOSITE" if "-" in value else "FULL_OBJECT")
    headers = {}
    if obj.versionId not in (None, "null"):
        headers["x-amz-version-id"] = obj.versionId
    return xmlResponse(root, headers=headers)


async def abort(call):
    s3 = call.s3
    await call.store.abortUpload(_uploadId(call), s3.bucket, s3.key, call.uploadCheck())
    return emptyResponse(204)
