"""The node's half of MANAGED group networks (eucad.cc.vnet.nodelinks), exact argv."""

from twisted.trial import unittest

from eucad.cc.vnet import links
from eucad.cc.vnet.nodelinks import NodeGroupLinks
from eucad.common.process import ProcessFailed, ProcessRunner

from tests.cc.processes import FakeProcessReactor

VXLAN = {"encap": "vxlan", "tag": 5, "bridge": "eucabr5",
         "floodPeers": ["10.77.0.1", "10.77.0.3"]}


class NodeGroupLinksTests(unittest.TestCase):

    def setUp(self):
        self.reactor = FakeProcessReactor()
        self.links = NodeGroupLinks(ProcessRunner(self.reactor), "eth0", "10.77.0.2")

    def settle(self, d):
        results = []
        d.addBoth(results.append)
        for _ in range(30):
            if results:
                break
            self.reactor.settle()
        return results[0]

    def expectLeftoversRemoved(self, encap, tag):
        """Before making a tag's links, whatever an earlier run left of them goes (quietly)."""
        for argv in links.tagNetworkDown(encap, tag, "eth0"):
            self.reactor.expect(argv, code=1, err=b"Cannot find device\n")

    def test_vxlanLifecycle(self):
        """First instance makes link and bridge, peers follow the CC, the last one removes them."""
        self.expectLeftoversRemoved("vxlan", 5)
        for argv in links.tagNetworkUp("vxlan", 5, "eth0", local="10.77.0.2",
                                       peers=["10.77.0.1", "10.77.0.3"]):
            self.reactor.expect(argv)
        self.assertEqual(self.settle(self.links.attach("i-00000001", VXLAN)), "eucabr5")
        # A second instance of the group: nothing new to make.
        self.assertEqual(self.settle(self.links.attach("i-00000002", VXLAN)), "eucabr5")
        # The group spreads to n4 and leaves n3.
        self.reactor.expect(links.addFloodPeer(5, "10.77.0.4"))
        self.reactor.expect(links.deleteFloodPeer(5, "10.77.0.3"))
        self.settle(self.links.setPeers(5, ["10.77.0.1", "10.77.0.2", "10.77.0.4"]))
        self.settle(self.links.detach("i-00000001", VXLAN))
        for argv in links.tagNetworkDown("vxlan", 5, "eth0"):
            self.reactor.expect(argv)
        self.settle(self.links.detach("i-00000002", VXLAN))
        self.assertEqual((self.links.users, self.links.peers), ({}, {}))
        self.reactor.assertAllUsed(self)

    def test_vlanAndUntagged(self):
        """A VLAN tag makes DEV.N and its bridge; an untagged network needs nothing."""
        self.expectLeftoversRemoved("vlan", 7)
        for argv in links.tagNetworkUp("vlan", 7, "eth0"):
            self.reactor.expect(argv)
        self.settle(self.links.attach("i-00000001", {"encap": "vlan", "tag": 7,
                                                     "bridge": "eucabr7"}))
        self.assertEqual(self.settle(self.links.attach("i-00000002", {"bridge": "br0"})), "br0")
        self.reactor.assertAllUsed(self)

    def test_failedAttachUndone(self):
        """A failing step removes what was made, and the tag is not recorded."""
        self.expectLeftoversRemoved("vxlan", 5)
        self.reactor.expect(links.addVxlan(5, "10.77.0.2", "eth0"))
        self.reactor.expect(links.addBridge("eucabr5"), code=2, err=b"File exists\n")
        for argv in links.tagNetworkDown("vxlan", 5, "eth0"):
            self.reactor.expect(argv)
        self.settle(self.links.attach("i-00000001", VXLAN)).trap(ProcessFailed)
        self.assertEqual(self.links.users, {})
        self.reactor.assertAllUsed(self)

    def test_adoptedInstancesKeepTheirLinks(self):
        """Instances a previous node controller started are counted: no command runs, and the
        links go only with the last of them."""
        self.links.adopt("i-00000001", VXLAN)
        self.links.adopt("i-00000002", {"bridge": "br0"})
        self.assertEqual(self.links.users, {5: {"i-00000001"}})
        for argv in links.tagNetworkDown("vxlan", 5, "eth0"):
            self.reactor.expect(argv)
        self.settle(self.links.detach("i-00000001", VXLAN))
        self.assertEqual(self.links.users, {})
        self.reactor.assertAllUsed(self)

    def test_followPeersOfAdoptedTagReadsTheKernelFirst(self):
        """
        After a node restart the CC's map is applied against the flood
        entries the kernel still holds: only the difference runs; tags the
        node does not carry are ignored.
        """
        self.links.adopt("i-00000001", VXLAN)
        self.reactor.expect(links.showFloodEntries(5), out=(
            b"00:00:00:00:00:00 dst 10.77.0.1 self permanent\n"
            b"00:00:00:00:00:00 dst 10.77.0.3 self permanent\n"
            b"d2:0d:0a:4d:00:05 dst 10.77.0.3 self\n"))
        self.reactor.expect(links.addFloodPeer(5, "10.77.0.4"))
        self.reactor.expect(links.deleteFloodPeer(5, "10.77.0.3"))
        self.settle(self.links.followPeers({5: ("10.77.0.1", "10.77.0.4"),
                                            9: ("10.77.0.1",)}))
        self.assertEqual(self.links.peers, {5: {"10.77.0.1", "10.77.0.4"}})
        # Known now: the same map again runs nothing.
        self.settle(self.links.followPeers({5: ("10.77.0.1", "10.77.0.4")}))
        self.reactor.assertAllUsed(self)
