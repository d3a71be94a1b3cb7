"""Tests for eucad.nc.domainxml: the domain XML and the record inside it."""

from lxml import etree
from twisted.trial import unittest

from eucad.nc.domainxml import (METADATA_NAMESPACE, buildDomainXml,
                                KERNEL_COMMAND_LINE, parseInstanceRecord, tapName)
from eucad.common.records import RunSpec
from eucad.nc.instancefiles import InstanceFiles

LAUNCH_TIME = 1700000000

#: Where each field of the old flat sample lives in a RunSpec.
_NETWORK_FIELDS = ("macAddress", "privateIp", "publicIp", "bridge", "mtu")
_IMAGE_FIELDS = {"kernelId": ("kernel", "kernel", "/k"), "ramdiskId": ("ramdisk", "ramdisk", "/r")}


def sampleRecord(**changes):
    """A placed RunSpec; ``changes`` name its fields as the flat record did."""
    flat = {
        "instanceId": "i-1234abcd", "reservationId": "r-00ff00ff",
        "owner": "alice", "imageId": "emi-11111111", "kernelId": "eki-22222222",
        "ramdiskId": "eri-33333333", "launchIndex": 2,
        "keyName": "mykey", "macAddress": "d0:0d:12:34:ab:cd",
        "privateIp": "10.77.0.40", "publicIp": None, "bridge": "br0",
        "mtu": 1450,
        "vmType": {"name": "m1.large", "cpu": 2, "ram": 512, "disk": 10},
    }
    flat.update(changes)
    data = {key: value for key, value in flat.items()
            if key not in _NETWORK_FIELDS and key not in _IMAGE_FIELDS}
    data["image"] = {"id": data.pop("imageId"), "kind": "machine", "location": "/m"}
    for key, (field, kind, location) in _IMAGE_FIELDS.items():
        if flat[key] is not None:
            data[field] = {"id": flat[key], "kind": kind, "location": location}
    data["network"] = dict({key: flat[key] for key in _NETWORK_FIELDS}, owner=flat["owner"])
    data["userData"] = "dXNlciBkYXRh"
    return RunSpec.fromDict(data)


def sampleFiles(kernel=True, ephemeral=True, swap=True):
    files = InstanceFiles("/srv/instances", "alice", "i-1234abcd")
    if kernel:
        files.kernel = files.directory + "/kernel"
        files.ramdisk = files.directory + "/ramdisk"
    if ephemeral:
        files.ephemeral = files.directory + "/ephemeral.img"
    if swap:
        files.swap = files.directory + "/swap.img"
    return files


class DomainXmlTests(unittest.TestCase):
    """The XML libvirt gets for an instance."""

    def parse(self, record=None, files=None, domainType="qemu"):
        xml = buildDomainXml(record or sampleRecord(), LAUNCH_TIME, domainType,
                             files or sampleFiles())
        return etree.fromstring(xml.encode())

    def test_typeNameMemoryVcpus(self):
        """The domain type, name, memory and vcpus come from the record and VM type."""
        root = self.parse(domainType="kvm")
        self.assertEqual(root.get("type"), "kvm")
        self.assertEqual(root.findtext("name"), "i-1234abcd")
        self.assertEqual(root.find("memory").get("unit"), "MiB")
        self.assertEqual(root.findtext("memory"), "512")
        self.assertEqual(root.findtext("vcpu"), "2")

    def test_rejectsUnknownDomainType(self):
        """Only kvm and qemu domains are built."""
        self.assertRaises(ValueError, buildDomainXml, sampleRecord(), LAUNCH_TIME, "xen",
                          sampleFiles())

    def test_kernelBoot(self):
        """The os element boots the instance's kernel and initrd; the command line names no
        instance and skips the IO-APIC timer check a starved virtual CPU fails."""
        root = self.parse()
        files = sampleFiles()
        self.assertEqual(root.findtext("os/type"), "hvm")
        self.assertEqual(root.findtext("os/kernel"), files.kernel)
        self.assertEqual(root.findtext("os/initrd"), files.ramdisk)
        self.assertEqual(root.findtext("os/cmdline"), "root=/dev/vda console=ttyS0 no_timer_check")
        self.assertEqual(KERNEL_COMMAND_LINE, root.findtext("os/cmdline"))

    def test_diskBootWithoutKernel(self):
        """An image without a kernel boots from its disk."""
        root = self.parse(files=sampleFiles(kernel=False))
        self.assertIsNone(root.find("os/kernel"))
        self.assertIsNone(root.find("os/cmdline"))
        self.assertEqual(root.find("os/boot").get("dev"), "hd")

    def test_disks(self):
        """Root is a qcow2 vda, ephemeral a raw vdb, swap a raw vdc, all virtio, each named by its serial."""
        root = self.parse()
        files = sampleFiles()
        disks = {d.find("target").get("dev"): d for d in root.iterfind("devices/disk")}
        self.assertEqual(sorted(disks), ["vda", "vdb", "vdc"])
        expected = {"vda": (files.root, "qcow2"), "vdb": (files.ephemeral, "raw"),
                    "vdc": (files.swap, "raw")}
        for dev, (path, format) in expected.items():
            self.assertEqual(disks[dev].find("source").get("file"), path)
            self.assertEqual(disks[dev].find("driver").get("type"), format)
            self.assertEqual(disks[dev].find("target").get("bus"), "virtio")
        self.assertEqual({dev: disk.findtext("serial") for dev, disk in disks.items()},
                         {"vda": "ami", "vdb": "ephemeral0", "vdc": "swap"})

    def test_noEphemeralNorSwap(self):
        """A VM type with no room left has only the root disk."""
        root = self.parse(files=sampleFiles(ephemeral=False, swap=False))
        self.assertEqual([d.find("target").get("dev") for d in root.iterfind("devices/disk")],
                         ["vda"])

    def test_interface(self):
        """The NIC is a virtio tap named vn-<id> on the CC's bridge with its MAC and MTU."""
        interface = self.parse().find("devices/interface")
        self.assertEqual(interface.get("type"), "bridge")
        self.assertEqual(interface.find("source").get("bridge"), "br0")
        self.assertEqual(interface.find("mac").get("address"), "d0:0d:12:34:ab:cd")
        self.assertEqual(interface.find("target").get("dev"), "vn-i-1234abcd")
        self.assertEqual(interface.find("model").get("type"), "virtio")
        self.assertEqual(interface.find("mtu").get("size"), "1450")

    def test_noMtu(self):
        """Without an MTU the interface carries no mtu element."""
        root = self.parse(record=sampleRecord(mtu=None))
        self.assertIsNone(root.find("devices/interface/mtu"))

    def test_tapNameFitsInterfaceNames(self):
        """Tap names stay within the kernel's 15 characters."""
        self.assertEqual(tapName("i-1234abcd"), "vn-i-1234abcd")
        self.assertLessEqual(len(tapName("i-1234abcd1234abcd")), 15)

    def test_serialConsoleFile(self):
        """The serial console is logged into the instance directory."""
        serial = self.parse().find("devices/serial")
        self.assertEqual(serial.get("type"), "file")
        self.assertEqual(serial.find("source").get("path"), sampleFiles().console)

    def test_noUsbNorBalloon(self):
        """The domain asks libvirt for no USB controller and no memory balloon."""
        devices = self.parse().find("devices")
        self.assertEqual([c.get("model") for c in devices.iterfind("controller[@type='usb']")],
                         ["none"])
        self.assertEqual([b.get("model") for b in devices.iterfind("memballoon")], ["none"])

    def test_metadataNamespace(self):
        """The record sits in <metadata> in the eucad namespace."""
        instance = self.parse().find("metadata/{%s}instance" % (METADATA_NAMESPACE,))
        self.assertIsNotNone(instance)
        self.assertEqual(instance.findtext("{%s}owner" % (METADATA_NAMESPACE,)), "alice")

    def test_recordRoundTrip(self):
        """parseInstanceRecord gives back exactly the record that was built in."""
        record = sampleRecord()
        xml = buildDomainXml(record, LAUNCH_TIME, "qemu", sampleFiles())
        self.assertEqual(parseInstanceRecord(xml), (record, LAUNCH_TIME))

    def test_recordRoundTripWithNones(self):
        """Absent optional fields come back as None."""
        record = sampleRecord(kernelId=None, ramdiskId=None, keyName=None,
                              privateIp=None, mtu=None)
        xml = buildDomainXml(record, LAUNCH_TIME, "qemu", sampleFiles(kernel=False))
        self.assertEqual(parseInstanceRecord(xml), (record, LAUNCH_TIME))

    def test_userTextCannotInjectXml(self):
        """Markup in a record value stays text: no element is added."""
        evil = "k'/><devices><disk/></devices><x a='"
        xml = buildDomainXml(sampleRecord(keyName=evil), LAUNCH_TIME, "qemu", sampleFiles())
        root = etree.fromstring(xml.encode())
        self.assertEqual(len(root.findall("devices")), 1)
        self.assertEqual(parseInstanceRecord(xml)[0]["keyName"], evil)

    def test_foreignDomainHasNoRecord(self):
        """A domain eucad did not make yields no record."""
        self.assertIsNone(parseInstanceRecord(
            "<domain type='test'><name>test</name></domain>"))
        self.assertIsNone(parseInstanceRecord(
            "<domain><name>x</name><metadata><other xmlns='urn:x'/></metadata></domain>"))
