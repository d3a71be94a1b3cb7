"""The source of CopyObject and UploadPartCopy: its name, conditions, access."""

from urllib.parse import unquote

from eucad.walrus import acl
from eucad.walrus.conditions import evaluateConditions
from eucad.walrus.errors import S3Error
from eucad.walrus.versioning import checkVersionId


def parseCopySource(text):
    """``/bucket/key?versionId=ID`` (URL-encoded) -> (bucket, key, version id or None)."""
    text = text.strip()
    path, _, query = text.partition("?")
    versionId = None
    if query:
        for item in query.split("&"):
            name, _, value = item.partition("=")
            if name == "versionId" and value:
                versionId = unquote(value)
                checkVersionId(versionId)
    path = unquote(path)
    if path.startswith("/"):
        path = path[1:]
    bucket, slash, key = path.partition("/")
    if not bucket or not slash or not key:
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and key: "
                      "sourcebucket/sourcekey", ArgumentName="x-amz-copy-source",
                      ArgumentValue=text)
    return bucket, key, versionId


def copyConditions(headers):
    def check(source):
        if evaluateConditions(headers, source, "x-amz-copy-source-") is not None:
            raise S3Error("PreconditionFailed", Condition="x-amz-copy-source-If-*")
    return check


def sourceReadCheck(call):
    """READ on the source object, or the source bucket's policy allowing it."""
    def check(bucket, source):
        if getattr(call.s3, "sourceGranted", False):
            return
        if not acl.allows(source.acl, call.user, acl.READ):
            raise S3Error("AccessDenied")
    return check
