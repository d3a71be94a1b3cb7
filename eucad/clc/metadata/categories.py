"""The meta-data tree of one instance, as EC2 and Eucalyptus served it.

A tree is a ``Directory`` of names that lead to text values or to further
directories.  ``metadataTree(record, version)`` builds it from the record
``lookup.instanceAt`` gives; a dated version shows only the categories EC2
had introduced by that date, ``latest`` shows them all.

Addresses stand in for host names (the cloud runs no DNS of its own), and an
instance without a public address is told its private one as public, as
Eucalyptus did in its modes without public addresses.  Disks are named as
Eucalyptus named them: the root on sda1, ephemeral space on sda2, swap on
sda3.
"""

LATEST = "latest"

#: The dated versions, oldest first, as EC2 listed them in 2009.
VERSIONS = ("1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10",
            "2007-12-15", "2008-02-01", "2008-09-01", "2009-04-04")

#: The version that introduced each category (top-level name).
INTRODUCED = {
    "ami-id": "1.0",
    "ami-launch-index": "1.0",
    "ami-manifest-path": "1.0",
    "hostname": "1.0",
    "instance-id": "1.0",
    "local-ipv4": "1.0",
    "public-keys": "1.0",
    "reservation-id": "1.0",
    "security-groups": "1.0",
    "local-hostname": "2007-01-19",
    "public-hostname": "2007-01-19",
    "public-ipv4": "2007-01-19",
    "instance-type": "2007-08-29",
    "ramdisk-id": "2007-10-10",
    "block-device-mapping": "2007-12-15",
    "kernel-id": "2008-02-01",
    "placement": "2008-02-01",
}

#: Eucalyptus's disk layout: one disk with root, ephemeral and swap parts.
BLOCK_DEVICE_MAPPING = (("ami", "sda1"), ("root", "/dev/sda1"),
                        ("ephemeral0", "sda2"), ("swap", "sda3"))

UNKNOWN_ADDRESS = "0.0.0.0"


class Directory:
    """
    Named entries (text or ``Directory``) in listing order.

    ``labels`` replace an entry's name in the listing only: ``public-keys/``
    lists ``0=my-key`` while the key itself lives at ``public-keys/0/``.
    """

    def __init__(self, entries, labels=None):
        self.entries = dict(entries)
        self.labels = dict(labels or {})

    def child(self, name):
        return self.entries.get(name)

    def listing(self):
        """One line per entry; directories end in ``/``; no final newline."""
        lines = []
        for name, node in self.entries.items():
            if name in self.labels:
                lines.append(self.labels[name])
            elif isinstance(node, Directory):
                lines.append(name + "/")
            else:
                lines.append(name)
        return "\n".join(lines)


def isKnownVersion(version):
    return version == LATEST or version in VERSIONS


def _available(name, version):
    return version == LATEST or INTRODUCED[name] <= version


def _address(value):
    return value if value and value != UNKNOWN_ADDRESS else None


def metadataTree(record, version=LATEST):
    """
    The ``meta-data/`` directory of the instance ``record`` describes.

    @param record: as ``lookup.instanceAt`` returns it.
    @param version: ``latest`` or one of ``VERSIONS``.
    """
    private = _address(record["privateIp"]) or ""
    public = _address(record["publicIp"]) or private
    values = {
        "ami-id": record["imageId"],
        "ami-launch-index": str(record["launchIndex"]),
        "ami-manifest-path": record["manifestPath"] or "(unknown)",
        "block-device-mapping": Directory(BLOCK_DEVICE_MAPPING),
        "hostname": private,
        "instance-id": record["id"],
        "instance-type": record["vmType"],
        "local-hostname": private,
        "local-ipv4": private,
        "placement": Directory([("availability-zone", record["cluster"])]),
        "public-hostname": public,
        "public-ipv4": public,
        "reservation-id": record["reservationId"],
        "security-groups": "\n".join(record["groups"]),
    }
    if record["kernelId"]:
        values["kernel-id"] = record["kernelId"]
    if record["ramdiskId"]:
        values["ramdisk-id"] = record["ramdiskId"]
    if record["keyName"] and record.get("keyData"):
        key = Directory([("openssh-key", record["keyData"].strip() + "\n")])
        values["public-keys"] = Directory([("0", key)],
                                          labels={"0": "0=" + record["keyName"]})
    return Directory(sorted((name, node) for name, node in values.items()
                            if _available(name, version)))


def find(node, names):
    """The node at ``names`` below ``node``, or None."""
    for name in names:
        if not isinstance(node, Directory):
            return None
        node = node.child(name)
        if node is None:
            return None
    return node
