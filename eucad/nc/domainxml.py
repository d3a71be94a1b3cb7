"""The libvirt domain XML of one instance, and the instance record inside it.

The XML is built with lxml elements, so no value from a request can break
out of its attribute or text node.  Besides the VM itself it carries, in a
``<metadata>`` element of the eucad namespace, the instance's ``RunSpec``
(one element per field, nested ones nested: owner, reservation, images, VM
type, network, user data...) and its launch time: libvirt keeps it with the
domain, so a restarted node controller rebuilds its table from libvirt alone
(``parseInstanceRecord``) and needs no state file of its own.  The user data
travels with the spec, so the domain XML is kept private to root.

Used by ``eucad.nc.instances`` when starting and when re-adopting domains.
"""

from lxml import etree

from eucad.common.records import RunSpec

#: The XML namespace of the instance record in ``<metadata>``.
METADATA_NAMESPACE = "http://eucad.invalid/xmlns/instance/1"
_NS = "{%s}" % (METADATA_NAMESPACE,)

#: Fields read back as integers; every other leaf is text.
_INTEGER_FIELDS = frozenset(["launchTime", "launchIndex", "cpu", "ram", "disk", "mtu",
                             "tag"])
#: Fields holding a list of words (a MANAGED network's VXLAN flood peers).
_LIST_FIELDS = frozenset(["floodPeers"])


#: What the guest kernel is told: its root disk and serial console, and
#: ``no_timer_check``.  Nothing about the instance: a guest learns who it is
#: from the metadata service.
#:
#: ``no_timer_check`` skips Linux's boot-time check that the IO-APIC timer
#: interrupt arrives within a few ticks of busy-waiting.  A virtual CPU that
#: the host does not run during those few milliseconds (qemu without KVM on
#: a node busy booting other instances) fails it and the kernel panics with
#: "IO-APIC + timer doesn't work!": measured here, 5 of 10 guests booted at
#: once on 2 loaded cores.  The timer is the hypervisor's and does work, so
#: the check only ever fails spuriously in a VM (cloud images pass the same
#: option); kernels that do not know the option ignore it.
KERNEL_COMMAND_LINE = "root=/dev/vda console=ttyS0 no_timer_check"


def _sub(parent, tag, text=None, **attributes):
    element = etree.SubElement(parent, tag, {k: str(v) for k, v in attributes.items()})
    if text is not None:
        element.text = str(text)
    return element


def _fill(parent, data):
    for name, value in data.items():
        if value is None:
            continue
        if isinstance(value, dict):
            _fill(_sub(parent, _NS + name), value)
        elif name in _LIST_FIELDS:
            _sub(parent, _NS + name, " ".join(value))
        else:
            _sub(parent, _NS + name, value)


def _recordElement(spec, launchTime):
    instance = etree.Element(_NS + "instance", nsmap={"eucad": METADATA_NAMESPACE})
    _fill(instance, spec.toDict())
    _sub(instance, _NS + "launchTime", launchTime)
    return instance


#: The disks of an instance: Eucalyptus's sda1 (root), sda2 (ephemeral) and
#: sda3 (swap) are virtio's vda, vdb and vdc here; each carries its
#: block-device-mapping name as its serial, so a guest finds it as
#: ``/dev/disk/by-id/virtio-<name>`` whatever the kernel calls it.
DISK_TARGETS = (("root", "vda", "ami"), ("ephemeral", "vdb", "ephemeral0"),
                ("swap", "vdc", "swap"))


def _disk(devices, path, target, format, serial):
    disk = _sub(devices, "disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type=format)
    _sub(disk, "source", file=path)
    _sub(disk, "target", dev=target, bus="virtio")
    _sub(disk, "serial", serial)


def buildDomainXml(spec, launchTime, domainType, files):
    """
    The domain XML (a str) for an instance.

    @param spec: the instance's ``RunSpec``, its network placed (MAC,
        bridge, mtu).
    @param launchTime: epoch seconds the node accepted it.
    @param domainType: ``kvm`` or ``qemu``.
    @param files: an ``eucad.nc.instancefiles.InstanceFiles``: where the
        kernel, initrd, disks and console log are (``kernel``, ``ramdisk``,
        ``ephemeral`` and ``swap`` may be None when the instance has none).
    """
    if domainType not in ("kvm", "qemu"):
        raise ValueError("domain type must be kvm or qemu, not %r" % (domainType,))
    vmType, network = spec.vmType, spec.network
    domain = etree.Element("domain", type=domainType)
    _sub(domain, "name", spec.instanceId)
    metadata = _sub(domain, "metadata")
    metadata.append(_recordElement(spec, launchTime))
    _sub(domain, "memory", vmType.ram, unit="MiB")
    _sub(domain, "vcpu", vmType.cpu)

    os_ = _sub(domain, "os")
    _sub(os_, "type", "hvm")
    if files.kernel is not None:
        _sub(os_, "kernel", files.kernel)
        if files.ramdisk is not None:
            _sub(os_, "initrd", files.ramdisk)
        _sub(os_, "cmdline", KERNEL_COMMAND_LINE)
    else:
        _sub(os_, "boot", dev="hd")
    features = _sub(domain, "features")
    _sub(features, "acpi")
    _sub(domain, "on_poweroff", "destroy")
    _sub(domain, "on_reboot", "restart")
    _sub(domain, "on_crash", "destroy")

    devices = _sub(domain, "devices")
    for name, target, serial in DISK_TARGETS:
        path = getattr(files, name)
        if path is not None:
            _disk(devices, path, target, "qcow2" if name == "root" else "raw", serial)

    interface = _sub(devices, "interface", type="bridge")
    _sub(interface, "source", bridge=network.bridge)
    _sub(interface, "mac", address=network.macAddress)
    _sub(interface, "target", dev=tapName(spec.instanceId))
    _sub(interface, "model", type="virtio")
    if network.mtu:
        _sub(interface, "mtu", size=network.mtu)

    serial = _sub(devices, "serial", type="file")
    _sub(serial, "source", path=files.console)
    _sub(serial, "target", port=0)
    # No USB controller and no memory balloon, which libvirt adds to every
    # domain unless told otherwise: nothing uses them (an instance has no
    # USB device, and no node controller resizes a guest's memory, as
    # Eucalyptus never did), and every device costs each boot: the guest
    # kernel enumerates and probes it (the balloon is one more virtio-pci
    # device to set up), CPU that qemu without KVM spends again for each of
    # the instances a node starts at once.
    _sub(devices, "controller", type="usb", model="none")
    _sub(devices, "memballoon", model="none")
    return etree.tostring(domain, pretty_print=True, encoding="unicode")


def tapName(instanceId):
    """The host-side tap device of an instance (at most 15 characters)."""
    return ("vn-" + instanceId)[:15]


def _read(element):
    data = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue  # a comment
        name = etree.QName(child).localname
        if len(child):
            data[name] = _read(child)
        elif name in _INTEGER_FIELDS:
            data[name] = int(child.text)
        elif name in _LIST_FIELDS:
            data[name] = (child.text or "").split()
        else:
            data[name] = child.text or ""
    return data


def filesUsedBy(domainXml):
    """
    Every host file a domain's XML names (disk sources, kernel, initrd,
    serial console), for any domain, eucad's or not: the start-up sweep
    removes no directory a running domain still uses.
    """
    root = etree.fromstring(domainXml.encode("utf-8") if isinstance(domainXml, str)
                            else domainXml)
    paths = [element.text for element in root.iterfind("os/kernel")]
    paths += [element.text for element in root.iterfind("os/initrd")]
    paths += root.xpath("devices/*/source/@file | devices/*/source/@path")
    return {str(path) for path in paths if path}


def parseInstanceRecord(domainXml):
    """
    ``(RunSpec, launchTime)`` stored in a domain's XML, or None when the
    domain carries none (a domain eucad did not start: the NC leaves it
    alone).

    @raise CloudError: for a record that is no valid RunSpec.
    @raise ValueError: for a launch time that is no integer.
    """
    root = etree.fromstring(domainXml.encode("utf-8") if isinstance(domainXml, str)
                            else domainXml)
    instance = root.find("metadata/" + _NS + "instance")
    if instance is None:
        return None
    data = _read(instance)
    launchTime = data.pop("launchTime", None)
    return RunSpec.fromDict(data), launchTime
