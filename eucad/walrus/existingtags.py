"""The ``s3:ExistingObjectTag/<key>`` condition keys: the tags an object has now.

A bucket policy may grant or deny reading an object, or changing its ACL or
tags, by the tags the object already carries.  Those live in the database,
not in the request, so the policy gate (eucad.walrus.policygate) asks for
them here, and only when it must: the request names an object (or one of
its versions), its action is one S3 evaluates the key for, and the bucket's
policy has a condition on the key.  Every other request costs nothing more.

As in S3, the key is not evaluated for writing or deleting the object
itself (PutObject, DeleteObject, DeleteObjectVersion): there it is absent.
"""

from eucad.walrus import versioning
from eucad.walrus.errors import S3Error

PREFIX = "s3:existingobjecttag/"

#: The actions S3 evaluates s3:ExistingObjectTag for.
ACTIONS = frozenset("s3:" + name for name in (
    "GetObject", "GetObjectVersion", "GetObjectAcl", "GetObjectVersionAcl",
    "GetObjectTagging", "GetObjectVersionTagging", "PutObjectAcl", "PutObjectVersionAcl",
    "PutObjectTagging", "PutObjectVersionTagging", "DeleteObjectTagging",
    "DeleteObjectVersionTagging"))


def needed(policy, action):
    """Whether evaluating ``policy`` for ``action`` needs the object's current tags."""
    return action in ACTIONS and any(key.startswith(PREFIX) for key in policy.conditionKeys)


def contextOf(tags):
    """The condition keys of a tag set ({key: value} or None): one per tag."""
    return {PREFIX + key.lower(): [value] for key, value in (tags or {}).items()}


async def withExistingTags(store, bucketName, key, versionId, context):
    """
    ``context`` with the tags of ``key`` (or of its version ``versionId``)
    added; as it is when there is no such object or version (the request
    then fails on its own, as NoSuchKey or NoSuchVersion, after the policy).
    """
    if versionId is not None:
        try:
            versioning.checkVersionId(versionId)
        except S3Error:
            return context
    tags = await store.existingTags(bucketName, key, versionId)
    if not tags:
        return context
    return dict(context, **contextOf(tags))
