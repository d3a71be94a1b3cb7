"""The link records: one set of checks where a record is made, and the copies PB makes of them."""

from twisted.trial import unittest

from eucad.common.errors import CloudError
from eucad.common.records import (Change, ClusterResources, ImageRef, InstanceReport,
                                  NetworkSpec, NodeResources, NodeStatus, RunSpec, Termination,
                                  VmType)
from tests.cc.helpers import nodeSpecData, runSpecData


class CheckedTests(unittest.TestCase):
    """A bad field is InvalidParameterValue naming it, whether the record is built or read."""

    def assertRefused(self, make, field):
        error = self.assertRaises(CloudError, make)
        self.assertEqual(error.code, "InvalidParameterValue")
        self.assertIn(field, error.message)

    def test_vmType(self):
        """VM types need a name and integer cpu, ram and disk in range."""
        self.assertEqual(VmType("m1.small", 1, 128, 10).size, (1, 128, 10))
        self.assertRefused(lambda: VmType("m1.small", 0, 128, 10), "cpu")
        self.assertRefused(lambda: VmType("m1.small", True, 128, 10), "cpu")
        self.assertRefused(lambda: VmType("m1.small", 1, "128", 10), "ram")
        self.assertRefused(lambda: VmType("bad name!", 1, 128, 10), "name")

    def test_imageRef(self):
        """Images need an image id, a known kind, a path or http(s) URL and a digest in a known form."""
        ImageRef("emi-00000001", "machine", "http://walrus:8773/b/o", "a" * 64)
        self.assertEqual(ImageRef("emi-00000001", "machine", "/m", "").digest, None)
        self.assertRefused(lambda: ImageRef("ami-00000001", "machine", "/m"), "id")
        self.assertRefused(lambda: ImageRef("emi-00000001", "disk", "/m"), "kind")
        self.assertRefused(lambda: ImageRef("emi-00000001", "machine", "m"), "location")
        self.assertRefused(lambda: ImageRef("emi-00000001", "machine", "ftp://x/y"), "location")
        self.assertRefused(lambda: ImageRef("emi-00000001", "machine", "/m", "xyz"), "digest")

    def test_networkSpec(self):
        """MACs are lowercased; addresses, bridges and MTUs are checked."""
        self.assertEqual(NetworkSpec("alice", macAddress="D0:0D:00:00:00:0A").macAddress,
                         "d0:0d:00:00:00:0a")
        self.assertRefused(lambda: NetworkSpec("alice", macAddress="d0:0d"), "macAddress")
        self.assertRefused(lambda: NetworkSpec("alice", privateIp="10.0.0.300"), "privateIp")
        self.assertRefused(lambda: NetworkSpec("alice", bridge="br0; rm -rf /"), "bridge")
        self.assertRefused(lambda: NetworkSpec("alice", mtu=100), "mtu")
        self.assertRefused(lambda: NetworkSpec("alice", group="a b"), "group")
        self.assertRefused(lambda: NetworkSpec("../x"), "owner")

    def test_managedNetworkFields(self):
        """A MANAGED network carries its encap, tag and flood peers, checked together."""
        network = NetworkSpec("alice", encap="vxlan", tag=70000,
                              floodPeers=["10.0.0.1", "10.0.0.3"])
        self.assertEqual(network.toDict()["floodPeers"], ["10.0.0.1", "10.0.0.3"])
        self.assertEqual(NetworkSpec.fromDict(network.toDict()), network)
        # What ManagedNetwork.nodeNetwork gives the CC for a VXLAN group.
        placed = RunSpec.fromDict(runSpecData(1)).withNetwork(
            macAddress="d2:0d:0a:64:00:03", bridge="eucabr1", mtu=1450,
            privateIp="10.100.0.3", publicIp="10.100.0.3", encap="vxlan", tag=1,
            floodPeers=["10.77.0.1", "10.77.0.2"])
        self.assertEqual((placed.network.get("tag"), placed.network["encap"]), (1, "vxlan"))
        self.assertRefused(lambda: NetworkSpec("alice", encap="vlan", tag=5000), "tag")
        self.assertRefused(lambda: NetworkSpec("alice", tag=10), "tag")
        self.assertRefused(lambda: NetworkSpec("alice", encap="gre", tag=10), "encap")
        self.assertRefused(lambda: NetworkSpec("alice", encap="vxlan", tag=10,
                                               floodPeers=["x"]), "floodPeers[0]")

    def test_runSpecFromData(self):
        """A run spec read from data checks every nested record and names the field."""
        spec = RunSpec.fromDict(runSpecData(1))
        self.assertIsInstance(spec.image, ImageRef)
        self.assertIsInstance(spec.vmType, VmType)
        self.assertEqual((spec.imageId, spec.kernelId, spec.ramdiskId),
                         ("emi-00000001", "eki-00000002", None))
        for key, value, field in [
                ("owner", "a/b", "owner"), ("instanceId", "i-1", "instanceId"),
                ("vmType", dict(runSpecData(1)["vmType"], disk=0), "vmType.disk"),
                ("image", dict(runSpecData(1)["image"], kind="kernel"), "image.kind"),
                ("userData", "not base64!", "userData"), ("launchIndex", -1, "launchIndex"),
                ("surprise", 1, "surprise"), ("imageId", "emi-0000ffff", "imageId")]:
            self.assertRefused(lambda: RunSpec.fromDict(dict(runSpecData(1), **{key: value})),
                               field)
        data = runSpecData(1)
        del data["reservationId"]
        self.assertRefused(lambda: RunSpec.fromDict(data), "reservationId")

    def test_ramdiskNeedsKernel(self):
        """A ramdisk without a kernel is refused."""
        ramdisk = {"id": "eri-0000cccc", "kind": "ramdisk", "location": "/r"}
        self.assertRefused(lambda: RunSpec.fromDict(dict(runSpecData(1), kernel=None,
                                                         ramdisk=ramdisk)), "ramdisk")

    def test_networkDefaultsToTheOwnersDefaultGroup(self):
        """A spec without a network, or a network without an owner, is the owner's default group."""
        data = runSpecData(1)
        del data["network"]
        self.assertEqual(RunSpec.fromDict(data).network, NetworkSpec("alice", "default"))
        data["network"] = {"group": "web"}
        self.assertEqual(RunSpec.fromDict(data).network, NetworkSpec("alice", "web"))

    def test_replaceChecksAgain(self):
        """A changed copy is checked like a new record; the original is unchanged."""
        spec = RunSpec.fromDict(runSpecData(1))
        placed = spec.withNetwork(macAddress="D2:0D:00:00:00:01", bridge="br0")
        self.assertEqual(placed.network.macAddress, "d2:0d:00:00:00:01")
        self.assertIsNone(spec.network.macAddress)
        self.assertRefused(lambda: spec.withNetwork(mtu=5), "mtu")
        self.assertRefused(lambda: spec.replace(owner=""), "owner")

    def test_terminationAndChange(self):
        """Terminations name an instance and two states; changes an integer generation and reports."""
        self.assertEqual(Termination("i-00000001", "running", "terminated").state, "terminated")
        self.assertRefused(lambda: Termination("i-00000001", "running", "gone"), "state")
        self.assertRefused(lambda: Termination("x", "running", "terminated"), "instanceId")
        self.assertEqual(Change(3, []).instances, [])
        self.assertRefused(lambda: Change("3", []), "generation")
        self.assertRefused(lambda: Change(3, [{"instanceId": "i-1"}]), "instances[0]")

    def test_consoleOutput(self):
        """A console output names an instance, a time and at most 64 KiB of base64."""
        from eucad.common.records import MAX_CONSOLE_CHARS, ConsoleOutput
        self.assertEqual(ConsoleOutput("i-00000001", 5.5).output, "")
        self.assertRefused(lambda: ConsoleOutput("i-00000001", 5, "not base64!"), "output")
        self.assertRefused(lambda: ConsoleOutput("i-00000001", 5, "A" * (MAX_CONSOLE_CHARS + 4)),
                           "output")
        self.assertRefused(lambda: ConsoleOutput("i-00000001", -1), "timestamp")

    def test_nodeStatusCertificatesAndContact(self):
        """A node's certificate verdicts are booleans and its last contact a time or None."""
        status = NodeStatus.fromDict({"host": "n1", "port": 8775, "state": "down"})
        self.assertEqual((status.ccCertOk, status.ncCertOk, status.lastSeen),
                         (False, False, None))
        self.assertEqual(NodeStatus("n1", 8775, "up", ccCertOk=True, ncCertOk=True,
                                    lastSeen=1230768000.5).lastSeen, 1230768000.5)
        self.assertRefused(lambda: NodeStatus("n1", 8775, "up", ccCertOk="true"), "ccCertOk")
        self.assertRefused(lambda: NodeStatus("n1", 8775, "up", ncCertOk=1), "ncCertOk")
        self.assertRefused(lambda: NodeStatus("n1", 8775, "up", lastSeen=-1), "lastSeen")

    def test_immutable(self):
        """Records cannot be changed in place."""
        spec = RunSpec.fromDict(runSpecData(1))
        with self.assertRaises(Exception):
            spec.owner = "mallory"
        with self.assertRaises(TypeError):
            spec["owner"] = "mallory"


class ShapeTests(unittest.TestCase):
    """What records look like as data and as reports."""

    def test_roundTrip(self):
        """toDict gives plain data that fromDict turns back into an equal record."""
        spec = RunSpec.fromDict(nodeSpecData(1))
        data = spec.toDict()
        self.assertIsInstance(data["network"], dict)
        self.assertEqual(RunSpec.fromDict(data), spec)
        resources = ClusterResources(
            vmTypes=[{"vmType": {"name": "m1.small", "cpu": 1, "ram": 128, "disk": 10},
                      "max": 4, "free": 2}],
            nodes=[{"host": "n1", "port": 8775, "state": "up"}])
        self.assertEqual(ClusterResources.fromDict(resources.toDict()), resources)
        self.assertEqual(resources.roomFor(VmType("m1.small", 1, 128, 10)).free, 2)
        self.assertIsNone(resources.roomFor(VmType("m1.small", 1, 256, 10)))

    def test_reportOfSpec(self):
        """A report carries the spec's ids, type name and placed network, or the addresses given."""
        spec = RunSpec.fromDict(nodeSpecData(7))
        report = InstanceReport.ofSpec(spec, "running", 1000, node="n1:8775")
        self.assertEqual((report.instanceId, report.imageId, report.kernelId, report.vmType,
                          report.macAddress, report.privateIp, report.node),
                         ("i-00000007", "emi-00000001", "eki-00000002", "m1.small",
                          "d2:0d:00:00:00:01", "10.0.0.9", "n1:8775"))
        learnt = InstanceReport.ofSpec(spec, "running", 1000, privateIp="10.1.1.1")
        self.assertEqual(learnt.privateIp, "10.1.1.1")
        self.assertRaises(CloudError, InstanceReport.ofSpec, spec, "rebooting", 1000)
        long = InstanceReport.ofSpec(spec, "terminated", 1000, reason="x" * 5000)
        self.assertEqual((len(long.reason), long.reason[-3:]), (1024, "..."))

    def test_readByFieldName(self):
        """Records read like the dicts they replace; unknown names are KeyErrors."""
        resources = NodeResources(4, 1024, 40, 2, 512, 20)
        self.assertEqual((resources["cpu"], resources.get("freeRam")), (4, 512))
        self.assertEqual(resources.get("nothing", "x"), "x")
        self.assertRaises(KeyError, lambda: resources["nothing"])
        spec = RunSpec.fromDict(runSpecData(1))
        self.assertEqual((spec["imageId"], spec.get("kernelId"), spec.get("ramdisk", "x")),
                         ("emi-00000001", "eki-00000002", None))


class CopyableStateTests(unittest.TestCase):
    """What PB does on arrival: setCopyableState on a blank record."""

    def test_goodStateMakesTheRecord(self):
        """A good state gives a record equal to the one sent."""
        spec = RunSpec.fromDict(nodeSpecData(1))
        blank = RunSpec.__new__(RunSpec)
        blank.setCopyableState(spec.getStateToCopy())
        self.assertEqual(blank, spec)

    def test_badStateIsRefused(self):
        """A malformed state raises InvalidParameterValue instead of making a record."""
        state = RunSpec.fromDict(nodeSpecData(1)).getStateToCopy()
        state["network"]["bridge"] = "br0; reboot"
        error = self.assertRaises(CloudError, RunSpec.__new__(RunSpec).setCopyableState, state)
        self.assertEqual(error.code, "InvalidParameterValue")
        self.assertIn("network.bridge", error.message)
