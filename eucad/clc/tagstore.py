"""Tags: key/value labels on instances, images and security groups.

A tag belongs to an owner.  Tags on an instance or a group are its owner's
(only they, or an admin, may set them); tags on an image are the tagging
user's own, since images are shared (a public image carries each user's own
labels, as EC2 does for shared images).  Functions run inside
``Database.run`` and return plain data.
"""

from sqlalchemy import String, delete, select, tuple_
from sqlalchemy.orm import Mapped, mapped_column

from eucad.clc import ids, imagestore
from eucad.clc.groupstore import GROUP, SecurityGroup
from eucad.clc.models import Image, Instance
from eucad.common.errors import CloudError

from eucad.common.db import Base

INSTANCE, IMAGE, SECURITY_GROUP = "instance", "image", "security-group"

MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
MAX_TAGS_PER_RESOURCE = 50


class Tag(Base):
    __tablename__ = "tags"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    resourceId: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    resourceType: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(MAX_VALUE_LENGTH), default="")


def _resourceNotFound(resourceId):
    return CloudError("InvalidID",
                      "The ID '%s' is not valid or does not exist" % (resourceId,))


def taggable(session, caller, isAdmin, resourceId):
    """``(tag owner, resource type)`` of a resource ``caller`` may tag."""
    prefix = ids.prefixOf(resourceId)
    if prefix == ids.INSTANCE:
        row = session.get(Instance, resourceId)
        if row is None or not (isAdmin or row.owner == caller):
            raise CloudError("InvalidInstanceID.NotFound",
                             "The instance ID '%s' does not exist" % (resourceId,))
        return row.owner, INSTANCE
    if prefix in ids.IMAGE_KIND_BY_PREFIX:
        image = session.get(Image, resourceId)
        if image is None or not imagestore.canSee(session, image, caller, isAdmin):
            raise CloudError("InvalidAMIID.NotFound",
                             "The image id '%s' does not exist" % (resourceId,))
        return caller, IMAGE
    if prefix == GROUP:
        group = session.get(SecurityGroup, resourceId)
        if group is None or not (isAdmin or group.owner == caller):
            raise CloudError("InvalidGroup.NotFound",
                             "The security group '%s' does not exist" % (resourceId,))
        return group.owner, SECURITY_GROUP
    raise _resourceNotFound(resourceId)


def checkTag(key, value):
    if not key:
        raise CloudError("InvalidParameterValue", "Tag keys may not be empty")
    if len(key) > MAX_KEY_LENGTH or (value is not None and len(value) > MAX_VALUE_LENGTH):
        raise CloudError("InvalidParameterValue",
                         "Tag keys are up to %d characters, values up to %d" % (
                             MAX_KEY_LENGTH, MAX_VALUE_LENGTH))
    if key.lower().startswith("aws:"):
        raise CloudError("InvalidParameterValue",
                         "Tag keys starting with 'aws:' are reserved")


def createTags(session, caller, isAdmin, resourceIds, tags):
    """Set ``tags`` (``[(key, value)]``) on every resource, all or none."""
    for key, value in tags:
        checkTag(key, value)
    for resourceId in resourceIds:
        owner, kind = taggable(session, caller, isAdmin, resourceId)
        current = {tag.key: tag for tag in session.scalars(
            select(Tag).where(Tag.owner == owner).where(Tag.resourceId == resourceId))}
        for key, value in tags:
            tag = current.get(key)
            if tag is None:
                tag = Tag(owner=owner, resourceId=resourceId, key=key,
                          resourceType=kind, value=value or "")
                session.add(tag)
                current[key] = tag
            else:
                tag.value = value or ""
        if len(current) > MAX_TAGS_PER_RESOURCE:
            raise CloudError("TagLimitExceeded",
                             "The maximum number of tags for %s (%d) would be "
                             "exceeded" % (resourceId, MAX_TAGS_PER_RESOURCE))
    session.flush()


def deleteTags(session, caller, isAdmin, resourceIds, tags):
    """
    Remove tags: every tag of the resources when ``tags`` is empty, else each
    named key, only if its value matches when a value is given.
    """
    for resourceId in resourceIds:
        owner, _ = taggable(session, caller, isAdmin, resourceId)
        rows = session.scalars(select(Tag).where(Tag.owner == owner)
                               .where(Tag.resourceId == resourceId))
        for row in rows:
            if not tags or any(key == row.key and (value is None or value == row.value)
                               for key, value in tags):
                session.delete(row)
    session.flush()


def tagsOf(session, ownedIds):
    """``{resourceId: {key: value}}`` of ``[(owner, resourceId)]`` pairs."""
    result = {}
    pairs = list(set(ownedIds))
    # Chunked: some engines limit the number of bound parameters.
    for start in range(0, len(pairs), 400):
        chunk = pairs[start:start + 400]
        for tag in session.scalars(select(Tag).where(
                tuple_(Tag.owner, Tag.resourceId).in_(chunk))):
            result.setdefault(tag.resourceId, {})[tag.key] = tag.value
    return result


def tagsOfOwner(session, owner):
    """``{resourceId: {key: value}}`` of every tag ``owner`` holds."""
    result = {}
    for tag in session.scalars(select(Tag).where(Tag.owner == owner)):
        result.setdefault(tag.resourceId, {})[tag.key] = tag.value
    return result


def listTags(session, owner, seeAll=False):
    """Every tag of ``owner`` (everybody's with ``seeAll``) as dicts."""
    query = select(Tag).order_by(Tag.resourceId, Tag.key)
    if not seeAll:
        query = query.where(Tag.owner == owner)
    return [{"owner": t.owner, "resourceId": t.resourceId,
             "resourceType": t.resourceType, "key": t.key, "value": t.value}
            for t in session.scalars(query)]


def forgetResource(session, resourceId):
    """Drop every tag of a resource that is gone."""
    session.execute(delete(Tag).where(Tag.resourceId == resourceId))
