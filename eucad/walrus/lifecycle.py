"""The S3 bucket lifecycle operations: Put/Get/DeleteBucketLifecycleConfiguration.

Only the bucket's owner reads or changes its lifecycle, as in S3 without a
bucket policy.  The rules are checked once when they arrive
(eucad.walrus.lifecyclerules); Walrus applies them itself
(eucad.walrus.lifecycleservice).
"""

from eucad.walrus import s3xml
from eucad.walrus.errors import S3Error
from eucad.walrus.lifecyclerules import parseConfiguration, toXml
from eucad.walrus.responses import emptyResponse, xmlResponse


async def putLifecycle(call):
    call.requireUser()
    if call.s3.header("content-md5") is None and not call.checksums:
        raise S3Error("InvalidRequest", "Missing required header for this request: "
                      "Content-MD5 or x-amz-checksum-*")
    rules = parseConfiguration(await call.readBody(s3xml.MAX_XML_BYTES))
    await call.store.setLifecycle(call.s3.bucket, rules, call.ownerCheck())
    return emptyResponse(200)


async def getLifecycle(call):
    rules = await call.store.getLifecycle(call.s3.bucket, call.ownerCheck())
    return xmlResponse(toXml(rules))


async def deleteLifecycle(call):
    await call.store.deleteLifecycle(call.s3.bucket, call.ownerCheck())
    return emptyResponse(204)
