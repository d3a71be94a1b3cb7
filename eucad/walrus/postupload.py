"""Browser POST upload: an HTML form, a signed policy, and a file.

The form carries the key, the fields the object keeps (ACL, Content-Type,
x-amz-meta-*), a base64 JSON policy that bounds them, and the policy's
signature: SigV2 (HMAC-SHA1 of the policy, ``AWSAccessKeyId``/``signature``)
or SigV4 (``X-Amz-Credential``/``X-Amz-Signature``).  A form without a
policy is anonymous and needs a bucket anonymous users may write.  Every
field must be allowed by a policy condition, and the file must fit its
``content-length-range``; only then is it stored, like a PUT.

The form is read as it arrives (eucad.walrus.formupload): ``admitForm``
runs when the file field begins, so a form with a bad signature, a broken
policy or no right to write the bucket is refused before any of its file
is stored; ``store`` runs once the file has arrived and checks its size.
"""

import base64
import binascii
import calendar
import hashlib
import hmac
import json
import time
from urllib.parse import quote

from lxml import etree

from eucad.common import signing
from eucad.walrus import acl, names, policygate, tagging, versioning
from eucad.walrus.call import DEFAULT_CONTENT_TYPE, MAX_METADATA_BYTES
from eucad.walrus.encryption import refuseEncryption
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
    ``policyText`` for an upload of ``fileSize`` bytes to ``bucket``
    (``fileSize`` None: before the file has arrived, its range unchecked).
    A policy without ``conditions`` is malformed (400), as in S3.
    """
    try:
        policy = json.loads(policyText)
        if not isinstance(policy, dict):
            raise ValueError
    except ValueError:
        raise S3Error("InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
    if "expiration" not in policy:
        raise S3Error("InvalidPolicyDocument", "Invalid Policy: Policy missing expiration.")
    if "conditions" not in policy:
        raise S3Error("InvalidPolicyDocument", "Invalid Policy: Policy missing conditions.")
    try:
        expiration = _parseExpiration(policy["expiration"])
    except TypeError:
        raise S3Error("InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value.")
    conditions = policy["conditions"]
    if not isinstance(conditions, list):
        raise S3Error("InvalidPolicyDocument", "Invalid Policy: Invalid conditions.")
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
            try:
                low, high = int(condition[1]), int(condition[2])
            except (TypeError, ValueError):
                raise S3Error("InvalidPolicyDocument", "Invalid Policy: bad condition.")
            if fileSize is not None and not low <= fileSize <= high:
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


async def _authenticate(users, fields):
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


class FormAdmission:
    """Who uploads a form (None: anonymous) and the policy that bounds it."""

    def __init__(self, user, policyText, granted=False):
        self.user = user
        self.policyText = policyText
        #: Whether the bucket policy allows this upload (eucad.walrus.policygate).
        self.granted = granted


def formKey(fields, filename):
    """The key a form names, ``${filename}`` replaced by the file's name."""
    key = fields.get("key")
    if key is None:
        raise S3Error("InvalidArgument", "Bucket POST must contain a field named 'key'.",
                      ArgumentName="key")
    return names.checkKey(key.replace("${filename}", filename or ""))


async def admitForm(walrus, bucketName, fields, filename, s3=None):
    """
    Whether a form may store its file, decided from the fields before it:
    the signature, the policy (all but the file's size), the key, the ACL
    asked for and the bucket's WRITE permission.  A FormAdmission.
    """
    refuseEncryption(fields)
    user, policyText = await _authenticate(walrus.users, fields)
    key = formKey(fields, filename)
    if policyText is not None:
        checkPolicy(policyText, fields, bucketName, None, walrus.clock())
    acl.canned(fields.get("acl", "private"), user.name if user is not None else "anonymous")
    tags = formTags(fields)
    bucket = await walrus.store.getBucket(bucketName)
    granted = False
    if s3 is not None:
        granted = await policygate.decideFormUpload(walrus, s3, user, key, tags)
    if not (granted or acl.allows(bucket.acl, user, acl.WRITE)):
        raise S3Error("AccessDenied")
    return FormAdmission(user, policyText, granted)


def formTags(fields):
    """The tag set of a form's ``tagging`` field (a Tagging document), or None."""
    if fields.get("tagging") is None:
        return None
    return tagging.parseTagging(fields["tagging"].encode("utf-8"), tagging.MAX_OBJECT_TAGS)


async def upload(call, form):
    """Store a received, admitted form's file (see eucad.walrus.formupload)."""
    try:
        return await _store(call, form)
    finally:
        form.spooled.discard()


def _postResponse(bucket, key, etag, location):
    """S3's PostResponse document: its elements carry no namespace."""
    root = etree.Element("PostResponse")
    for name, text in (("Location", location), ("Bucket", bucket), ("Key", key),
                       ("ETag", etag)):
        etree.SubElement(root, name).text = text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


async def _store(call, form):
    s3 = call.s3
    fields, fileType, spooled = form.fields, form.fileType, form.spooled
    user, policyText = form.admission.user, form.admission.policyText
    key = formKey(fields, form.filename)
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
        if not (form.admission.granted or acl.allows(bucket.acl, user, acl.WRITE)):
            raise S3Error("AccessDenied")
    obj = await call.store.putObject(
        owner, s3.bucket, key, spooled, headers, meta,
        lambda bucket: acl.canned(cannedAcl, owner, bucket.owner), check, {},
        tags=formTags(fields))
    etag = quoteEtag(obj.etag)
    location = "/%s/%s" % (s3.bucket, key)
    answered = {"ETag": etag}
    if obj.versionId not in (None, versioning.NULL):
        # A versioned bucket names the version the form made, as a PUT's answer does.
        answered["x-amz-version-id"] = obj.versionId
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect:
        separator = "&" if "?" in redirect else "?"
        target = "%s%sbucket=%s&key=%s&etag=%s" % (
            redirect, separator, quote(s3.bucket, safe=""), quote(key, safe=""),
            quote(etag, safe=""))
        return Response(303, dict(answered, Location=target), b"")
    status = fields.get("success_action_status", "204")
    if status == "201":
        return xmlResponse(_postResponse(s3.bucket, key, etag, location), 201,
                           dict(answered, Location=location))
    return emptyResponse(200 if status == "200" else 204, dict(answered, Location=location))
