"""The one place a bucket policy decides a request, from its headers alone.

``decide(walrus, s3, user)`` names the request as a policy does (its S3
action and resource ARN, eucad.walrus.policy), builds its condition
context (source address, TLS, time, user, listing prefix, canned ACL,
tags...) and evaluates the bucket's policy: an explicit Deny is
AccessDenied at once; an Allow marks the request ``policyGranted``, so the
ACL checks that follow pass (eucad.walrus.call); otherwise the ACLs and
ownership decide as they always did.  Admission (eucad.walrus.admission)
calls it before a byte of a body is stored; the request pipeline
(eucad.walrus.service.route) for every other request; it runs once.

Two condition keys need more than the headers.  ``s3:ExistingObjectTag``
is the object's own tags, read from the database only when the policy
tests it (eucad.walrus.existingtags).  PutObjectTagging's
``s3:RequestObjectTag`` keys are the tags of its body, a small Tagging
document and never object data: when the policy tests them the decision
waits for that document (``decideTagging``) and is made before anything
changes.

Only the bucket's owner (and admins) may read or change its policy, and no
policy can deny them that: a policy cannot lock its owner out.
"""

import time
from urllib.parse import parse_qsl

from eucad.walrus import existingtags, policy
from eucad.walrus.copysource import parseCopySource
from eucad.walrus.errors import S3Error

#: Bucket-level subresources and their actions, per method.
BUCKET_ACTIONS = {
    "PUT": (("acl", "PutBucketAcl"), ("tagging", "PutBucketTagging"),
            ("cors", "PutBucketCORS"), ("policy", "PutBucketPolicy"),
            ("versioning", "PutBucketVersioning"), ("lifecycle", "PutLifecycleConfiguration"),
            ("website", "PutBucketWebsite"), ("encryption", "PutEncryptionConfiguration"),
            ("logging", "PutBucketLogging"), ("notification", "PutBucketNotification")),
    "GET": (("acl", "GetBucketAcl"), ("tagging", "GetBucketTagging"),
            ("cors", "GetBucketCORS"), ("policyStatus", "GetBucketPolicyStatus"),
            ("policy", "GetBucketPolicy"), ("location", "GetBucketLocation"),
            ("versioning", "GetBucketVersioning"), ("logging", "GetBucketLogging"),
            ("uploads", "ListBucketMultipartUploads"), ("versions", "ListBucketVersions"),
            ("lifecycle", "GetLifecycleConfiguration"), ("website", "GetBucketWebsite"),
            ("encryption", "GetEncryptionConfiguration")),
    # S3 names removing a configuration by the action that writes it.
    "DELETE": (("tagging", "PutBucketTagging"), ("cors", "PutBucketCORS"),
               ("policy", "DeleteBucketPolicy"), ("lifecycle", "PutLifecycleConfiguration"),
               ("website", "DeleteBucketWebsite"),
               ("encryption", "PutEncryptionConfiguration")),
}
BUCKET_DEFAULTS = {"PUT": "CreateBucket", "GET": "ListBucket", "HEAD": "ListBucket",
                   "DELETE": "DeleteBucket"}
OBJECT_ACTIONS = {
    "PUT": (("acl", "PutObjectAcl"), ("tagging", "PutObjectTagging")),
    "GET": (("acl", "GetObjectAcl"), ("tagging", "GetObjectTagging"),
            ("attributes", "GetObjectAttributes"), ("uploadId", "ListMultipartUploadParts")),
    "DELETE": (("uploadId", "AbortMultipartUpload"), ("tagging", "DeleteObjectTagging")),
}
OBJECT_DEFAULTS = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "GetObject",
                   "DELETE": "DeleteObject", "POST": "PutObject"}
#: An object action on one version by id (?versionId=) is S3's *Version action.
VERSION_ACTIONS = {"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion",
                   "GetObjectAcl": "GetObjectVersionAcl", "PutObjectAcl": "PutObjectVersionAcl",
                   "GetObjectTagging": "GetObjectVersionTagging",
                   "PutObjectTagging": "PutObjectVersionTagging",
                   "DeleteObjectTagging": "DeleteObjectVersionTagging",
                   "GetObjectAttributes": "GetObjectVersionAttributes"}
#: Actions whose request tags are in the body (a Tagging document, never object data).
TAGS_IN_BODY = frozenset(("s3:PutObjectTagging", "s3:PutObjectVersionTagging"))
#: What only the owner may do, whatever the policy says.
OWNER_ACTIONS = frozenset(("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"))


def actionOf(s3):
    """The policy action of a request to a bucket or object, or None (decided per key)."""
    query = s3.query
    method = "GET" if s3.method == "HEAD" and s3.key is not None else s3.method
    if s3.key is None:
        if method == "POST":
            return None  # DeleteObjects (per key) or a form upload (its own key)
        for name, action in BUCKET_ACTIONS.get(method, ()):
            if name in query:
                return "s3:" + action
        default = BUCKET_DEFAULTS.get(s3.method)
        return "s3:" + default if default else None
    action = None
    for name, candidate in OBJECT_ACTIONS.get(method, ()):
        if name in query:
            action = candidate
            break
    else:
        action = OBJECT_DEFAULTS.get(method)
    if action is None:
        return None
    if "versionId" in query:
        action = VERSION_ACTIONS.get(action, action)
    return "s3:" + action


def resourceOf(bucket, key=None):
    return policy.ARN_PREFIX + bucket + ("/" + key if key is not None else "")


def contextOf(s3, user, now):
    """The condition keys of a request, {lower-case key: [values]}."""
    context = {
        "aws:currenttime": [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))],
        "aws:epochtime": [str(int(now))],
        "aws:securetransport": ["true" if getattr(s3, "secure", False) else "false"],
    }
    address = getattr(s3, "clientAddress", None)
    if address:
        context["aws:sourceip"] = [address]
    if user is not None:
        context["aws:username"] = [user.name]
        context["aws:userid"] = [user.name]
        account = getattr(user, "accountNumber", None)
        if account:
            context["aws:principalaccount"] = [account]
    for header in ("referer", "user-agent"):
        if s3.header(header) is not None:
            context["aws:" + header.replace("-", "")] = [s3.header(header)]
    if s3.key is None and s3.method in ("GET", "HEAD"):
        for name in ("prefix", "delimiter", "max-keys"):
            if name in s3.query:
                context["s3:" + name] = [s3.query[name]]
    for header in ("x-amz-acl", "x-amz-content-sha256", "x-amz-copy-source",
                   "x-amz-metadata-directive", "x-amz-grant-read", "x-amz-grant-write",
                   "x-amz-grant-full-control", "x-amz-storage-class"):
        if s3.header(header) is not None:
            context["s3:" + header] = [s3.header(header)]
    tagging = s3.header("x-amz-tagging")
    if tagging:
        try:
            pairs = parse_qsl(tagging, keep_blank_values=True)
        except ValueError:
            pairs = []
        context.update(requestTagContext(pairs))
    authorization = s3.header("authorization") or ""
    if "X-Amz-Signature" in s3.query or "Signature" in s3.query:
        context["s3:authtype"] = ["REST-QUERY-STRING"]
    elif authorization:
        context["s3:authtype"] = ["REST-HEADER"]
    if authorization.startswith("AWS4-") or "X-Amz-Signature" in s3.query:
        context["s3:signatureversion"] = ["AWS4-HMAC-SHA256"]
    elif authorization or "Signature" in s3.query:
        context["s3:signatureversion"] = ["AWS"]
    return context


def requestTagContext(pairs):
    """s3:RequestObjectTagKeys and s3:RequestObjectTag/<key> of the tags a request sets."""
    if not pairs:
        return {}
    context = {"s3:requestobjecttagkeys": [key for key, _ in pairs]}
    for key, value in pairs:
        context["s3:requestobjecttag/" + key.lower()] = [value]
    return context


def isOwner(user, bucketOwner):
    return user is not None and (user.isAdmin or user.name == bucketOwner)


async def decide(walrus, s3, user):
    """
    Evaluate the bucket's policy for ``s3`` once: raise AccessDenied on a
    Deny, else set ``s3.policyGranted`` (and ``s3.bucketPolicy`` for the
    per-key decisions of DeleteObjects).
    """
    if getattr(s3, "policyDecided", False):
        return
    s3.policyDecided = True
    s3.policyGranted = False
    s3.policyAwaitsTags = None
    s3.sourceGranted = False
    s3.bucketPolicy = None
    s3.policyContext = None
    if not s3.bucket:
        return
    configs = await walrus.bucketConfigs.get(s3.bucket)
    now = walrus.clock()
    if configs.policy is not None:
        s3.bucketPolicy = configs.policy
        s3.policyContext = contextOf(s3, user, now)
        action = actionOf(s3)
        if action in TAGS_IN_BODY and any(key.startswith("s3:requestobjecttag")
                                          for key in configs.policy.conditionKeys):
            # The tags it asks for are known once its small XML body is
            # read: decided then, by decideTagging, before anything changes.
            s3.policyAwaitsTags = (configs.policy, action)
        elif action is not None and action not in OWNER_ACTIONS:
            s3.policyGranted = await _evaluate(walrus, s3, user, configs.policy, action,
                                               s3.policyContext)
    source = s3.header("x-amz-copy-source")
    if source and s3.method == "PUT" and s3.key is not None:
        await _decideSource(walrus, s3, user, source, now)


async def _evaluate(walrus, s3, user, bucketPolicy, action, context):
    """
    The verdict on ``s3``'s own object or bucket: AccessDenied on a Deny,
    else whether an Allow applies.  The object's tags join the context when
    the policy tests them (eucad.walrus.existingtags).
    """
    if s3.key is not None and existingtags.needed(bucketPolicy, action):
        context = await existingtags.withExistingTags(
            walrus.store, s3.bucket, s3.key, s3.query.get("versionId"), context)
    verdict = bucketPolicy.evaluate(policy.PolicyRequest(
        user, action, resourceOf(s3.bucket, s3.key), context))
    if verdict == policy.DENY:
        raise S3Error("AccessDenied")
    return verdict == policy.ALLOW


async def decideTagging(walrus, s3, user, tags):
    """
    PutObjectTagging whose policy tests s3:RequestObjectTag: decide now
    that ``tags`` (the body's tag set) are known.  Returns whether the
    policy grants the request (as ``policyGranted``); AccessDenied on a Deny.
    """
    awaiting = getattr(s3, "policyAwaitsTags", None)
    if awaiting is None:
        return getattr(s3, "policyGranted", False)
    s3.policyAwaitsTags = None
    bucketPolicy, action = awaiting
    context = dict(s3.policyContext, **requestTagContext(list((tags or {}).items())))
    s3.policyGranted = await _evaluate(walrus, s3, user, bucketPolicy, action, context)
    return s3.policyGranted


async def _decideSource(walrus, s3, user, source, now):
    """
    A copy reads its source: s3:GetObject under the source bucket's policy,
    s3:GetObjectVersion when it names a source version.
    """
    sourceBucket, sourceKey, sourceVersion = parseCopySource(source)
    configs = await walrus.bucketConfigs.get(sourceBucket)
    if configs.policy is None:
        return
    action = "s3:GetObjectVersion" if sourceVersion is not None else "s3:GetObject"
    context = s3.policyContext or contextOf(s3, user, now)
    if existingtags.needed(configs.policy, action):
        # Reading the source is judged by the source's own tags.
        context = await existingtags.withExistingTags(walrus.store, sourceBucket, sourceKey,
                                                      sourceVersion, context)
    verdict = configs.policy.evaluate(policy.PolicyRequest(
        user, action, resourceOf(sourceBucket, sourceKey), context))
    if verdict == policy.DENY:
        raise S3Error("AccessDenied")
    s3.sourceGranted = verdict == policy.ALLOW


async def decideFormUpload(walrus, s3, user, key, tags=None):
    """
    A browser form's s3:PutObject of ``key`` (known only from its fields,
    as are the ``tags`` its ``tagging`` field sets): AccessDenied on a
    Deny, else whether the policy allows it.
    """
    configs = await walrus.bucketConfigs.get(s3.bucket)
    if configs.policy is None:
        return False
    context = contextOf(s3, user, walrus.clock())
    if tags:
        context.update(requestTagContext(list(tags.items())))
    verdict = configs.policy.evaluate(policy.PolicyRequest(
        user, "s3:PutObject", resourceOf(s3.bucket, key), context))
    if verdict == policy.DENY:
        raise S3Error("AccessDenied")
    return verdict == policy.ALLOW


def decideKey(s3, user, action, key):
    """
    The verdict of the bucket's policy on ``action`` for one ``key`` of a
    request already decided (DeleteObjects): DENY, ALLOW or None.
    """
    if getattr(s3, "bucketPolicy", None) is None:
        return None
    return s3.bucketPolicy.evaluate(policy.PolicyRequest(
        user, action, resourceOf(s3.bucket, key), s3.policyContext))
