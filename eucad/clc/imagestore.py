"""Registered images: kernels (eki-), ramdisks (eri-) and machine images (emi-).

Called inside DB transactions by RegisterImage and the other image
operations, by the local registration tool, by DescribeImages and by the
launch validation; raises ``CloudError`` with EC2's codes so that callers
pass failures straight to the user.

An image registered from a bundle is ``pending`` until its bundle has been
decrypted, then ``available`` (or ``failed``, with the reason kept in
``stateReason``).  Who may launch an image: its owner, the admin, everybody
when it is public (launch permission group ``all``), and the users listed in
``image_launch_permissions``.
"""

import time

from sqlalchemy import delete, select

from eucad.clc import ids
from eucad.clc.models import Image, ImageLaunchPermission
from eucad.common.errors import CloudError

KINDS = ("machine", "kernel", "ramdisk")
PENDING = "pending"
AVAILABLE = "available"
FAILED = "failed"
#: Set by the admin on the web pages: neither described to users nor launchable.
DISABLED = "disabled"


def launchUsers(session, imageId):
    """The users (besides the owner) given launch permission, sorted."""
    return sorted(session.scalars(select(ImageLaunchPermission.user).where(
        ImageLaunchPermission.imageId == imageId)))


def canSee(session, image, user, isAdmin):
    """Public images are everybody's; private ones their owner's, the admin's
    and those of the users given launch permission."""
    if isAdmin or image.isPublic or image.owner == user:
        return True
    return session.get(ImageLaunchPermission, (image.id, user)) is not None


def checkImageId(imageId):
    """Raise InvalidAMIID.Malformed unless ``imageId`` looks like emi-/eki-/eri-."""
    if not ids.isId(imageId, *ids.IMAGE_KIND_BY_PREFIX):
        raise CloudError("InvalidAMIID.Malformed",
                         "Invalid id: \"%s\"" % (imageId,))


def findImage(session, imageId, kind, owner, isAdmin):
    """
    The available image ``imageId`` of ``kind`` that ``owner`` may use.

    Unknown, deregistered, foreign private or wrong-kind images are all
    "not found", so that a user learns nothing about images they cannot use.
    """
    checkImageId(imageId)
    image = session.get(Image, imageId)
    if (image is None or image.kind != kind or image.state != AVAILABLE
            or not canSee(session, image, owner, isAdmin)):
        raise CloudError("InvalidAMIID.NotFound",
                         "The %s id '%s' does not exist" % (
                             "image" if kind == "machine" else kind, imageId))
    return image


def registerImage(session, owner, kind, location, isPublic=True,
                  architecture="x86_64", kernelId=None, ramdiskId=None,
                  digest=None, name=None, description=None, now=None,
                  state=AVAILABLE):
    """
    Add an image and return its record; a machine image may name the kernel
    and ramdisk it boots with by default (both must be registered already).
    """
    if kind not in KINDS:
        raise CloudError("InvalidParameterValue", "Unknown image kind %r" % (kind,))
    if kind != "machine" and (kernelId or ramdiskId):
        raise CloudError("InvalidParameterCombination",
                         "Only machine images have a kernel and ramdisk")
    if kernelId:
        findImage(session, kernelId, "kernel", owner, True)
    if ramdiskId:
        findImage(session, ramdiskId, "ramdisk", owner, True)
    image = Image(id=ids.newUniqueId(session, Image, ids.IMAGE_PREFIX_BY_KIND[kind]),
                  kind=kind, location=location, owner=owner, isPublic=isPublic,
                  state=state, architecture=architecture, kernelId=kernelId,
                  ramdiskId=ramdiskId, digest=digest, name=name,
                  description=description,
                  registered=time.time() if now is None else now)
    session.add(image)
    session.flush()
    return image.record()


def listImages(session, owner, isAdmin, imageIds=()):
    """
    Records of the images ``owner`` may see (any state but ``disabled``,
    which only the admin sees), in id order, each
    with its ``launchUsers``; with ``imageIds``, exactly those
    (InvalidAMIID.NotFound if one is missing).
    """
    query = select(Image).order_by(Image.id)
    if imageIds:
        for imageId in imageIds:
            checkImageId(imageId)
        query = query.where(Image.id.in_(list(imageIds)))
    images = [image for image in session.scalars(query)
              if canSee(session, image, owner, isAdmin)
              and (isAdmin or image.state != DISABLED)]
    if imageIds:
        found = {image.id for image in images}
        missing = [imageId for imageId in imageIds if imageId not in found]
        if missing:
            raise CloudError("InvalidAMIID.NotFound",
                             "The image id '[%s]' does not exist" % (
                                 ", ".join(missing),))
    return [dict(image.record(), launchUsers=launchUsers(session, image.id))
            for image in images]


def ownImage(session, imageId, user, isAdmin):
    """
    The image ``imageId`` if ``user`` owns it (or is the admin): the
    condition to change or deregister it.  Images the user cannot see are
    "not found"; visible ones of others are AuthFailure.
    """
    checkImageId(imageId)
    image = session.get(Image, imageId)
    if image is None or not canSee(session, image, user, isAdmin):
        raise CloudError("InvalidAMIID.NotFound",
                         "The image id '[%s]' does not exist" % (imageId,))
    if not (isAdmin or image.owner == user):
        raise CloudError("AuthFailure", "Not authorized for image %s" % (imageId,), 403)
    return image


def deregisterImage(session, imageId, user, isAdmin):
    """Forget the image (its bundle stays in Walrus, as on EC2)."""
    image = ownImage(session, imageId, user, isAdmin)
    session.execute(delete(ImageLaunchPermission).where(
        ImageLaunchPermission.imageId == imageId))
    session.delete(image)


def pendingImages(session):
    """
    ``(imageId, location, owner, isAdmin, accessKey, secretKey)`` of every
    image still ``pending`` (owner None when that user is gone or disabled).
    """
    from eucad.common import accounts
    found = []
    for image in session.scalars(select(Image).where(Image.state == PENDING)
                                 .order_by(Image.id)):
        user = accounts.findByName(session, image.owner)
        if user is None or not user.enabled:
            found.append((image.id, image.location, None, False, None, None))
        else:
            found.append((image.id, image.location, user.name, user.isAdmin,
                          user.accessKey, user.secretKey))
    return found


def markAvailable(session, imageId, sha1, size):
    """The bundle decrypted: record what it measured and let it launch."""
    image = session.get(Image, imageId)
    if image is None or image.state != PENDING:
        return False
    image.state, image.digest, image.size, image.stateReason = (
        AVAILABLE, "sha1:" + sha1, size, None)
    return True


def markFailed(session, imageId, reason):
    image = session.get(Image, imageId)
    if image is None or image.state != PENDING:
        return False
    image.state, image.stateReason = FAILED, reason[:512]
    return True


def changeLaunchPermission(session, image, addUsers=(), removeUsers=(),
                           addGroups=(), removeGroups=()):
    """Add or remove users and the group ``all`` (public) from ``image``."""
    for group in tuple(addGroups) + tuple(removeGroups):
        if group != "all":
            raise CloudError("InvalidParameterValue",
                             "Unknown launch permission group %r (only 'all')" % (group,))
    for user in addUsers:
        if user != image.owner and session.get(
                ImageLaunchPermission, (image.id, user)) is None:
            session.add(ImageLaunchPermission(imageId=image.id, user=user))
    for user in removeUsers:
        row = session.get(ImageLaunchPermission, (image.id, user))
        if row is not None:
            session.delete(row)
    if "all" in addGroups:
        image.isPublic = True
    if "all" in removeGroups:
        image.isPublic = False
    session.flush()


def resetLaunchPermission(session, image):
    """Back to private: no users, not public."""
    session.execute(delete(ImageLaunchPermission).where(
        ImageLaunchPermission.imageId == image.id))
    image.isPublic = False


def deliverable(session, imageId):
    """
    What delivering ``imageId`` to a node needs: ``(state, location, digest,
    owner, isAdmin, accessKey, secretKey)``, or None for an unknown image.
    The owner's keys read the bundle again if the decrypted copy was evicted.
    """
    from eucad.common import accounts
    image = session.get(Image, imageId)
    if image is None:
        return None
    user = accounts.findByName(session, image.owner)
    if user is None or not user.enabled:
        return (image.state, image.location, image.digest, None, False, None, None)
    return (image.state, image.location, image.digest, user.name, user.isAdmin,
            user.accessKey, user.secretKey)


def isAdminCertificate(session, serial):
    """Whether the certificate of ``serial`` was issued to an enabled admin and is valid."""
    from eucad.common import accounts
    row = session.scalars(select(accounts.UserCertificate).where(
        accounts.UserCertificate.serial == serial,
        accounts.UserCertificate.revoked.is_(None))).first()
    if row is None:
        return False
    user = accounts.findByName(session, row.user)
    return user is not None and user.enabled and user.isAdmin
