"""DescribeImages: the registered kernels, ramdisks and machine images.

Registration itself is admin-side for now (``eucad.clc.register_local``);
bundles registered through Walrus will add RegisterImage here.
"""

from twisted.internet import defer

from eucad.clc import imagestore, tagstore
from eucad.clc.api import filters, params
from eucad.clc.api.render import isoTime

IMAGE_FILTERS = ("image-id", "image-type", "architecture", "state", "is-public",
                 "owner-id", "kernel-id", "ramdisk-id", "name", "root-device-type")


def imageItem(record):
    """One ``imagesSet`` item (EC2's DescribeImagesResponseItemType)."""
    machine = record["kind"] == "machine"
    return {
        "imageId": record["id"],
        "imageLocation": record["location"],
        "imageState": record["state"],
        "imageOwnerId": record["owner"],
        "creationDate": isoTime(record["registered"]),
        "isPublic": bool(record["isPublic"]),
        "productCodes": [],
        "architecture": record["architecture"],
        "imageType": record["kind"],
        "kernelId": record["kernelId"],
        "ramdiskId": record["ramdiskId"],
        "name": record["name"],
        "description": record["description"],
        "rootDeviceType": "instance-store",
        "blockDeviceMapping": [],
        "virtualizationType": (("paravirtual" if record["kernelId"] else "hvm")
                               if machine else None),
    }


def filterFields(record):
    return {"image-id": record["id"], "image-type": record["kind"],
            "architecture": record["architecture"], "state": record["state"],
            "is-public": bool(record["isPublic"]), "owner-id": record["owner"],
            "kernel-id": record["kernelId"], "ramdisk-id": record["ramdiskId"],
            "name": record["name"], "root-device-type": "instance-store"}


def _ownedBy(record, owners, caller):
    if not owners:
        return True
    names = {caller if owner == "self" else owner for owner in owners}
    return record["owner"] in names


def _executableBy(record, users, caller):
    """``all`` means public; ``self`` or a user name: theirs or public."""
    if not users:
        return True
    for user in users:
        if record["isPublic"]:
            return True
        if user != "all" and record["owner"] == (caller if user == "self" else user):
            return True
    return False


@defer.inlineCallbacks
def describeImages(call):
    p = call.params
    imageIds = params.listOf(p, "ImageId")
    owners = params.listOf(p, "Owner")
    users = params.listOf(p, "ExecutableBy")
    filterList = filters.parse(p, IMAGE_FILTERS)
    records = yield call.cloud.db.run(imagestore.listImages, call.caller.name,
                                      call.caller.isAdmin, imageIds)
    # Image tags are each user's own labels (see eucad.clc.tagstore).
    tags = yield call.cloud.db.run(tagstore.tagsOfOwner, call.caller.name)
    return {"imagesSet": [
        dict(imageItem(record), tagSet=filters.tagSet(tags.get(record["id"], {})))
        for record in records
        if _ownedBy(record, owners, call.caller.name)
        and _executableBy(record, users, call.caller.name)
        and filters.matches(filterList, filterFields(record),
                            tags.get(record["id"], {}))]}
