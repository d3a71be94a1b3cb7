"""Moving bundles to and from Walrus with boto3, as euca-upload-bundle does.

The bucket is created when missing; every part goes up, then the manifest
(last, so a manifest never names parts that are not there yet), each with the
canned ACL ``aws-exec-read`` that lets the cloud read them.  Failures become
``TransferError`` with a sentence for the user.
"""

import os

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from eucad.bundle.manifest import ManifestError, parseManifest

BUNDLE_ACL = "aws-exec-read"
#: Parts are 10 MiB by default: always one PUT each, as the bundle tools do.
_SINGLE_PUT = TransferConfig(multipart_threshold=5 * 1024 ** 3, use_threads=False)


class TransferError(Exception):
    """An upload, download or deletion failed; the message says why."""


def s3Client(creds):
    creds.require("s3Url", "accessKey", "secretKey")
    return boto3.client("s3", endpoint_url=creds.s3Url, aws_access_key_id=creds.accessKey,
                        aws_secret_access_key=creds.secretKey, region_name=creds.region,
                        config=Config(s3={"addressing_style": "path"},
                                      signature_version="s3v4",
                                      retries={"max_attempts": 2}))


def _code(error):
    return error.response.get("Error", {}).get("Code", "")


def _explain(error, what):
    message = error.response.get("Error", {}).get("Message", "")
    return TransferError("%s: %s %s" % (what, _code(error), message))


def ensureBucket(client, bucket):
    """Create ``bucket`` unless the user has it already; refuse another's."""
    try:
        client.head_bucket(Bucket=bucket)
        return False
    except ClientError as e:
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 403 or _code(e) in ("403", "AccessDenied"):
            raise TransferError("Bucket %s exists and is not yours" % (bucket,))
        if status != 404 and _code(e) not in ("404", "NoSuchBucket", "NotFound"):
            raise _explain(e, "Cannot check bucket %s" % (bucket,))
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as e:
        if _code(e) == "BucketAlreadyExists":
            raise TransferError("Bucket %s exists and is not yours" % (bucket,))
        if _code(e) != "BucketAlreadyOwnedByYou":
            raise _explain(e, "Cannot create bucket %s" % (bucket,))
    return True


def objectKey(prefix, name):
    return "%s/%s" % (prefix.strip("/"), name) if prefix else name


def uploadBundle(client, manifestPath, bucket, keyPrefix="", progress=None):
    """
    Upload the bundle of ``manifestPath``; return the manifest's location
    ``bucket/[keyPrefix/]name.manifest.xml`` (what RegisterImage takes).

    @param progress: called with byte counts as they are sent.
    """
    if not os.path.isfile(manifestPath):
        raise TransferError("No such manifest: %s" % (manifestPath,))
    with open(manifestPath, "rb") as f:
        try:
            manifest = parseManifest(f.read())
        except ManifestError as e:
            raise TransferError("%s: %s" % (manifestPath, e))
    directory = os.path.dirname(os.path.abspath(manifestPath))
    for part in manifest.parts:
        if not os.path.isfile(os.path.join(directory, part.filename)):
            raise TransferError("Part %s of the bundle is missing next to %s"
                                % (part.filename, manifestPath))
    try:
        ensureBucket(client, bucket)
        names = [part.filename for part in manifest.parts] + [
            os.path.basename(manifestPath)]
        for name in names:
            client.upload_file(os.path.join(directory, name), bucket,
                               objectKey(keyPrefix, name),
                               ExtraArgs={"ACL": BUNDLE_ACL}, Callback=progress,
                               Config=_SINGLE_PUT)
    except ClientError as e:
        raise _explain(e, "Upload to %s failed" % (bucket,))
    except BotoCoreError as e:
        raise TransferError("Upload to %s failed: %s" % (bucket, e))
    return "%s/%s" % (bucket, objectKey(keyPrefix, os.path.basename(manifestPath)))


def deleteBundle(client, bucket, manifestKey, deleteBucket=False):
    """Delete the manifest at ``manifestKey`` and every part it lists; return the keys."""
    try:
        raw = client.get_object(Bucket=bucket, Key=manifestKey)["Body"].read()
    except ClientError as e:
        raise _explain(e, "Cannot read %s/%s" % (bucket, manifestKey))
    try:
        manifest = parseManifest(raw)
    except ManifestError as e:
        raise TransferError("%s/%s: %s" % (bucket, manifestKey, e))
    keyPrefix = manifestKey.rpartition("/")[0]
    keys = [objectKey(keyPrefix, part.filename) for part in manifest.parts] + [manifestKey]
    try:
        for key in keys:
            client.delete_object(Bucket=bucket, Key=key)
        if deleteBucket:
            client.delete_bucket(Bucket=bucket)
    except ClientError as e:
        raise _explain(e, "Deleting from %s failed" % (bucket,))
    return keys
