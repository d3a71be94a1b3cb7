"""ClusterController in MANAGED mode: what reaches the nodes, the CLC's policy, the state file."""

import json
import os

from twisted.internet import defer
from twisted.trial import unittest

from eucad.cc.cluster import ClusterController
from eucad.cc.nodes import NodeRegistry
from eucad.cc.placement import Placement
from eucad.cc.state import StateFile
from eucad.cc.vnet import networkFromConf
from eucad.common.errors import CloudError
from eucad.common.netpolicy import (AddressAssociation, IngressRule, NetworkPolicy,
                                    SecurityGroupPolicy)
from eucad.common.process import ProcessResult
from eucad.testing.fakenode import FakeNode
from tests.cc.helpers import runSpec
from tests.cc.processes import FakeProcessReactor
from tests.cc.test_cluster import RecordingDhcpd, synchronously
from tests.cc.test_vnet_managed import CONF

WEB = SecurityGroupPolicy("alice", "default", [IngressRule("tcp", 80, 80, cidr="0.0.0.0/0")])


class RecordingRunner:
    """Runs nothing: every command succeeds and is kept (with its stdin)."""

    def __init__(self):
        self.commands = []

    def run(self, argv, timeout=60, check=True, stdin=None, okCodes=(0,)):
        self.commands.append((list(argv), stdin))
        return defer.succeed(ProcessResult(argv, 0, b"", b""))

    def batches(self):
        return [stdin.decode() for argv, stdin in self.commands
                if argv[:2] == ["iptables-restore", "--noflush"]]


class ManagedClusterTests(unittest.TestCase):

    def setUp(self):
        self.clock = FakeProcessReactor()
        self.statePath = os.path.abspath(os.path.join(self.mktemp(), "state.json"))
        self.a = FakeNode(cpu=1, ram=4096, disk=100, clock=self.clock)
        self.b = FakeNode(cpu=1, ram=4096, disk=100, clock=self.clock)
        self.runner = RecordingRunner()
        self.cluster = self.makeCluster()

    def makeCluster(self):
        self.registry = NodeRegistry([("10.77.0.2", 8775, self.a), ("10.77.0.3", 8775, self.b)],
                                     interval=2, clock=self.clock)
        network = networkFromConf(CONF, runner=self.runner)
        cluster = ClusterController(self.registry, network, Placement(self.registry),
                                    StateFile(self.statePath, runInThread=synchronously),
                                    dhcpd=RecordingDhcpd(), clock=self.clock)
        self.registry.startService()
        cluster.startService()
        self.addCleanup(cluster.stopService)
        self.addCleanup(self.registry.stopService)
        self.successResultOf(self.registry.poll())
        return cluster

    def nodeSpecs(self, node):
        return [spec for name, spec in node.calls if name == "runInstance"]

    def test_nodesGetTheirGroupNetwork(self):
        """Instances of one group on two nodes: each node is told the tag, its bridge and where to flood."""
        [one, two] = self.successResultOf(self.cluster.runInstances([runSpec(1), runSpec(2)]))
        [specA], [specB] = self.nodeSpecs(self.a), self.nodeSpecs(self.b)
        for spec in (specA, specB):
            self.assertEqual((spec.network.encap, spec.network.tag, spec.network.bridge,
                              spec.network.mtu), ("vxlan", 1, "eucabr1", 1450))
        self.assertEqual(specA.network.floodPeers, ("10.77.0.1", "10.77.0.3"))
        self.assertEqual(specB.network.floodPeers, ("10.77.0.1", "10.77.0.2"))
        # The front end floods to exactly the nodes in use.
        network = self.cluster.network.networks.get("alice", "default")
        self.assertEqual(network.peers, {"10.77.0.2", "10.77.0.3"})

    def test_policyBecomesOneBatchAndTheStateFileKeepsTheAddress(self):
        """The CLC's policy is applied as one iptables-restore; the elastic IP is reported and saved."""
        [one] = self.successResultOf(self.cluster.runInstances([runSpec(1)]))
        before = len(self.runner.batches())
        policy = NetworkPolicy([WEB], [AddressAssociation("192.0.2.10", one.privateIp,
                                                          one.instanceId)])
        self.successResultOf(self.cluster.applyNetworkPolicy(policy))
        batches = self.runner.batches()[before:]
        self.assertEqual(len(batches), 1)
        self.assertIn("--dport 80", batches[0])
        self.assertIn("192.0.2.10", batches[0])
        [view] = self.successResultOf(self.cluster.describeInstances())
        self.assertEqual(view.publicIp, "192.0.2.10")
        with open(self.statePath) as f:
            saved = json.load(f)["instances"]
        self.assertEqual(saved[one.instanceId]["network"]["publicIp"], "192.0.2.10")
        # The same policy again changes nothing: no process at all.
        count = len(self.runner.commands)
        self.successResultOf(self.cluster.applyNetworkPolicy(policy))
        self.assertEqual(len(self.runner.commands), count)

    def test_anythingButAPolicyRefused(self):
        """applyNetworkPolicy refuses what is not a NetworkPolicy."""
        error = self.failureResultOf(self.cluster.applyNetworkPolicy({}), CloudError).value
        self.assertEqual(error.code, "InvalidParameterValue")

    def floodPeersTold(self, node):
        return [record.peers for name, record in node.calls if name == "setFloodPeers"]

    def test_nodesRunningAGroupAreToldWhenItStartsOnAnotherNode(self):
        """
        A's node floods only to the front end while it alone runs the group;
        when the group starts on B's node (first used now), A's node is told
        to flood there too, and told again when B's instance is gone.
        """
        [one] = self.successResultOf(self.cluster.runInstances([runSpec(1)]))
        self.assertEqual(one.node, "10.77.0.2:8775")
        [specA] = self.nodeSpecs(self.a)
        self.assertEqual(specA.network.floodPeers, ("10.77.0.1",))
        self.assertEqual(self.floodPeersTold(self.a)[-1], {1: ("10.77.0.1",)})
        [two] = self.successResultOf(self.cluster.runInstances([runSpec(2)]))
        self.assertEqual(two.node, "10.77.0.3:8775")
        [specB] = self.nodeSpecs(self.b)
        self.assertEqual(specB.network.floodPeers, ("10.77.0.1", "10.77.0.2"))
        self.assertEqual(self.floodPeersTold(self.a)[-1], {1: ("10.77.0.1", "10.77.0.3")})
        self.assertEqual(self.floodPeersTold(self.b)[-1], {1: ("10.77.0.1", "10.77.0.2")})
        # Polls that find nothing new send nothing.
        told = len(self.floodPeersTold(self.a))
        self.successResultOf(self.registry.poll())
        self.assertEqual(len(self.floodPeersTold(self.a)), told)
        self.successResultOf(self.cluster.terminateInstances([two.instanceId]))
        self.successResultOf(self.registry.poll())
        self.assertEqual(self.floodPeersTold(self.a)[-1], {1: ("10.77.0.1",)})
        self.assertEqual(self.floodPeersTold(self.b)[-1], {})

    def test_refusedFloodPeersAreSentAgainAtTheNextPoll(self):
        """A node that did not take its flood peers gets them at the next poll."""
        self.a.failWith(CloudError("InternalError", "link broke", 500), "setFloodPeers")
        self.successResultOf(self.cluster.runInstances([runSpec(1)]))
        # What it took at start (nothing to flood) is all it has.
        self.assertEqual(self.a.floodPeers, {})
        self.a.recover()
        self.successResultOf(self.registry.poll())
        self.assertEqual(self.a.floodPeers, {1: ("10.77.0.1",)})
        self.flushLoggedErrors()
