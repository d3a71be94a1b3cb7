"""What the NC accepts from its CC: a RunSpec's own checks and the node's (eucad.nc.runspec)."""

from twisted.trial import unittest

from eucad.common.errors import CloudError
from eucad.nc.runspec import checkInstanceId, placedSpec
from tests.nc.specs import asRunSpec
from tests.nc.specs import runSpecData as runSpec


def checkRunSpec(data, defaultBridge):
    """The spec a node runs for ``data``: made a RunSpec, then placed."""
    spec = asRunSpec(data) if isinstance(data, dict) else data
    return placedSpec(spec, defaultBridge)


class CheckRunSpecTests(unittest.TestCase):
    """Valid specs become records; invalid ones name their bad field."""

    def assertInvalid(self, spec, field):
        error = self.assertRaises(CloudError, checkRunSpec, spec, "br0")
        self.assertEqual(error.code, "InvalidParameterValue")
        self.assertIn(field, error.message)

    def test_validSpecRecord(self):
        """A valid spec gives the record the domain XML carries, and its images."""
        kernel = {"id": "eki-0000bbbb", "kind": "kernel", "location": "/k", "digest": None}
        record = checkRunSpec(runSpec(kernel=kernel, macAddress="D0:0D:00:00:00:0A"), "br0")
        self.assertEqual(record["instanceId"], "i-00000001")
        self.assertEqual(record["kernelId"], "eki-0000bbbb")
        self.assertIsNone(record["ramdiskId"])
        self.assertEqual(record.network.macAddress, "d0:0d:00:00:00:0a")
        self.assertEqual(record["vmType"].toDict(), {"name": "m1.small", "cpu": 1, "ram": 128,
                                                     "disk": 1})
        self.assertEqual(record.network.bridge, "br0")
        self.assertEqual(record.image["location"], "/images/machine.img")
        self.assertEqual(record.kernel["kind"], "kernel")
        self.assertIsNone(record.ramdisk)

    def test_defaultBridge(self):
        """Without a bridge from the CC the node's VNET_BRIDGE is used."""
        record = checkRunSpec(runSpec(network={"owner": "a", "group": "g"}), "xenbr0")
        self.assertEqual(record.network.bridge, "xenbr0")

    def test_addressesFromNetwork(self):
        """The CC's addresses are taken from network when the spec has none of its own."""
        spec = runSpec(network={"bridge": "br0", "privateIp": "10.77.0.9",
                                "publicIp": "192.0.2.9"})
        del spec["privateIp"]
        record = checkRunSpec(spec, "br0")
        self.assertEqual((record.network.privateIp, record.network.publicIp),
                         ("10.77.0.9", "192.0.2.9"))
        self.assertInvalid(runSpec(privateIp=None, network={"privateIp": "x"}),
                           "network.privateIp")

    def test_notADict(self):
        """A spec that is not a dict is refused."""
        self.assertInvalid(["i-00000001"], "spec")

    def test_badInstanceId(self):
        """Instance ids must be i- and 8 hex digits (they become paths)."""
        for bad in ["i-1", "../../etc", "i-0000000g", None]:
            self.assertInvalid(runSpec(instanceId=bad), "instanceId")

    def test_badOwner(self):
        """Owners that could escape INSTANCE_PATH are refused."""
        for bad in ["..", ".", "a/b", "", "x" * 65, 5]:
            self.assertInvalid(runSpec(owner=bad), "owner")

    def test_idsAndOwnersOfTheCloud(self):
        """Ids and owners follow eucad.common.ids: CLC user names pass, trailing newlines do not."""
        record = checkRunSpec(runSpec(owner="bob.smith@example.com"), "br0")
        self.assertEqual(record["owner"], "bob.smith@example.com")
        self.assertInvalid(runSpec(instanceId="i-00000001\n"), "instanceId")
        self.assertInvalid(runSpec(reservationId="r-00000001\n"), "reservationId")
        self.assertInvalid(runSpec(owner="alice+x"), "owner")
        image = runSpec()["image"]
        self.assertInvalid(runSpec(image=dict(image, id="EMI-0000ABCD"),
                                   imageId="EMI-0000ABCD"), "id")

    def test_badVmType(self):
        """VM types need integer cpu, ram and disk in range (booleans are not integers)."""
        for bad in [None, {"name": "m1.small", "cpu": 0, "ram": 128, "disk": 1},
                    {"name": "m1.small", "cpu": 1, "ram": "128", "disk": 1},
                    {"name": "m1.small", "cpu": True, "ram": 128, "disk": 1},
                    {"name": "bad name!", "cpu": 1, "ram": 128, "disk": 1}]:
            self.assertInvalid(runSpec(vmType=bad), "vmType")

    def test_badMac(self):
        """A malformed MAC is refused."""
        self.assertInvalid(runSpec(macAddress="d0:0d:00:00:00"), "macAddress")
        self.assertInvalid(runSpec(macAddress=None), "macAddress")

    def test_badImage(self):
        """Images need an id, an absolute path or http(s) URL, and a parseable digest."""
        image = runSpec()["image"]
        self.assertInvalid(runSpec(image=dict(image, location="relative/path")), "image.location")
        self.assertInvalid(runSpec(image=dict(image, location="ftp://x/y")), "image.location")
        self.assertInvalid(runSpec(image=dict(image, id="ami-1")), "id")
        self.assertInvalid(runSpec(image=dict(image, digest="nothex")), "image.digest")
        self.assertInvalid(runSpec(image=dict(image, kind="kernel")), "image.kind")
        self.assertInvalid(runSpec(image=None), "image")
        self.assertInvalid(runSpec(imageId="emi-0000ffff"), "imageId")

    def test_httpImageAccepted(self):
        """A Walrus URL is a valid location."""
        image = dict(runSpec()["image"], location="http://10.0.0.1:8773/services/Walrus/b/o",
                     digest="a" * 40)
        record = checkRunSpec(runSpec(image=image), "br0")
        self.assertEqual(record.image["digest"], "a" * 40)

    def test_ramdiskNeedsKernel(self):
        """A ramdisk without a kernel is refused."""
        ramdisk = {"id": "eri-0000cccc", "kind": "ramdisk", "location": "/r", "digest": None}
        self.assertInvalid(runSpec(ramdisk=ramdisk), "ramdisk")

    def test_badNetwork(self):
        """Bridge names must be interface names; MTUs in 576..65535."""
        self.assertInvalid(runSpec(network={"bridge": "br0; rm -rf /"}), "network.bridge")
        self.assertInvalid(runSpec(network={"bridge": "br0", "mtu": 100}), "network.mtu")
        self.assertInvalid(runSpec(network="br0"), "network")

    def test_badKeyName(self):
        """Key names with control characters cannot reach the XML."""
        self.assertInvalid(runSpec(keyName="a\x00b"), "keyName")

    def test_badLaunchIndex(self):
        """launchIndex is a non-negative integer."""
        self.assertInvalid(runSpec(launchIndex=-1), "launchIndex")
        self.assertInvalid(runSpec(launchIndex="0"), "launchIndex")


class CheckInstanceIdTests(unittest.TestCase):
    """Instance ids given to terminate."""

    def test_malformed(self):
        """A malformed id is InvalidInstanceID.Malformed."""
        error = self.assertRaises(CloudError, checkInstanceId, "i-xyz")
        self.assertEqual(error.code, "InvalidInstanceID.Malformed")
        self.assertEqual(checkInstanceId("i-0000beef"), "i-0000beef")
