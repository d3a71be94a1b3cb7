"""The bucket policy operations: Put, Get and DeleteBucketPolicy, GetBucketPolicyStatus.

A policy is checked (eucad.walrus.policy) before it is stored, kept as the
owner sent it, and only the bucket's owner (and admins) may read or change
it, whatever it says (eucad.walrus.policygate never lets a policy decide
these).  A change is seen by this Walrus's next request at once.
"""

from eucad.walrus import policy, s3xml
from eucad.walrus.errors import S3Error
from eucad.walrus.responses import Response, emptyResponse, xmlResponse


async def putBucketPolicy(call):
    raw = await call.readBody(policy.MAX_POLICY_BYTES + 1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise policy.malformed("Policies must be valid UTF-8")
    policy.Policy.parse(text, call.s3.bucket)
    await call.store.putBucketConfig(call.s3.bucket, "policy", text, call.strictOwnerCheck())
    call.walrus.bucketConfigs.forget(call.s3.bucket)
    return emptyResponse(204)


async def getBucketPolicy(call):
    text = await call.store.getBucketConfig(call.s3.bucket, "policy", call.strictOwnerCheck())
    if text is None:
        raise S3Error("NoSuchBucketPolicy", BucketName=call.s3.bucket)
    return Response(200, {"Content-Type": "application/json"}, text.encode("utf-8"))


async def deleteBucketPolicy(call):
    await call.store.deleteBucketConfig(call.s3.bucket, "policy", call.strictOwnerCheck())
    call.walrus.bucketConfigs.forget(call.s3.bucket)
    return emptyResponse(204)


async def getBucketPolicyStatus(call):
    text = await call.store.getBucketConfig(call.s3.bucket, "policy", call.ownerCheck())
    if text is None:
        raise S3Error("NoSuchBucketPolicy", BucketName=call.s3.bucket)
    root = s3xml.document("PolicyStatus")
    s3xml.add(root, "IsPublic", "true" if policy.Policy.parse(text, call.s3.bucket).isPublic()
              else "false")
    return xmlResponse(root)
