"""The node controller joins MANAGED group networks: links before the domain, gone after."""

from twisted.internet import defer

from eucad.common.errors import CloudError
from tests.nc.test_node import NodeTestCase


class RecordingGroupLinks:
    """Stands in for NodeGroupLinks: keeps what it was asked, in order."""

    localIp = "10.77.0.2"

    def __init__(self, failAttach=False):
        self.calls = []
        self.failAttach = failAttach

    def attach(self, instanceId, network):
        self.calls.append(("attach", instanceId, network.tag))
        if self.failAttach:
            return defer.fail(CloudError("InternalError", "ip link add failed", 500))
        return defer.succeed(network.bridge)

    def detach(self, instanceId, network):
        self.calls.append(("detach", instanceId, network.tag))
        return defer.succeed(None)

    def adopt(self, instanceId, network):
        self.calls.append(("adopt", instanceId, network.tag))


class GroupNetworkTests(NodeTestCase):

    def groupSpec(self):
        return self.spec().withNetwork(encap="vxlan", tag=5, bridge="eucabr5",
                                       floodPeers=("10.77.0.1", "10.77.0.3"))

    @defer.inlineCallbacks
    def test_attachBeforeRunDetachAfterTerminate(self):
        """A tagged instance: its group's links are made before it runs and released after its terminate."""
        node = self.makeNode()
        node.groupLinks = links = RecordingGroupLinks()
        spec = self.groupSpec()
        yield self.runToEnd(node, spec)
        self.assertEqual(links.calls, [("attach", spec.instanceId, 5)])
        self.assertIn(spec.instanceId, self.domainNames())
        yield node.terminateInstance(spec.instanceId)
        self.assertEqual(links.calls[-1], ("detach", spec.instanceId, 5))

    @defer.inlineCallbacks
    def test_failedAttachStartsNothing(self):
        """When the group's links cannot be made, the run fails and no domain starts."""
        node = self.makeNode()
        node.groupLinks = RecordingGroupLinks(failAttach=True)
        spec = self.groupSpec()
        with self.assertRaises(CloudError):
            yield node.runInstance(spec)
        self.assertNotIn(spec.instanceId, self.domainNames())

    @defer.inlineCallbacks
    def test_reportsItsTunnelAddress(self):
        """describeResource names the node's VNET_LOCALIP, where the CC sends VXLAN traffic."""
        node = self.makeNode()
        node.groupLinks = RecordingGroupLinks()
        resources = yield node.describeResource()
        self.assertEqual(resources.vnetAddress, "10.77.0.2")

    @defer.inlineCallbacks
    def test_restartAdoptsLiveInstances(self):
        """A node controller started over running tagged instances counts them without making links."""
        first = self.makeNode()
        spec = self.groupSpec()
        first.groupLinks = RecordingGroupLinks()
        yield self.runToEnd(first, spec)
        second = self.makeNode()
        second.groupLinks = links = RecordingGroupLinks()
        yield second.whenReady()
        self.assertIn(("adopt", spec.instanceId, 5), links.calls)
        self.assertNotIn("attach", [call[0] for call in links.calls])
