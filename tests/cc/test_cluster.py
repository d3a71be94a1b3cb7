"""ClusterController: run, describe and terminate over FakeNodes, rollback, restarts."""

import copy
import json
import os
import random

from twisted.internet import defer
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from eucad.cc.cluster import ClusterController
from eucad.cc.dhcpd import DhcpdError, DhcpdProcess
from eucad.cc.dhcpdconfig import DhcpSubnet
from eucad.cc.nodes import NodeRegistry
from eucad.cc.placement import Placement
from eucad.cc.state import StateFile
from eucad.cc.vnet.static import StaticNetwork, parseMacMap
from eucad.cc.vnet.system import SystemNetwork
from eucad.common.errors import CloudError
from eucad.common.interfaces import ICluster
from eucad.common.process import ProcessRunner
from eucad.common.records import RunSpec
from eucad.nc.runspec import placedSpec
from eucad.testing.fakenode import FakeNode
from tests.cc.helpers import LARGE, liveInstances, nodeSpec, runSpec, runSpecData
from tests.cc.processes import FakeProcessReactor

MACMAP = " ".join("d2:0d:00:00:01:%02x=10.77.0.%d" % (n, n) for n in range(10, 14))


def synchronously(f, *args):
    return defer.execute(f, *args)


class RecordingDhcpd:
    """Stands in for DhcpdProcess: keeps every configuration it is asked to serve."""

    def __init__(self):
        self.applied = []
        self.failure = None

    def apply(self, config, interfaces=None):
        if self.failure is not None:
            return defer.fail(self.failure)
        self.applied.append((config.render(), interfaces))
        return defer.succeed(None)

    def hosts(self):
        text = self.applied[-1][0]
        return [line.split()[1] for line in text.splitlines() if line.startswith("host ")]


class HeldNode(FakeNode):
    """A FakeNode whose runInstance answers only when the test releases it."""

    def __init__(self, *args, **kwargs):
        FakeNode.__init__(self, *args, **kwargs)
        self.held = []

    def runInstance(self, spec):
        d = defer.Deferred()
        self.held.append((d, spec))
        return d

    def release(self):
        held, self.held = self.held, []
        for d, spec in held:
            FakeNode.runInstance(self, spec).chainDeferred(d)


class ClusterTestsMixin:

    mode = "STATIC"

    def setUp(self):
        self.clock = FakeProcessReactor()
        self.time = [1000.0]
        self.statePath = os.path.abspath(os.path.join(self.mktemp(), "state.json"))
        self.a = FakeNode(cpu=4, ram=4096, disk=100, now=self.now, clock=self.clock)
        self.b = FakeNode(cpu=2, ram=4096, disk=100, now=self.now, clock=self.clock)
        self.nodes = [("10.0.0.2", 8775, self.a), ("10.0.0.3", 8775, self.b)]
        self.dhcpd = RecordingDhcpd()
        self.cluster = self.makeCluster()

    def now(self):
        return self.time[0]

    def makeNetwork(self):
        if self.mode == "STATIC":
            subnet = DhcpSubnet("10.77.0.0", "255.255.255.0", router="10.77.0.1")
            return StaticNetwork("br0", subnet, parseMacMap(MACMAP), "priv0")
        return SystemNetwork("br0", rng=random.Random(11))

    def makeCluster(self, nodes=None, dhcpd=None):
        self.registry = NodeRegistry(nodes or self.nodes, interval=2, clock=self.clock,
                                     now=self.now)
        cluster = ClusterController(
            self.registry, self.makeNetwork(), Placement(self.registry),
            StateFile(self.statePath, runInThread=synchronously),
            dhcpd=dhcpd or self.dhcpd, clock=self.clock, now=self.now)
        self.registry.startService()
        cluster.startService()
        self.addCleanup(self.stop, cluster, self.registry)
        return cluster

    def stop(self, cluster, registry):
        if cluster.running:
            cluster.stopService()
        if registry.running:
            registry.stopService()

    def poll(self):
        self.successResultOf(self.registry.poll())

    def launch(self, *specs):
        return self.successResultOf(self.cluster.runInstances(list(specs)))

    def runFails(self, *specs):
        return self.failureResultOf(self.cluster.runInstances(list(specs)), CloudError).value

    def describe(self):
        return {i["instanceId"]: i for i in
                self.successResultOf(self.cluster.describeInstances())}

    def savedInstances(self):
        with open(self.statePath) as f:
            return json.load(f)["instances"]


class RunInstancesTests(ClusterTestsMixin, unittest.TestCase):

    def test_providesICluster(self):
        """ClusterController provides every ICluster method."""
        self.assertTrue(verifyObject(ICluster, self.cluster))

    def test_runReturnsPendingInstances(self):
        """runInstances answers pending instances with node, MAC and private IP."""
        [one, two] = self.launch(runSpec(1), runSpec(2))
        self.assertEqual((one["state"], one["node"], one["macAddress"], one["privateIp"],
                          one["publicIp"]),
                         ("pending", "10.0.0.2:8775", "d2:0d:00:00:01:0a", "10.77.0.10",
                          "10.77.0.10"))
        self.assertEqual((two["node"], two["privateIp"]), ("10.0.0.3:8775", "10.77.0.11"))
        self.assertEqual((one["vmType"], one["reservationId"], one["owner"], one["kernelId"],
                          one["launchIndex"], one["keyName"], one["launchTime"]),
                         ("m1.small", "r-00abc000", "alice", "eki-00000002", 1, "mykey", 1000))

    def test_nodeGetsMacAndBridge(self):
        """The node's run spec carries the CC's MAC, bridge and addresses."""
        self.launch(runSpec(1))
        [(name, spec)] = [c for c in self.a.calls if c[0] == "runInstance"]
        self.assertEqual(spec.network.macAddress, "d2:0d:00:00:01:0a")
        self.assertEqual(spec["network"].toDict(), {
            "owner": "alice", "group": "default", "bridge": "br0", "mtu": None,
            "privateIp": "10.77.0.10", "publicIp": "10.77.0.10",
            "macAddress": "d2:0d:00:00:01:0a", "encap": None, "tag": None,
            "floodPeers": None})
        self.assertEqual(spec["userData"], "")
        self.assertEqual(spec["kernel"]["location"], "/images/vmlinuz")

    def test_dhcpEntryBeforeNodeStarts(self):
        """The instance's DHCP entry is served before its node is asked to boot it."""
        self.launch(runSpec(1))
        self.assertEqual(self.dhcpd.hosts(), ["i-00000001"])
        self.assertEqual(self.dhcpd.applied[-1][1], ["priv0"])

    def test_describeMergesNodeReport(self):
        """describeInstances shows the node's state with the CC's addresses and node."""
        self.launch(runSpec(1))
        self.assertEqual(self.describe()["i-00000001"]["state"], "pending")
        self.poll()
        instance = self.describe()["i-00000001"]
        self.assertEqual((instance["state"], instance["privateIp"], instance["node"]),
                         ("running", "10.77.0.10", "10.0.0.2:8775"))
        self.assertEqual(sorted(instance.toDict()), sorted([
            "instanceId", "reservationId", "owner", "imageId", "kernelId", "ramdiskId",
            "vmType", "state", "macAddress", "privateIp", "publicIp", "node", "launchTime",
            "launchIndex", "keyName", "reason"]))

    def test_describeResourcesCountsReservationsAtOnce(self):
        """Capacity drops as soon as instances are placed, before any poll."""
        before = self.successResultOf(self.cluster.describeResources())
        large = [v for v in before.vmTypes if v.vmType.name == "m1.large"][0]
        self.assertEqual((large["max"], large["free"]), (3, 3))
        self.launch(runSpec(1, LARGE))
        after = self.successResultOf(self.cluster.describeResources())
        large = [v for v in after.vmTypes if v.vmType.name == "m1.large"][0]
        self.assertEqual((large["max"], large["free"]), (3, 2))
        self.assertEqual(after.nodes[0].toDict(), {
            "host": "10.0.0.2", "port": 8775, "state": "up", "cpu": 4, "ram": 4096,
            "disk": 100, "freeCpu": 2, "freeRam": 3584, "freeDisk": 90,
            "ccCertOk": True, "ncCertOk": True, "lastSeen": 1000.0})
        self.poll()
        polled = self.successResultOf(self.cluster.describeResources())
        self.assertEqual(polled.nodes[0]["freeCpu"], 2)

    def test_insufficientCapacity(self):
        """A request larger than the nodes' room fails and starts nothing."""
        error = self.runFails(*[runSpec(n, LARGE) for n in range(1, 5)])
        self.assertEqual((error.code, error.message),
                         ("InsufficientInstanceCapacity", "Not enough resources available"))
        self.assertEqual(liveInstances(self.a), [])
        self.assertEqual(self.cluster.records, {})
        self.assertEqual(self.cluster.placement.reservations, {})

    def test_macmapExhaustion(self):
        """Running out of VNET_MACMAP pairs fails the request whole and releases its room."""
        self.launch(runSpec(1), runSpec(2), runSpec(3))
        error = self.runFails(runSpec(4), runSpec(5))
        self.assertEqual(error.code, "InsufficientInstanceCapacity")
        self.assertIn("VNET_MACMAP", error.message)
        self.assertEqual(sorted(self.cluster.records), ["i-00000001", "i-00000002",
                                                        "i-00000003"])
        self.assertEqual(sorted(self.cluster.placement.reservations),
                         ["i-00000001", "i-00000002", "i-00000003"])
        self.assertNotIn("i-00000004", self.a.instances)
        self.assertEqual(len(self.launch(runSpec(6))), 1)

    def test_badSpecs(self):
        """Malformed requests are refused with InvalidParameterValue before anything happens."""
        noImage = runSpecData(2)
        del noImage["image"]
        badType = runSpecData(3)
        badType["vmType"] = {"name": "m1.small", "cpu": 0, "ram": 128, "disk": 10}
        boolType = runSpecData(4)
        boolType["vmType"] = {"name": "m1.small", "cpu": True, "ram": 128, "disk": 10}
        badId = runSpecData(5)
        badId["instanceId"] = "i-1; rm"
        badOwner = runSpecData(6)
        badOwner["owner"] = ""
        badIndex = runSpecData(7)
        badIndex["launchIndex"] = -1
        badNetwork = runSpecData(8)
        badNetwork["network"] = "default"
        badUserData = runSpecData(9)
        badUserData["userData"] = 5
        malformed = [noImage, badType, boolType, badId, badOwner, badIndex, badNetwork,
                     badUserData]
        for data in malformed:
            # Refused where the RunSpec would be made, and by the cluster as no RunSpec.
            error = self.assertRaises(CloudError, RunSpec.fromDict, data)
            self.assertEqual(error.code, "InvalidParameterValue", repr(data))
        for request in ([], "i-00000001", [None], [runSpec(1), runSpec(1)]) + tuple(
                [data] for data in malformed):
            failure = self.failureResultOf(self.cluster.runInstances(request), CloudError)
            self.assertEqual(failure.value.code, "InvalidParameterValue", repr(request))
        self.assertEqual(self.a.calls + self.b.calls,
                         [c for c in self.a.calls + self.b.calls if c[0] != "runInstance"])
        self.assertEqual(self.cluster.placement.reservations, {})

    def test_runningIdTwice(self):
        """An id the cluster already runs is refused."""
        self.launch(runSpec(1))
        self.assertEqual(self.runFails(runSpec(1)).code, "InvalidParameterValue")

    def test_networkDefaults(self):
        """A spec without network runs in the owner's default group."""
        spec = runSpecData(1)
        del spec["network"]
        self.launch(RunSpec.fromDict(spec))
        self.assertEqual(self.cluster.records["i-00000001"]["group"],
                         {"owner": "alice", "group": "default"})

    def test_learnsVmTypes(self):
        """A VM type carried by a run spec shows up in describeResources."""
        self.launch(runSpec(1, {"name": "t1.tiny", "cpu": 1, "ram": 64, "disk": 1}))
        names = [v.vmType.name for v in
                 self.successResultOf(self.cluster.describeResources()).vmTypes]
        self.assertIn("t1.tiny", names)


class SpecAgreementTests(unittest.TestCase):
    """The CC refuses exactly the ids and owners a node would refuse after allocation."""

    CASES = [
        ("instanceId", ["i-0000beef", "i-0000beef00000000a", "i-0000BEEF", "i-0000beef\n"]),
        ("reservationId", ["r-00abc000", "r-00abc0001234567ab", "r-1"]),
        ("owner", ["alice", "bob.smith@example.com", "x" * 64, "x" * 65, "arn:aws:iam",
                   "a+b", "..", "a/b"]),
        ("imageId", ["emi-00000001", "emi-0000000A", "ami-00000001"]),
    ]

    def spec(self, key, value):
        spec = runSpecData(1)
        spec[key] = value
        if key == "imageId":
            spec["image"] = dict(spec["image"], id=value)
        if key == "owner":
            spec["network"]["owner"] = value
        return spec

    def clusterAccepts(self, spec):
        try:
            RunSpec.fromDict(spec)
        except CloudError:
            return False
        return True

    def nodeAccepts(self, spec):
        spec = copy.deepcopy(spec)
        spec["network"] = dict(spec["network"], bridge="br0", privateIp="10.0.0.2",
                               publicIp="10.0.0.2", macAddress="d2:0d:00:00:00:01")
        try:
            placedSpec(RunSpec.fromDict(spec), "br0")
        except CloudError:
            return False
        return True

    def test_sameVerdicts(self):
        """For each id and owner, the CC and the node's run-spec check give the same verdict."""
        verdicts = set()
        for key, values in self.CASES:
            for value in values:
                spec = self.spec(key, value)
                verdict = self.clusterAccepts(spec)
                self.assertEqual(verdict, self.nodeAccepts(spec), "%s=%r" % (key, value))
                verdicts.add(verdict)
        self.assertEqual(verdicts, {True, False})

    def test_refusedBeforeAllocation(self):
        """Ids and owners of shapes the node refuses fail validation with InvalidParameterValue."""
        for key, value in [("instanceId", "i-0000beef00000000a"),
                           ("reservationId", "r-00abc0001234567ab"),
                           ("owner", "arn:aws:iam"), ("owner", "x" * 65),
                           ("imageId", "emi-0000000A")]:
            spec = runSpecData(1)
            spec[key] = value
            error = self.assertRaises(CloudError, RunSpec.fromDict, spec)
            self.assertEqual(error.code, "InvalidParameterValue", "%s=%r" % (key, value))

    def test_imageIdsChecked(self):
        """The image, kernel and ramdisk records need emi-/eki-/eri- ids, as the node requires."""
        for key in ("image", "kernel"):
            spec = runSpecData(1)
            spec[key] = dict(spec[key], id="ami-00000001")
            self.assertRaises(CloudError, RunSpec.fromDict, spec)


class RollbackTests(ClusterTestsMixin, unittest.TestCase):

    def test_nodeFailureRollsBackWholeRequest(self):
        """One node failing undoes the request on every node, in DHCP, addresses and state."""
        self.b.failWith(CloudError("InternalError", "libvirt said no", 500), "runInstance")
        error = self.runFails(runSpec(1), runSpec(2))
        self.assertEqual((error.code, error.message), ("InternalError", "libvirt said no"))
        self.assertIn(("terminateInstance", "i-00000001"), self.a.calls)
        self.assertEqual(liveInstances(self.a), [])
        self.assertEqual(self.cluster.records, {})
        self.assertEqual(self.cluster.network.allocations, {})
        self.assertEqual(self.cluster.placement.reservations, {})
        self.assertEqual(self.dhcpd.hosts(), [])
        self.assertEqual(self.savedInstances(), {})
        [again] = self.launch(runSpec(3))
        self.assertEqual(again["privateIp"], "10.77.0.10")

    def test_nodeCapacityErrorPassesThrough(self):
        """A node's own capacity refusal reaches the CLC with its code."""
        self.b.failWith(CloudError("InsufficientInstanceCapacity", "node full", 500),
                        "runInstance")
        error = self.runFails(runSpec(1), runSpec(2))
        self.assertEqual(error.code, "InsufficientInstanceCapacity")
        self.assertEqual(self.registry.entries[1].state, "up")

    def test_unreachableNodeMarkedDown(self):
        """A node that is not connected fails the request and is taken out of placement."""
        self.b.failWith(CloudError("Unavailable", "10.0.0.3:8775 is not connected", 503),
                        "runInstance")
        self.assertEqual(self.runFails(runSpec(1), runSpec(2)).code, "Unavailable")
        self.assertEqual(self.registry.entries[1].state, "down")
        [instance] = self.launch(runSpec(3))
        self.assertEqual(instance["node"], "10.0.0.2:8775")

    def test_runTimeout(self):
        """A node that never answers a run is given up on, rolled back and marked down."""
        held = HeldNode(cpu=4, ram=4096, disk=100)
        self.cluster = self.makeCluster(nodes=[("10.0.0.9", 8775, held)])
        d = self.cluster.runInstances([runSpec(1)])
        self.assertNoResult(d)
        self.clock.advance(self.cluster.runTimeout)
        self.assertEqual(self.failureResultOf(d, CloudError).value.code, "Unavailable")
        self.assertEqual(self.registry.entries[0].state, "down")
        self.assertIn(("terminateInstance", "i-00000001"), held.calls)

    def test_rollbackRetriedWhenTerminateFails(self):
        """An instance whose rollback cannot reach its node stays shutting-down until a poll succeeds."""
        self.b.failWith(CloudError("InternalError", "boom", 500), "runInstance")
        self.a.failWith(CloudError("Unavailable", "gone", 503), "terminateInstance")
        self.runFails(runSpec(1), runSpec(2))
        self.assertEqual(self.describe()["i-00000001"]["state"], "shutting-down")
        self.assertIn("i-00000001", self.cluster.network.allocations)
        self.assertEqual(self.dhcpd.hosts(), ["i-00000001"])
        self.a.recover()
        self.poll()
        self.assertNotIn("i-00000001", self.cluster.records)
        self.assertEqual(liveInstances(self.a), [])
        self.assertEqual(self.cluster.network.allocations, {})
        self.assertEqual(self.dhcpd.hosts(), [])

    def test_dhcpFailureRollsBack(self):
        """When dhcpd will not take the new entries nothing is started."""
        self.dhcpd.failure = DhcpdError("dhcpd -t rejected the configuration")
        error = self.runFails(runSpec(1))
        self.assertEqual(error.code, "InternalError")
        self.assertIn("DHCP", error.message)
        self.assertEqual([c for c in self.a.calls if c[0] == "runInstance"], [])
        self.assertEqual(self.cluster.network.allocations, {})
        self.assertEqual(self.cluster.records, {})

    def test_concurrentRequestsDoNotOversubscribe(self):
        """While a request is still starting, a second one cannot take the same room."""
        held = HeldNode(cpu=2, ram=4096, disk=100)
        self.cluster = self.makeCluster(nodes=[("10.0.0.9", 8775, held)])
        first = self.cluster.runInstances([runSpec(1, LARGE)])
        self.assertNoResult(first)
        second = self.failureResultOf(self.cluster.runInstances([runSpec(2, LARGE)]),
                                      CloudError)
        self.assertEqual(second.value.code, "InsufficientInstanceCapacity")
        held.release()
        self.assertEqual(self.successResultOf(first)[0]["state"], "pending")


class TerminateTests(ClusterTestsMixin, unittest.TestCase):

    def test_terminateWhileLaunching(self):
        """An instance terminated before its node answers the run is destroyed there again and keeps nothing."""
        held = HeldNode(cpu=4, ram=4096, disk=100)
        self.cluster = self.makeCluster(nodes=[("10.0.0.9", 8775, held)])
        run = self.cluster.runInstances([runSpec(1)])
        self.successResultOf(self.cluster.terminateInstances(["i-00000001"]))
        held.release()
        [answer] = self.successResultOf(run)
        self.assertNotEqual(answer["state"], "running")
        self.assertEqual([c[0] for c in held.calls if c[0] not in (
            "describeResource", "describeInstances")],
            ["terminateInstance", "runInstance", "terminateInstance"])
        self.assertEqual(liveInstances(held), [])
        self.assertEqual(self.cluster.records["i-00000001"]["phase"], "terminated")
        self.assertEqual(self.cluster.network.allocations, {})
        self.assertEqual(self.cluster.placement.reservations, {})
        self.poll()
        self.assertEqual(self.describe()["i-00000001"]["state"], "terminated")
        self.assertEqual(self.savedInstances()["i-00000001"]["phase"], "terminated")
        run = self.cluster.runInstances([runSpec(2)])
        held.release()
        [second] = self.successResultOf(run)
        self.assertEqual(second["privateIp"], "10.77.0.10")
        self.assertEqual(self.dhcpd.hosts(), ["i-00000002"])

    def test_terminateInFlightWhenLaunchAnswers(self):
        """A terminate still in flight when the run answers is followed by another one."""
        held = HeldNode(cpu=4, ram=4096, disk=100)
        self.cluster = self.makeCluster(nodes=[("10.0.0.9", 8775, held)])
        run = self.cluster.runInstances([runSpec(1)])
        terminate = defer.Deferred()
        held.terminateInstance = lambda instanceId: terminate
        terminating = self.cluster.terminateInstances(["i-00000001"])
        held.release()
        self.successResultOf(run)
        del held.terminateInstance
        terminate.callback({"instanceId": "i-00000001", "previousState": "terminated",
                            "state": "terminated"})
        self.successResultOf(terminating)
        self.assertEqual([c[0] for c in held.calls][-2:], ["runInstance", "terminateInstance"])
        self.assertEqual(liveInstances(held), [])
        self.assertEqual(self.cluster.records["i-00000001"]["phase"], "terminated")
        self.assertEqual(self.cluster.network.allocations, {})

    def test_terminateReleasesEverything(self):
        """Terminating destroys the domain and frees the DHCP entry, addresses and room."""
        self.launch(runSpec(1), runSpec(2))
        self.poll()
        answer = self.successResultOf(self.cluster.terminateInstances(["i-00000001"]))
        self.assertEqual([a.toDict() for a in answer], [{"instanceId": "i-00000001", "previousState": "running",
                                   "state": "terminated"}])
        self.assertNotIn("i-00000001", liveInstances(self.a))
        self.assertEqual(self.dhcpd.hosts(), ["i-00000002"])
        self.assertNotIn("i-00000001", self.cluster.network.allocations)
        self.assertNotIn("i-00000001", self.cluster.placement.reservations)
        self.assertEqual(self.describe()["i-00000001"]["state"], "terminated")
        self.assertEqual(self.savedInstances()["i-00000001"]["phase"], "terminated")

    def test_terminateUnknownAndTwice(self):
        """Unknown ids and repeated terminations answer terminated."""
        self.launch(runSpec(1))
        self.successResultOf(self.cluster.terminateInstances(["i-00000001"]))
        answer = self.successResultOf(self.cluster.terminateInstances(
            ["i-00000001", "i-0000beef"]))
        self.assertEqual([a.toDict() for a in answer], [
            {"instanceId": "i-00000001", "previousState": "terminated", "state": "terminated"},
            {"instanceId": "i-0000beef", "previousState": "terminated", "state": "terminated"}])

    def test_terminateBadArgument(self):
        """terminateInstances needs a list of strings."""
        self.failureResultOf(self.cluster.terminateInstances("i-00000001"), CloudError)
        self.failureResultOf(self.cluster.terminateInstances([1]), CloudError)

    def test_terminateWhileNodeDown(self):
        """An unreachable node leaves the instance shutting-down with its entry; a later poll finishes it."""
        self.launch(runSpec(1))
        self.poll()
        self.a.failWith(CloudError("Unavailable", "not connected", 503))
        answer = self.successResultOf(self.cluster.terminateInstances(["i-00000001"]))
        self.assertEqual(answer[0]["state"], "shutting-down")
        self.assertEqual(self.dhcpd.hosts(), ["i-00000001"])
        self.poll()
        self.assertEqual(self.describe()["i-00000001"]["state"], "shutting-down")
        self.a.recover()
        self.poll()
        self.assertEqual(self.describe()["i-00000001"]["state"], "terminated")
        self.assertEqual(self.dhcpd.hosts(), [])
        self.assertEqual(liveInstances(self.a), [])

    def test_strayInstanceTerminated(self):
        """An instance a node runs without a CC record is listed and can be terminated."""
        self.successResultOf(self.a.runInstance(nodeSpec(7)))
        self.poll()
        self.assertEqual(self.describe()["i-00000007"]["node"], "10.0.0.2:8775")
        answer = self.successResultOf(self.cluster.terminateInstances(["i-00000007"]))
        self.assertEqual(answer[0]["previousState"], "running")
        self.assertEqual(liveInstances(self.a), [])
        self.assertNotIn("i-00000007", self.describe())


class PollSettlingTests(ClusterTestsMixin, unittest.TestCase):

    def test_vanishedInstanceCleanedUp(self):
        """An instance its node stops listing is terminated and released after the next poll."""
        self.launch(runSpec(1))
        self.poll()
        self.a.instances.clear()
        self.a._sizes.clear()
        self.poll()
        instance = self.describe()["i-00000001"]
        self.assertEqual(instance["state"], "terminated")
        self.assertIn("vanished", instance["reason"])
        self.assertEqual(self.cluster.network.allocations, {})
        self.assertEqual(self.dhcpd.hosts(), [])

    def test_pollStartedBeforeRunDoesNotCountAsVanished(self):
        """A poll that began before the node confirmed the run does not make the instance vanish."""
        held = HeldNode(cpu=4, ram=4096, disk=100)
        self.cluster = self.makeCluster(nodes=[("10.0.0.9", 8775, held)])
        d = self.cluster.runInstances([runSpec(1)])
        entry = self.registry.entries[0]
        # A poll starts (and its instance list is taken) before the run is confirmed ...
        entry.pollsStarted += 1
        held.release()
        self.successResultOf(d)
        # ... and reports an empty list.
        entry.lastPollStarted = entry.pollsStarted
        entry.instances = {}
        self.cluster.afterPoll(self.registry.entries)
        self.assertEqual(self.cluster.records["i-00000001"]["phase"], "running")
        self.poll()
        self.assertEqual(self.describe()["i-00000001"]["state"], "running")

    def test_nodeReportsTerminated(self):
        """An instance its node reports terminated is cleaned up on the node and released."""
        self.launch(runSpec(1))
        self.poll()
        self.a.instances["i-00000001"]["state"] = "terminated"
        self.poll()
        self.assertEqual(self.describe()["i-00000001"]["state"], "terminated")
        self.assertIn(("terminateInstance", "i-00000001"), self.a.calls)
        self.assertEqual(self.cluster.network.allocations, {})

    def test_failedLaunchReasonReachesDescribe(self):
        """A launch that fails on the node shows terminated with the node's reason, and is released."""
        self.launch(runSpec(1))
        self.a.endInstance("i-00000001", "fetching images failed: HTTP 404")
        self.poll()
        instance = self.describe()["i-00000001"]
        self.assertEqual((instance["state"], instance["reason"]),
                         ("terminated", "fetching images failed: HTTP 404"))
        self.assertEqual(self.cluster.network.allocations, {})
        self.assertEqual(self.dhcpd.hosts(), [])

    def test_terminatedRecordsExpire(self):
        """Terminated instances stay visible for a while, then are forgotten."""
        self.launch(runSpec(1))
        self.successResultOf(self.cluster.terminateInstances(["i-00000001"]))
        self.time[0] += self.cluster.keepTerminatedSeconds - 1
        self.poll()
        self.assertIn("i-00000001", self.describe())
        self.time[0] += 2
        self.poll()
        self.assertNotIn("i-00000001", self.describe())
        self.assertEqual(self.savedInstances(), {})


class WaitForChangeTests(ClusterTestsMixin, unittest.TestCase):
    """The CLC's long poll: the cluster's generation follows the view describeInstances gives."""

    def wait(self, generation, timeout=25):
        return self.cluster.waitForChange(generation, timeout)

    def current(self):
        return self.successResultOf(self.wait(None))

    def test_firstCallAnswersWithTheView(self):
        """A first call answers at once with the generation and what describeInstances says."""
        self.launch(runSpec(1))
        answer = self.current()
        self.assertIsInstance(answer["generation"], int)
        self.assertEqual(answer["instances"],
                         self.successResultOf(self.cluster.describeInstances()))

    def test_nodeStateChangeWakesWaiter(self):
        """A poll that brings a new state from the node wakes a waiting call in the next turn."""
        self.launch(runSpec(1))
        before = self.current()
        self.assertEqual(before["instances"][0]["state"], "pending")
        waiting = self.wait(before["generation"])
        self.poll()
        self.assertNoResult(waiting)
        self.clock.advance(0)
        answer = self.successResultOf(waiting)
        self.assertNotEqual(answer["generation"], before["generation"])
        self.assertEqual(answer["instances"][0]["state"], "running")

    def test_unchangedPollKeepsTheGeneration(self):
        """A poll that changes nothing in the view leaves the generation alone; the wait times out."""
        self.launch(runSpec(1))
        self.poll()
        before = self.current()
        waiting = self.wait(before["generation"], 5)
        self.poll()
        self.clock.advance(4.9)
        self.assertNoResult(waiting)
        self.clock.advance(0.1)
        self.assertEqual(self.successResultOf(waiting)["generation"], before["generation"])

    def test_runAndTerminateChangeTheGeneration(self):
        """Running and terminating instances each change the generation."""
        empty = self.current()["generation"]
        self.launch(runSpec(1))
        launched = self.current()["generation"]
        self.assertNotEqual(launched, empty)
        self.successResultOf(self.cluster.terminateInstances(["i-00000001"]))
        answer = self.current()
        self.assertNotEqual(answer["generation"], launched)
        self.assertEqual(answer["instances"][0]["state"], "terminated")

    def test_onlyTheSignatureFieldsCount(self):
        """Id, state, addresses and reason count as changes; other fields a node reports do not."""
        self.launch(runSpec(1))
        self.poll()
        before = self.current()["generation"]
        self.a.instances["i-00000001"]["launchTime"] = 12345
        self.poll()
        self.assertEqual(self.cluster.changes.generation, before)
        self.a.instances["i-00000001"]["reason"] = "console says hello"
        self.poll()
        self.assertNotEqual(self.cluster.changes.generation, before)

    def test_stopReleasesWaiters(self):
        """Stopping the controller answers every outstanding wait at once."""
        waiting = self.wait(self.current()["generation"])
        self.cluster.stopService()
        self.successResultOf(waiting)
        self.assertEqual(self.cluster.changes.waiting, 0)

    def test_badArguments(self):
        """A bad generation or timeout is InvalidParameterValue."""
        for generation, timeout in (("x", 1), (1, -5), (None, "25")):
            error = self.failureResultOf(self.wait(generation, timeout), CloudError)
            self.assertEqual(error.value.code, "InvalidParameterValue")


class SystemModeTests(ClusterTestsMixin, unittest.TestCase):

    mode = "SYSTEM"

    def test_noDhcpAndUnknownAddress(self):
        """SYSTEM mode runs no dhcpd and shows 0.0.0.0 until an address is known."""
        [instance] = self.launch(runSpec(1))
        self.assertTrue(instance["macAddress"].startswith("d2:0d:"))
        self.assertEqual((instance["privateIp"], instance["publicIp"]), ("0.0.0.0", "0.0.0.0"))
        self.assertEqual(self.dhcpd.applied, [])

    def test_learnsAddressFromNode(self):
        """An address the node reports later is shown and kept in the state file."""
        self.launch(runSpec(1))
        self.poll()
        self.a.instances["i-00000001"]["privateIp"] = "192.168.1.77"
        self.poll()
        instance = self.describe()["i-00000001"]
        self.assertEqual((instance["privateIp"], instance["publicIp"]),
                         ("192.168.1.77", "192.168.1.77"))
        self.assertEqual(self.savedInstances()["i-00000001"]["network"]["privateIp"],
                         "192.168.1.77")


class RestartTests(ClusterTestsMixin, unittest.TestCase):

    def restart(self):
        self.cluster.stopService()
        self.registry.stopService()
        self.dhcpd = RecordingDhcpd()
        self.cluster = self.makeCluster()

    def test_stateSurvivesRestart(self):
        """A restarted CC reports the running instances and serves their DHCP entries again."""
        self.launch(runSpec(1), runSpec(2))
        self.poll()
        before = self.describe()
        self.restart()
        self.assertEqual(self.dhcpd.hosts(), ["i-00000001", "i-00000002"])
        after = self.describe()
        self.assertEqual(after, before)
        self.assertEqual(after["i-00000001"]["state"], "running")
        [third] = self.launch(runSpec(3))
        self.assertEqual(third["privateIp"], "10.77.0.12")
        self.successResultOf(self.cluster.terminateInstances(["i-00000001"]))
        self.assertEqual(self.dhcpd.hosts(), ["i-00000002", "i-00000003"])

    def test_restartKeepsReservations(self):
        """Room held by instances from before the restart is not handed out again."""
        self.launch(runSpec(1, LARGE), runSpec(2, LARGE), runSpec(3, LARGE))
        self.restart()
        self.assertEqual(self.runFails(runSpec(4, LARGE)).code, "InsufficientInstanceCapacity")

    def test_launchInterruptedByCrash(self):
        """A record left launching by a crash is kept if the node has it and cleaned up if not."""
        self.launch(runSpec(1), runSpec(2))
        saved = self.savedInstances()
        for record in saved.values():
            record["phase"] = "launching"
        with open(self.statePath, "w") as f:
            json.dump({"version": 1, "instances": saved}, f)
        self.b.instances.clear()
        self.b._sizes.clear()
        self.restart()
        self.assertEqual(self.describe()["i-00000001"]["state"], "running")
        self.assertEqual(self.describe()["i-00000002"]["state"], "terminated")
        self.assertEqual(self.dhcpd.hosts(), ["i-00000001"])

    def test_stateFileIsAtomic(self):
        """The state file is replaced whole and leaves no temporary files behind."""
        self.launch(runSpec(1))
        directory = os.path.dirname(self.statePath)
        self.assertEqual(os.listdir(directory), ["state.json"])
        self.assertEqual(os.stat(self.statePath).st_mode & 0o777, 0o600)


class DhcpdIntegrationTests(ClusterTestsMixin, unittest.TestCase):
    """The cluster driving the real DhcpdProcess over the fake process reactor."""

    def setUp(self):
        ClusterTestsMixin.setUp(self)
        self.cluster.stopService()
        self.registry.stopService()
        self.dhcpDir = os.path.abspath(self.mktemp())
        self.process = DhcpdProcess(self.dhcpDir, ["priv0"],
                                    ProcessRunner(reactor=self.clock, netns="fe"),
                                    reactor=self.clock, pidAlive=lambda pid: False,
                                    runInThread=synchronously)

    def stopDhcpd(self):
        d = self.process.stopService()
        self.clock.settle()
        self.successResultOf(d)

    def expectRestart(self):
        prefix = ["ip", "netns", "exec", "fe", "/usr/sbin/dhcpd"]
        self.clock.expect(prefix + ["-t", "-cf", os.path.join(self.dhcpDir, "dhcpd.conf.new")])
        return self.clock.expect(prefix + [
            "-4", "-d", "-cf", os.path.join(self.dhcpDir, "dhcpd.conf"),
            "-lf", os.path.join(self.dhcpDir, "dhcpd.leases"),
            "-pf", os.path.join(self.dhcpDir, "dhcpd.pid"), "priv0"], longRunning=True)

    def serve(self, expectation):
        self.clock.settle()
        expectation.process.feed(err=b"Server starting service.\n")
        self.clock.settle()

    def test_runRestartsDhcpdBeforeBooting(self):
        """Start serves the empty table; a run restarts dhcpd with the entry before the node boots."""
        self.process.startService()
        self.addCleanup(self.stopDhcpd)
        first = self.expectRestart()
        self.cluster = self.makeCluster(dhcpd=self.process)
        self.serve(first)
        self.successResultOf(self.cluster.ready)
        second = self.expectRestart()
        d = self.cluster.runInstances([runSpec(1)])
        self.clock.settle()
        self.assertEqual(first.process.signals, ["TERM"])
        self.assertEqual([c for c in self.a.calls if c[0] == "runInstance"], [])
        self.serve(second)
        self.successResultOf(d)
        with open(os.path.join(self.dhcpDir, "dhcpd.conf")) as f:
            self.assertIn("host i-00000001 {\n  hardware ethernet d2:0d:00:00:01:0a;\n"
                          "  fixed-address 10.77.0.10;\n}", f.read())
        self.clock.assertAllUsed(self)
