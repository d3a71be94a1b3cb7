"""Browser POST upload: an HTML form, a signed policy, and a file.

The form carries the key, the fields the object keeps (ACL, Content-Type,
x-amz-meta-*), a base64 JSON policy that bounds them, and the policy's
signature: SigV2 (HMAC-SHA1 of the policy, ``AWSAccessKeyId``/``signature``)
or SigV4 (``X-Amz-Credential``/``X-Amz-Signature``).  A form without a
policy is anonymous and needs a bucket anonymous users may write.  Every
field must be allowed by a policy condition, and the file must fit its
``content-length-range``; only then is it stored, like a PUT.
"""

import base64
import binascii
import calendar
import hashlib
import hmac
import io
import json
import time
from urllib.parse import quote

from eucad.common import signing
from eucad.walrus import acl, checksums, formdata, names, s3xml
from eucad.walrus.spooled import SpooledBody
from eucad.walrus.call import DEFAULT_CONTENT_TYPE, MAX_METADATA_BYTES
from eucad.walrus.errors import S3Error
from eucad.walrus.responses import Response, emptyResponse, quoteEtag, xmlResponse

#: Fields that are never named by policy conditions.
UNCHECKED_FIELDS = {"policy", "signature", "awsaccesskeyid", "x-amz-signature", "file"}
KEPT_HEADERS = ("content-type", "cache-control", "content-disposition", "content-encoding",
                "expires")


def _policyError(message):
    return S3Error("AccessDenied", "Invalid according to Policy: " + message)


def _parseExpiration(text):
    for pattern in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return calendar.timegm(time.strptime(text, pattern))
        except ValueError:
            continue
    raise S3Error("InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value.")


def checkPolicy(policyText, fields, bucket, fileSize, now):
    """
    Raise unless ``fields`` (lower-case names) satisfy the decoded policy
    ``policyText`` for an upload of ``fileSize`` bytes to ``bucket``.
    """
    try:
        policy = json.loads(policyText)
        expiration = _parseExpiration(policy["expiration"])
        conditions = policy.get("conditions", [])
        if not isinstance(conditions, list):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise S3Error("InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
    if now > expiration:
        raise _policyError("Policy expired.")
    values = dict(fields)
    values["bucket"] = bucket
    covered = set()
    for condition in conditions:
        if isinstance(condition, dict):
            if len(condition) != 1:
                raise S3Error("InvalidPolicyDocument", "Invalid Policy: bad condition.")
            (name, expected), = condition.items()
            operator, name = "eq", "$" + name
        elif isinstance(condition, list) and len(condition) == 3:
            operator, name, expected = condition
            operator = str(operator).lower()
        else:
            raise S3Error("InvalidPolicyDocument", "Invalid Policy: bad condition.")
        if operator == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
            if not low <= fileSize <= high:
                raise S3Error("EntityTooLarge" if fileSize > high else "EntityTooSmall",
                              ProposedSize=str(fileSize), MaxSizeAllowed=str(high),
                              MinSizeAllowed=str(low))
            continue
        if not isinstance(name, str) or not name.startswith("$"):
            raise S3Error("InvalidPolicyDocument", "Invalid Policy: bad condition.")
        field = name[1:].lower()
        actual = values.get(field, "")
        expected = str(expected)
        if operator == "eq":
            ok = actual == expected
        elif operator == "starts-with":
            if field == "content-type":
                ok = all(part.strip().startswith(expected) for part in actual.split(","))
            else:
                ok = actual.startswith(expected)
        else:
            raise S3Error("InvalidPolicyDocument", "Invalid Policy: unknown operator.")
        if not ok:
            raise _policyError("Policy Condition failed: [\"%s\", \"%s\", \"%s\"]"
                               % (operator, name, expected))
        covered.add(field)
    for field in fields:
        if field in UNCHECKED_FIELDS or field.startswith("x-ignore-") or field in covered:
            continue
        raise _policyError("Extra input fields: %s" % (field,))


async def _authenticate(call, fields):
    """The user who signed the form's policy, or None for an unsigned form."""
    policy = fields.get("policy")
    if policy is None:
        if "signature" in fields or "x-amz-signature" in fields:
            raise S3Error("InvalidArgument", "A signature needs a policy.",
                          ArgumentName="policy")
        return None, None
    try:
        policyText = base64.b64decode(policy.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        raise S3Error("InvalidPolicyDocument", "Invalid Policy: Invalid 'Base64' encoding.")
    users = call.walrus.users
    if "x-amz-signature" in fields:
        if fields.get("x-amz-algorithm") != signing.V4_ALGORITHM:
            raise S3Error("InvalidArgument", "Unsupported x-amz-algorithm",
                          ArgumentName="x-amz-algorithm")
        try:
            credential = signing.V4Credential(fields.get("x-amz-credential", ""))
        except signing.SignatureError:
            raise S3Error("InvalidArgument", "Bad x-amz-credential",
                          ArgumentName="x-amz-credential")
        user = await users.byAccessKey(credential.accessKey)
        if user is None:
            raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=credential.accessKey)
        key = signing.v4SigningKey(user.secretKey, credential.date, credential.region,
                                   credential.service)
        expected = hmac.new(key, policy.encode("ascii"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields["x-amz-signature"].strip().lower()):
            raise S3Error("SignatureDoesNotMatch")
        return user, policyText
    accessKey = fields.get("awsaccesskeyid")
    given = fields.get("signature")
    if not accessKey or not given:
        raise S3Error("InvalidArgument", "Bucket POST must contain a field named "
                      "'AWSAccessKeyId'", ArgumentName="AWSAccessKeyId")
    user = await users.byAccessKey(accessKey)
    if user is None:
        raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=accessKey)
    expected = signing.hmacBase64(user.secretKey, policy, hashlib.sha1)
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise S3Error("SignatureDoesNotMatch")
    return user, policyText


def _parseSpooled(call, boundary):
    """(in the I/O pool) read the form, writing the file field to a temp file."""
    blobs = call.walrus.blobs
    digests = checksums.BodyDigests()
    handle, tempPath = blobs.createTemp()

    def onFileData(data):
        digests.update(data)
        handle.write(data)
    try:
        if call.body.data is not None:
            source = io.BytesIO(call.body.data)
            fields, filename, fileType = formdata.readForm(source.read, boundary, onFileData)
        else:
            with open(call.body.tempPath, "rb") as source:
                fields, filename, fileType = formdata.readForm(source.read, boundary,
                                                               onFileData)
        blobs.finishTemp(handle)
    except BaseException:
        handle.close()
        blobs.discardTemp(tempPath)
        raise
    return fields, filename, fileType, tempPath, digests


async def upload(call):
    s3 = call.s3
    boundary = formdata.boundaryOf(s3.header("content-type", ""))
    fields, filename, fileType, tempPath, digests = await call.walrus.runIo(
        _parseSpooled, call, boundary)
    spooled = SpooledBody(digests.size, digests, tempPath=tempPath, blobs=call.walrus.blobs,
                          runIo=call.walrus.runIo)
    try:
        return await _store(call, fields, filename, fileType, spooled)
    finally:
        spooled.discard()


async def _store(call, fields, filename, fileType, spooled):
    s3 = call.s3
    user, policyText = await _authenticate(call, fields)
    key = fields.get("key")
    if key is None:
        raise S3Error("InvalidArgument", "Bucket POST must contain a field named 'key'.",
                      ArgumentName="key")
    key = key.replace("${filename}", filename or "")
    names.checkKey(key)
    if policyText is not None:
        checkPolicy(policyText, fields, s3.bucket, spooled.size, call.walrus.clock())
    cannedAcl = fields.get("acl", "private")
    owner = user.name if user is not None else "anonymous"
    acl.canned(cannedAcl, owner)
    headers = {name: fields[name] for name in KEPT_HEADERS if fields.get(name)}
    if "content-type" not in headers:
        headers["content-type"] = fileType or DEFAULT_CONTENT_TYPE
    meta = {name[len("x-amz-meta-"):]: value for name, value in fields.items()
            if name.startswith("x-amz-meta-")}
    if sum(len(k) + len(v) for k, v in meta.items()) > MAX_METADATA_BYTES:
        raise S3Error("MetadataTooLarge")

    def check(bucket):
        if not acl.allows(bucket.acl, user, acl.WRITE):
            raise S3Error("AccessDenied")
    obj = await call.store.putObject(
        owner, s3.bucket, key, spooled, headers, meta,
        lambda bucket: acl.canned(cannedAcl, owner, bucket.owner), check, {})
    etag = quoteEtag(obj.etag)
    location = "/%s/%s" % (s3.bucket, key)
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect:
        separator = "&" if "?" in redirect else "?"
        target = "%s%sbucket=%s&key=%s&etag=%s" % (
            redirect, separator, quote(s3.bucket, safe=""), quote(key, safe=""),
            quote(etag, safe=""))
        return Response(303, {"Location": target, "ETag": etag}, b"")
    status = fields.get("success_action_status", "204")
    if status == "201":
        root = s3xml.document("PostResponse")
        s3xml.add(root, "Location", location)
        s3xml.add(root, "Bucket", s3.bucket)
        s3xml.add(root, "Key", key)
        s3xml.add(root, "ETag", etag)
        return xmlResponse(root, 201, {"ETag": etag, "Location": location})
    return emptyResponse(200 if status == "200" else 204, {"ETag": etag, "Location": location})
