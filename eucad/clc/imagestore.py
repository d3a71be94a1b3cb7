"""Registered images: kernels (eki-), ramdisks (eri-) and machine images (emi-).

Called inside DB transactions by the image registration tool, by
DescribeImages and by the launch validation; raises ``CloudError`` with EC2's
codes so that callers pass failures straight to the user.
"""

import time

from sqlalchemy import select

from eucad.clc import ids
from eucad.clc.models import Image
from eucad.common.errors import CloudError

KINDS = ("machine", "kernel", "ramdisk")
AVAILABLE = "available"


def canSee(image, owner, isAdmin):
    """Public images are everybody's; private ones their owner's and the admin's."""
    return isAdmin or image.isPublic or image.owner == owner


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
            or not canSee(image, owner, isAdmin)):
        raise CloudError("InvalidAMIID.NotFound",
                         "The %s id '%s' does not exist" % (
                             "image" if kind == "machine" else kind, imageId))
    return image


def registerImage(session, owner, kind, location, isPublic=True,
                  architecture="x86_64", kernelId=None, ramdiskId=None,
                  digest=None, name=None, description=None, now=None):
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
                  state=AVAILABLE, architecture=architecture, kernelId=kernelId,
                  ramdiskId=ramdiskId, digest=digest, name=name,
                  description=description,
                  registered=time.time() if now is None else now)
    session.add(image)
    session.flush()
    return image.record()


def listImages(session, owner, isAdmin, imageIds=()):
    """
    Records of the available images ``owner`` may see, in id order; with
    ``imageIds``, exactly those (InvalidAMIID.NotFound if one is missing).
    """
    query = select(Image).where(Image.state == AVAILABLE).order_by(Image.id)
    if imageIds:
        for imageId in imageIds:
            checkImageId(imageId)
        query = query.where(Image.id.in_(list(imageIds)))
    images = [image for image in session.scalars(query)
              if canSee(image, owner, isAdmin)]
    if imageIds:
        found = {image.id for image in images}
        missing = [imageId for imageId in imageIds if imageId not in found]
        if missing:
            raise CloudError("InvalidAMIID.NotFound",
                             "The image id '[%s]' does not exist" % (
                                 ", ".join(missing),))
    return [image.record() for image in images]
