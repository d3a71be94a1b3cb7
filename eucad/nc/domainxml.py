"""The libvirt domain XML of one instance, and the instance record inside it.

The XML is built with lxml elements, so no value from a request can break
out of its attribute or text node.  Besides the VM itself it carries, in a
``<metadata>`` element of the eucad namespace, the instance's record (owner,
reservation, images, VM type, MAC, launch time...): libvirt keeps it with the
domain, so a restarted node controller rebuilds its table from libvirt alone
(``parseInstanceRecord``) and needs no state file of its own.

Used by ``eucad.nc.instances`` when starting and when re-adopting domains.
"""

from lxml import etree

#: The XML namespace of the instance record in ``<metadata>``.
METADATA_NAMESPACE = "http://eucad.invalid/xmlns/instance/1"
_NS = "{%s}" % (METADATA_NAMESPACE,)

#: Record fields stored as text, in document order, and their types.
_FIELDS = [
    ("instanceId", str), ("reservationId", str), ("owner", str),
    ("imageId", str), ("kernelId", str), ("ramdiskId", str),
    ("launchTime", int), ("launchIndex", int), ("keyName", str),
    ("macAddress", str), ("privateIp", str), ("publicIp", str),
    ("bridge", str), ("mtu", int),
]
_VMTYPE_FIELDS = [("name", str), ("cpu", int), ("ram", int), ("disk", int)]


def kernelCommandLine(instanceId):
    """What the guest kernel is told: root disk, serial console, its id."""
    return "root=/dev/vda console=ttyS0 eucad.instance_id=%s" % (instanceId,)


def _sub(parent, tag, text=None, **attributes):
    element = etree.SubElement(parent, tag, {k: str(v) for k, v in attributes.items()})
    if text is not None:
        element.text = str(text)
    return element


def _recordElement(record):
    instance = etree.Element(_NS + "instance", nsmap={"eucad": METADATA_NAMESPACE})
    for name, _ in _FIELDS:
        if record.get(name) is not None:
            _sub(instance, _NS + name, record[name])
    vmType = _sub(instance, _NS + "vmType")
    for name, _ in _VMTYPE_FIELDS:
        _sub(vmType, _NS + name, record["vmType"][name])
    return instance


def _disk(devices, path, target, format):
    disk = _sub(devices, "disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type=format)
    _sub(disk, "source", file=path)
    _sub(disk, "target", dev=target, bus="virtio")


def buildDomainXml(record, domainType, files):
    """
    The domain XML (a str) for an instance.

    @param record: the instance record: the ``_FIELDS`` above plus
        ``vmType`` (``{"name", "cpu", "ram", "disk"}``).
    @param domainType: ``kvm`` or ``qemu``.
    @param files: an ``eucad.nc.instancefiles.InstanceFiles``: where the
        kernel, initrd, disks and console log are (``kernel``, ``ramdisk``,
        ``ephemeral`` and ``swap`` may be None when the instance has none).
    """
    if domainType not in ("kvm", "qemu"):
        raise ValueError("domain type must be kvm or qemu, not %r" % (domainType,))
    vmType = record["vmType"]
    domain = etree.Element("domain", type=domainType)
    _sub(domain, "name", record["instanceId"])
    metadata = _sub(domain, "metadata")
    metadata.append(_recordElement(record))
    _sub(domain, "memory", vmType["ram"], unit="MiB")
    _sub(domain, "vcpu", vmType["cpu"])

    os_ = _sub(domain, "os")
    _sub(os_, "type", "hvm")
    if files.kernel is not None:
        _sub(os_, "kernel", files.kernel)
        if files.ramdisk is not None:
            _sub(os_, "initrd", files.ramdisk)
        _sub(os_, "cmdline", kernelCommandLine(record["instanceId"]))
    else:
        _sub(os_, "boot", dev="hd")
    features = _sub(domain, "features")
    _sub(features, "acpi")
    _sub(domain, "on_poweroff", "destroy")
    _sub(domain, "on_reboot", "restart")
    _sub(domain, "on_crash", "destroy")

    devices = _sub(domain, "devices")
    _disk(devices, files.root, "vda", "qcow2")
    if files.ephemeral is not None:
        _disk(devices, files.ephemeral, "vdb", "raw")
    if files.swap is not None:
        _disk(devices, files.swap, "vdc", "raw")

    interface = _sub(devices, "interface", type="bridge")
    _sub(interface, "source", bridge=record["bridge"])
    _sub(interface, "mac", address=record["macAddress"])
    _sub(interface, "target", dev=tapName(record["instanceId"]))
    _sub(interface, "model", type="virtio")
    if record.get("mtu"):
        _sub(interface, "mtu", size=record["mtu"])

    serial = _sub(devices, "serial", type="file")
    _sub(serial, "source", path=files.console)
    _sub(serial, "target", port=0)
    return etree.tostring(domain, pretty_print=True, encoding="unicode")


def tapName(instanceId):
    """The host-side tap device of an instance (at most 15 characters)."""
    return ("vn-" + instanceId)[:15]


def _convert(kind, text):
    if text is None:
        return None
    return kind(text) if kind is int else text


def parseInstanceRecord(domainXml):
    """
    The instance record stored in a domain's XML, or None when the domain
    carries none (a domain eucad did not start: the NC leaves it alone).
    """
    root = etree.fromstring(domainXml.encode("utf-8") if isinstance(domainXml, str)
                            else domainXml)
    instance = root.find("metadata/" + _NS + "instance")
    if instance is None:
        return None
    record = {name: _convert(kind, instance.findtext(_NS + name))
              for name, kind in _FIELDS}
    vmType = instance.find(_NS + "vmType")
    if vmType is None or not record["instanceId"]:
        return None
    record["vmType"] = {name: _convert(kind, vmType.findtext(_NS + name))
                        for name, kind in _VMTYPE_FIELDS}
    return record

