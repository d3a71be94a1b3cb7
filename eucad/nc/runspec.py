"""Checks a CC's runInstance spec before the node acts on it.

Whatever arrives over the link ends up in file paths (owner, instance id),
in the domain XML and in libvirt calls, so each field is held to the shape
``eucad.common.interfaces`` documents; anything else is refused with
``CloudError("InvalidParameterValue")`` naming the field, before a single
file is made.  Called by ``eucad.nc.node``.
"""

import re
from urllib.parse import urlparse

from eucad.common import ids
from eucad.common.errors import CloudError
from eucad.nc.imagecache import parseDigest

# Ids and owners (which become paths) have the shapes of eucad.common.ids,
# the same the CC checks before it allocates anything for an instance.
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
BRIDGE = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")
IPV4 = re.compile(r"^(\d{1,3}\.){3}\d{1,3}$")
VMTYPE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
# Key names are free text, but they go into XML: no control characters.
KEY_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")

_IMAGE_KINDS = {"image": "machine", "kernel": "kernel", "ramdisk": "ramdisk"}


def invalid(field, why):
    return CloudError("InvalidParameterValue", "%s: %s" % (field, why))


def _string(spec, field, pattern=None, optional=False, where=""):
    """
    ``spec[field]`` if it is a string of the right shape; ``pattern`` is a
    regular expression or a predicate (the ``eucad.common.ids`` checks).
    """
    value = spec.get(field)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise invalid(where + field, "must be a string")
    if pattern is not None and not (pattern(value) if callable(pattern)
                                    else pattern.match(value)):
        raise invalid(where + field, "%r is malformed" % (value,))
    return value


def _integer(container, field, low, high, where=""):
    value = container.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(where + field, "must be an integer")
    if not low <= value <= high:
        raise invalid(where + field, "%d is outside %d..%d" % (value, low, high))
    return value


def _address(spec, network, field):
    """An address the CC put in the spec itself or (as it does) in ``network``."""
    if spec.get(field) is not None:
        return _string(spec, field, IPV4)
    return _string(network, field, IPV4, optional=True, where="network.")


def checkInstanceId(instanceId):
    """``instanceId`` if it is an instance id, else InvalidInstanceID.Malformed."""
    if not ids.isInstanceId(instanceId):
        raise CloudError("InvalidInstanceID.Malformed",
                         "Invalid id: %r" % (instanceId,))
    return instanceId


def checkVmType(vmType):
    if not isinstance(vmType, dict):
        raise invalid("vmType", "must be a dict")
    name = _string(vmType, "name", VMTYPE_NAME, where="vmType.")
    return {"name": name,
            "cpu": _integer(vmType, "cpu", 1, 256, "vmType."),
            "ram": _integer(vmType, "ram", 16, 16 * 1024 * 1024, "vmType."),
            "disk": _integer(vmType, "disk", 1, 64 * 1024, "vmType.")}


def checkImage(spec, field, optional):
    image = spec.get(field)
    if image is None and optional:
        return None
    if not isinstance(image, dict):
        raise invalid(field, "must be an image dict")
    _string(image, "id", ids.isImageId, where=field + ".")
    location = _string(image, "location", where=field + ".")
    parsed = urlparse(location)
    if parsed.scheme in ("http", "https"):
        if not parsed.netloc:
            raise invalid(field + ".location", "URL without a host")
    elif not location.startswith("/") or "\0" in location:
        raise invalid(field + ".location", "must be an absolute path or http(s) URL")
    kind = image.get("kind", _IMAGE_KINDS[field])
    if kind != _IMAGE_KINDS[field]:
        raise invalid(field + ".kind", "%r where %r was expected" % (kind, _IMAGE_KINDS[field]))
    try:
        parseDigest(image.get("digest"))
    except ValueError as e:
        raise invalid(field + ".digest", str(e))
    return {"id": image["id"], "kind": kind, "location": location,
            "digest": image.get("digest") or None}


def checkRunSpec(spec, defaultBridge):
    """
    The instance record (see ``eucad.nc.domainxml``) and the images of a
    valid run spec.

    @return: ``(record, {"machine": image, "kernel": image|None,
        "ramdisk": image|None})``.
    @raise CloudError: InvalidParameterValue for the first bad field.
    """
    if not isinstance(spec, dict):
        raise invalid("spec", "must be a dict")
    instanceId = _string(spec, "instanceId", ids.isInstanceId)
    images = {"machine": checkImage(spec, "image", optional=False),
              "kernel": checkImage(spec, "kernel", optional=True),
              "ramdisk": checkImage(spec, "ramdisk", optional=True)}
    if images["ramdisk"] is not None and images["kernel"] is None:
        raise invalid("ramdisk", "a ramdisk needs a kernel")
    network = spec.get("network") or {}
    if not isinstance(network, dict):
        raise invalid("network", "must be a dict")
    bridge = network.get("bridge") or defaultBridge
    if not isinstance(bridge, str) or not BRIDGE.match(bridge):
        raise invalid("network.bridge", "%r is not an interface name" % (bridge,))
    mtu = network.get("mtu")
    if mtu is not None:
        mtu = _integer(network, "mtu", 576, 65535, "network.")
    mac = _string(spec, "macAddress")
    if not MAC.match(mac.lower()):
        raise invalid("macAddress", "%r is not a MAC address" % (mac,))
    imageId = _string(spec, "imageId", ids.isImageId, optional=True) or images["machine"]["id"]
    if imageId != images["machine"]["id"]:
        raise invalid("imageId", "differs from image.id")
    launchIndex = spec.get("launchIndex", 0)
    record = {
        "instanceId": instanceId,
        "reservationId": _string(spec, "reservationId", ids.isReservationId),
        "owner": _string(spec, "owner", ids.isOwner),
        "imageId": imageId,
        "kernelId": images["kernel"]["id"] if images["kernel"] else None,
        "ramdiskId": images["ramdisk"]["id"] if images["ramdisk"] else None,
        "vmType": checkVmType(spec.get("vmType")),
        "launchIndex": _integer({"launchIndex": launchIndex}, "launchIndex", 0, 1 << 20),
        "keyName": _string(spec, "keyName", KEY_NAME, optional=True),
        "macAddress": mac.lower(),
        "privateIp": _address(spec, network, "privateIp"),
        "publicIp": _address(spec, network, "publicIp"),
        "bridge": bridge,
        "mtu": mtu,
    }
    return record, images
