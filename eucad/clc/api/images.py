"""The image operations: Register/Deregister, DescribeImages and image attributes.

RegisterImage reads the bundle's manifest from Walrus as the registering
user and verifies it (``eucad.clc.bundlecheck``), records the image as
``pending`` and hands it to the preparer, which makes it ``available`` once
Walrus has decrypted it, or ``failed`` with the reason.  Only the admin
registers kernels and ramdisks.  Launch permissions name users or the group
``all`` (public).
"""

from twisted.internet import defer

from eucad.clc import ids, imagestore, tagstore
from eucad.clc.api import filters, params
from eucad.clc.api.render import isoTime
from eucad.clc.bundlecheck import bundleKind
from eucad.common import accounts
from eucad.common.errors import CloudError

IMAGE_FILTERS = ("image-id", "image-type", "architecture", "state", "is-public",
                 "owner-id", "kernel-id", "ramdisk-id", "name", "root-device-type",
                 "description", "manifest-location")
ARCHITECTURES = ("i386", "x86_64", "armhf", "aarch64")


def imageItem(record):
    """One ``imagesSet`` item (EC2's DescribeImagesResponseItemType)."""
    machine = record["kind"] == "machine"
    item = {
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
    if record.get("stateReason"):
        item["stateReason"] = {"code": "Client.InvalidBundle",
                               "message": record["stateReason"]}
    return item


def filterFields(record):
    return {"image-id": record["id"], "image-type": record["kind"],
            "architecture": record["architecture"], "state": record["state"],
            "is-public": bool(record["isPublic"]), "owner-id": record["owner"],
            "kernel-id": record["kernelId"], "ramdisk-id": record["ramdiskId"],
            "name": record["name"], "root-device-type": "instance-store",
            "description": record["description"], "manifest-location": record["location"]}


def _ownedBy(record, owners, caller):
    if not owners:
        return True
    names = {caller if owner == "self" else owner for owner in owners}
    return record["owner"] in names


def _executableBy(record, users, caller):
    """
    ``all``: public images; ``self`` or a user name: images that user may
    launch by an explicit permission or by owning them (and public ones).
    """
    if not users:
        return True
    for user in users:
        if record["isPublic"]:
            return True
        if user == "all":
            continue
        name = caller if user == "self" else user
        if record["owner"] == name or name in record.get("launchUsers", ()):
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


def _callerKeys(session, accessKey):
    user = accounts.findByAccessKey(session, accessKey)
    if user is None:
        raise CloudError("AuthFailure", "The user is not enabled", 401)
    return user.accessKey, user.secretKey


def _defaultId(explicit, fromManifest, kind):
    """An explicit id wins; the manifest's counts when it is an id (not true/yes)."""
    if explicit:
        return explicit
    if fromManifest and ids.isId(fromManifest, ids.IMAGE_PREFIX_BY_KIND[kind]):
        return fromManifest
    return None


@defer.inlineCallbacks
def registerImage(call):
    p = call.params
    location = params.required(p, "ImageLocation")
    architecture = params.optional(p, "Architecture")
    if architecture is not None and architecture not in ARCHITECTURES:
        raise CloudError("InvalidParameterValue",
                         "Architecture must be one of %s" % (", ".join(ARCHITECTURES),))
    if call.cloud.bundles is None:
        raise CloudError("Unsupported", "This cloud controller has no Walrus to read "
                         "bundles from", 400)
    keys = yield call.cloud.db.run(_callerKeys, call.caller.accessKey)
    bundle = yield call.cloud.bundles.check(call.caller, keys, location)
    manifest = bundle.manifest
    kind = bundleKind(manifest)
    if kind != "machine" and not call.caller.isAdmin:
        raise CloudError("UnauthorizedOperation",
                         "Only the administrator may register kernels and ramdisks", 403)
    kernelId = ramdiskId = None
    if kind == "machine":
        kernelId = _defaultId(params.optional(p, "KernelId"), manifest.kernelId, "kernel")
        ramdiskId = _defaultId(params.optional(p, "RamdiskId"), manifest.ramdiskId,
                               "ramdisk")
    elif params.optional(p, "KernelId") or params.optional(p, "RamdiskId"):
        raise CloudError("InvalidParameterCombination",
                         "Only machine images have a kernel and ramdisk")
    record = yield call.cloud.db.run(
        imagestore.registerImage, call.caller.name, kind, bundle.location,
        isPublic=False, architecture=architecture or manifest.architecture,
        kernelId=kernelId, ramdiskId=ramdiskId,
        name=params.optional(p, "Name") or manifest.name,
        description=params.optional(p, "Description"), now=call.cloud.now(),
        state=imagestore.PENDING)
    if call.cloud.imagePreparer is not None:
        call.cloud.imagePreparer.prepare(record["id"], bundle, keys)
    return {"imageId": record["id"]}


def deregisterImage(call):
    imageId = params.required(call.params, "ImageId")
    d = call.cloud.db.run(imagestore.deregisterImage, imageId, call.caller.name,
                          call.caller.isAdmin)
    return d.addCallback(lambda _: {"return": True})


def _attributeAnswer(session, imageId, attribute, user, isAdmin):
    image = imagestore.ownImage(session, imageId, user, isAdmin)
    answer = {"imageId": image.id}
    if attribute == "launchPermission":
        permissions = [{"group": "all"}] if image.isPublic else []
        permissions += [{"userId": name}
                        for name in imagestore.launchUsers(session, image.id)]
        answer["launchPermission"] = permissions
    elif attribute == "description":
        answer["description"] = {"value": image.description}
    elif attribute == "kernel":
        answer["kernel"] = {"value": image.kernelId}
    elif attribute == "ramdisk":
        answer["ramdisk"] = {"value": image.ramdiskId}
    elif attribute == "productCodes":
        answer["productCodes"] = []
    elif attribute == "blockDeviceMapping":
        answer["blockDeviceMapping"] = []
    else:
        raise CloudError("InvalidParameterValue",
                         "Unknown image attribute %r" % (attribute[:64],))
    return answer


def describeImageAttribute(call):
    p = call.params
    return call.cloud.db.run(_attributeAnswer, params.required(p, "ImageId"),
                             params.required(p, "Attribute"), call.caller.name,
                             call.caller.isAdmin)


def _launchPermissionChanges(p):
    """``(addUsers, removeUsers, addGroups, removeGroups)`` in both spellings:
    ``LaunchPermission.Add.N.UserId`` (boto3) and ``OperationType`` +
    ``UserId.N``/``UserGroup.N`` (euca2ools, 2008-era clients)."""
    add = {"users": [], "groups": []}
    remove = {"users": [], "groups": []}
    for operation, target in (("Add", add), ("Remove", remove)):
        prefix = "LaunchPermission.%s" % (operation,)
        target["users"] += params.listOf(
            {k[:-len(".UserId")]: v for k, v in p.items() if k.endswith(".UserId")},
            prefix)
        target["groups"] += params.listOf(
            {k[:-len(".Group")]: v for k, v in p.items() if k.endswith(".Group")},
            prefix)
    users, groups = params.listOf(p, "UserId"), params.listOf(p, "UserGroup")
    if users or groups:
        operation = params.required(p, "OperationType")
        if operation not in ("add", "remove"):
            raise CloudError("InvalidParameterValue",
                             "OperationType must be add or remove")
        target = add if operation == "add" else remove
        target["users"] += users
        target["groups"] += groups
    return add["users"], remove["users"], add["groups"], remove["groups"]


def _modify(session, imageId, p, user, isAdmin):
    image = imagestore.ownImage(session, imageId, user, isAdmin)
    attribute = params.optional(p, "Attribute")
    description = p.get("Description.Value")
    if attribute == "description":
        description = params.required(p, "Value") if description is None else description
    addUsers, removeUsers, addGroups, removeGroups = _launchPermissionChanges(p)
    if description is None and not (addUsers or removeUsers or addGroups or removeGroups):
        raise CloudError("MissingParameter",
                         "The request must name a launch permission or a description")
    for name in addUsers:
        if accounts.findByName(session, name) is None:
            raise CloudError("InvalidUserID.Malformed", "No such user: %s" % (name[:64],))
    if description is not None:
        if len(description) > 255:
            raise CloudError("InvalidParameterValue", "The description is too long")
        image.description = description
    imagestore.changeLaunchPermission(session, image, addUsers, removeUsers,
                                      addGroups, removeGroups)


def modifyImageAttribute(call):
    d = call.cloud.db.run(_modify, params.required(call.params, "ImageId"), call.params,
                          call.caller.name, call.caller.isAdmin)
    return d.addCallback(lambda _: {"return": True})


def _reset(session, imageId, attribute, user, isAdmin):
    image = imagestore.ownImage(session, imageId, user, isAdmin)
    if attribute == "launchPermission":
        imagestore.resetLaunchPermission(session, image)
    elif attribute == "description":
        image.description = None
    else:
        raise CloudError("InvalidParameterValue",
                         "Only launchPermission and description can be reset")


def resetImageAttribute(call):
    p = call.params
    d = call.cloud.db.run(_reset, params.required(p, "ImageId"),
                          params.required(p, "Attribute"), call.caller.name,
                          call.caller.isAdmin)
    return d.addCallback(lambda _: {"return": True})
