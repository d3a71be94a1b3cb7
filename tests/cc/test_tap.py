"""eucalyptus-cc's service tree: built without I/O, and working end to end over PB+TLS."""

import os

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from eucad.cc import tap
from eucad.cc.cluster import ClusterController
from eucad.cc.dhcpd import DhcpdProcess
from eucad.cc.nodes import NodeRegistry
from eucad.cc.watch import NodeWatcher
from eucad.common import pblink, trust
from eucad.common.config import EucaConf
from eucad.common.errors import CloudError
from eucad.common.links import ClusterLink, NodeRoot
from eucad.testing.fakenode import FakeNode
from tests.cc.helpers import liveInstances, runSpec


class TapTests(unittest.TestCase):

    def setUp(self):
        self.prefix = os.path.abspath(self.mktemp())

    def options(self, **values):
        conf = EucaConf(os.path.join(self.prefix, "etc", "eucalyptus", "eucalyptus.conf"))
        for key, value in values.items():
            conf.set(key, value)
        conf.save()
        options = tap.Options()
        options.parseOptions(["--prefix", self.prefix])
        return options

    def test_treeWithoutIO(self):
        """The tree holds logging, one link per node, the registry and its watcher, the cluster and the listener; nothing is opened."""
        root = tap.makeService(self.options(NODES="10.0.0.2 10.0.0.3:9000", NC_PORT="8775"))
        services = list(root)
        links = [s for s in services if isinstance(s, pblink.LinkClient)]
        self.assertEqual([(l.host, l.port) for l in links],
                         [("10.0.0.2", 8775), ("10.0.0.3", 9000)])
        registry = [s for s in services if isinstance(s, NodeRegistry)][0]
        self.assertEqual([e.node for e in registry.entries], links)
        self.assertEqual(registry.interval, 2.0)
        [watcher] = [s for s in services if isinstance(s, NodeWatcher)]
        self.assertIs(watcher.registry, registry)
        self.assertEqual(watcher.retryDelay, 2.0)
        self.assertGreater(services.index(watcher), services.index(registry))
        self.assertIsInstance(services[-2], ClusterController)
        self.assertIsInstance(services[-1], pblink.LinkServer)
        self.assertEqual([s for s in services if isinstance(s, DhcpdProcess)], [])
        # No keys exist, yet building succeeded: they are read at start.
        self.assertEqual(os.listdir(self.prefix), ["etc"])

    def test_staticModeRunsDhcpd(self):
        """STATIC mode adds a dhcpd on VNET_INTERFACE in VNET_NETNS with its files under the CC's state."""
        root = tap.makeService(self.options(
            VNET_MODE="STATIC", VNET_SUBNET="10.77.0.0", VNET_NETMASK="255.255.255.0",
            VNET_ROUTER="10.77.0.1", VNET_MACMAP="d2:0d:00:00:00:01=10.77.0.10",
            VNET_INTERFACE="priv0", VNET_NETNS="fe", VNET_DHCPDAEMON="/opt/dhcpd"))
        [dhcpd] = [s for s in root if isinstance(s, DhcpdProcess)]
        directory = os.path.join(self.prefix, "var", "lib", "eucalyptus", "cc", "dhcp")
        self.assertEqual(dhcpd.runner.fullArgv(dhcpd.argv()), [
            "ip", "netns", "exec", "fe", "/opt/dhcpd", "-4", "-d",
            "-cf", os.path.join(directory, "dhcpd.conf"),
            "-lf", os.path.join(directory, "dhcpd.leases"),
            "-pf", os.path.join(directory, "dhcpd.pid"), "priv0"])
        self.assertEqual(dhcpd.errorLog, os.path.join(
            self.prefix, "var", "log", "eucalyptus", "httpd-cc_error_log"))
        self.assertEqual(os.listdir(self.prefix), ["etc"])

    def test_badNetworkSettings(self):
        """Settings the network mode cannot use stop the daemon from being built."""
        self.assertRaises(ValueError, tap.makeService, self.options(VNET_MODE="STATIC"))
        self.assertRaises(ValueError, tap.makeService, self.options(NODES="a:b"))

    @defer.inlineCallbacks
    def waitForNode(self, client, state="up"):
        for _ in range(100):
            resources = yield client.describeResources()
            if resources.nodes and resources.nodes[0].state == state:
                return resources
            yield task.deferLater(reactor, 0.1, lambda: None)
        self.fail("the node never became %s" % (state,))

    @defer.inlineCallbacks
    def test_clusterOverTheLinks(self):
        """A cloud-role client runs, sees and terminates an instance on a node reached over PB+TLS."""
        options = self.options(CC_PORT="0", CC_LISTEN="127.0.0.1", NODE_POLL_SECONDS="0.2")
        trust.setup(options.layout.keys)
        node = FakeNode(cpu=2, ram=1024, disk=40)
        # The CC long-polls the node: a wait still open at the end holds a
        # timer on the reactor until it is answered.
        self.addCleanup(node.changes.release)
        nodeCredentials = trust.Credentials.load(options.layout, "node")
        nodeServer = pblink.LinkServer(NodeRoot(node), port=0, host="127.0.0.1",
                                       tlsOptions=nodeCredentials.serverOptions(
                                           acceptRole="cluster"))
        nodeServer.startService()
        self.addCleanup(nodeServer.stopService)
        nodePort = nodeServer.listeningPort.getHost().port

        options.conf.set("NODES", "127.0.0.1:%d" % (nodePort,))
        root = tap.makeService(options)
        root.startService()
        self.addCleanup(root.stopService)
        ccPort = list(root)[-1].listeningPort.getHost().port

        cloud = trust.Credentials.load(options.layout, "cloud")
        client = ClusterLink("127.0.0.1", ccPort,
                             cloud.clientOptions("127.0.0.1", expectRole="cluster"))
        client.startService()
        self.addCleanup(client.stopService)
        yield client.whenConnected()

        resources = yield self.waitForNode(client)
        small = [v for v in resources.vmTypes if v.vmType.name == "m1.small"][0]
        self.assertEqual((small["max"], small["free"]), (2, 2))
        [instance] = yield client.runInstances([runSpec(1)])
        self.assertEqual((instance["state"], instance["node"], instance["privateIp"]),
                         ("pending", "127.0.0.1:%d" % (nodePort,), "0.0.0.0"))
        self.assertEqual(list(node.instances), ["i-00000001"])
        self.assertEqual(node.instances["i-00000001"]["macAddress"], instance["macAddress"])

        error = yield self.assertFailure(client.runInstances([runSpec(2), runSpec(3),
                                                              runSpec(4)]), CloudError)
        self.assertEqual(error.code, "InsufficientInstanceCapacity")
        error = yield self.assertFailure(client.runInstances([{"instanceId": "x"}]), CloudError)
        self.assertEqual(error.code, "InvalidParameterValue")

        described = yield client.describeInstances()
        self.assertEqual([i["instanceId"] for i in described], ["i-00000001"])
        answer = yield client.terminateInstances(["i-00000001"])
        self.assertEqual(answer[0]["state"], "terminated")
        self.assertEqual(liveInstances(node), [])
        statePath = os.path.join(options.layout.state, "cc", "state.json")
        self.assertTrue(os.path.isfile(statePath))
        self.assertTrue(os.path.isfile(options.layout.log("cc.log")))

        # The node goes away: no listener, and the CC's connection drops.
        yield nodeServer.stopService()
        [link] = [s for s in root if isinstance(s, pblink.LinkClient)]
        link.disconnect()
        yield self.waitForNode(client, "down")
        error = yield self.assertFailure(client.runInstances([runSpec(5)]), CloudError)
        self.assertEqual(error.code, "InsufficientInstanceCapacity")
