"""Exact argv of the MANAGED modes' link commands (eucad.cc.vnet.links)."""

from twisted.trial import unittest

from eucad.cc.vnet import links


class SingleCommandTests(unittest.TestCase):

    def test_vxlan(self):
        """A VXLAN link and its head-end replication entries."""
        self.assertEqual(links.addVxlan(10, "10.77.0.1", "priv0"),
                         ["ip", "link", "add", "vx10", "type", "vxlan", "id", "10",
                          "dstport", "4789", "local", "10.77.0.1", "dev", "priv0"])
        self.assertEqual(links.addFloodPeer(10, "10.77.0.2"),
                         ["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx10",
                          "dst", "10.77.0.2"])
        self.assertEqual(links.deleteFloodPeer(10, "10.77.0.2"),
                         ["bridge", "fdb", "del", "00:00:00:00:00:00", "dev", "vx10",
                          "dst", "10.77.0.2"])

    def test_vlan(self):
        """An 802.1q link named DEVICE.VLAN."""
        self.assertEqual(links.addVlan("eth0", 10),
                         ["ip", "link", "add", "link", "eth0", "name", "eth0.10",
                          "type", "vlan", "id", "10"])

    def test_bridgeAndAddresses(self):
        """Bridges, enslaving, up, delete, router and public addresses."""
        self.assertEqual(links.addBridge("eucabr10"),
                         ["ip", "link", "add", "eucabr10", "type", "bridge"])
        self.assertEqual(links.setMaster("vx10", "eucabr10"),
                         ["ip", "link", "set", "dev", "vx10", "master", "eucabr10"])
        self.assertEqual(links.setUp("eucabr10"), ["ip", "link", "set", "dev", "eucabr10", "up"])
        self.assertEqual(links.deleteLink("vx10"), ["ip", "link", "delete", "dev", "vx10"])
        self.assertEqual(links.addAddress("10.100.0.1/27", "eucabr10"),
                         ["ip", "addr", "add", "10.100.0.1/27", "dev", "eucabr10"])
        self.assertEqual(links.addPublicAddress("192.0.2.10", "pub0"),
                         ["ip", "addr", "replace", "192.0.2.10/32", "dev", "pub0"])
        self.assertEqual(links.deletePublicAddress("192.0.2.10", "pub0"),
                         ["ip", "addr", "del", "192.0.2.10/32", "dev", "pub0"])

    def test_refusals(self):
        """Out-of-range tags, bad addresses and over-long names never reach a command."""
        self.assertRaises(ValueError, links.addVlan, "eth0", 4095)
        self.assertRaises(ValueError, links.addVlan, "eth0", 0)
        self.assertRaises(ValueError, links.addVlan, "enp0s31f6abcd", 4094)
        self.assertRaises(ValueError, links.addVxlan, 1 << 24, "10.0.0.1", "eth0")
        self.assertRaises(ValueError, links.addVxlan, 5, "10.0.0.300", "eth0")
        self.assertRaises(ValueError, links.addBridge, "br 0")
        self.assertRaises(ValueError, links.addPublicAddress, "192.0.2.1; reboot", "pub0")
        self.assertRaises(ValueError, links.tagNetworkUp, "gre", 5, "eth0")
        self.assertRaises(ValueError, links.tagNetworkUp, "vxlan", 5, "eth0")


class SequenceTests(unittest.TestCase):

    def test_vxlanNetworkOnTheFrontEnd(self):
        """Front end, VXLAN: link, bridge, enslave, up, flood peers, router address."""
        self.assertEqual(
            links.tagNetworkUp("vxlan", 10, "priv0", local="10.77.0.1",
                               peers=["10.77.0.2", "10.77.0.3"], routerCidr="10.100.0.1/27"),
            [["ip", "link", "add", "vx10", "type", "vxlan", "id", "10", "dstport", "4789",
              "local", "10.77.0.1", "dev", "priv0"],
             ["ip", "link", "add", "eucabr10", "type", "bridge"],
             ["ip", "link", "set", "dev", "vx10", "master", "eucabr10"],
             ["ip", "link", "set", "dev", "vx10", "up"],
             ["ip", "link", "set", "dev", "eucabr10", "up"],
             ["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx10", "dst", "10.77.0.2"],
             ["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx10", "dst", "10.77.0.3"],
             ["ip", "addr", "add", "10.100.0.1/27", "dev", "eucabr10"]])
        self.assertEqual(links.tagNetworkDown("vxlan", 10, "priv0"),
                         [["ip", "link", "delete", "dev", "eucabr10"],
                          ["ip", "link", "delete", "dev", "vx10"]])

    def test_vlanNetworkOnANode(self):
        """Node, VLAN: link, bridge, enslave, up; no router address, no flood peers."""
        self.assertEqual(
            links.tagNetworkUp("vlan", 12, "eth0"),
            [["ip", "link", "add", "link", "eth0", "name", "eth0.12", "type", "vlan", "id", "12"],
             ["ip", "link", "add", "eucabr12", "type", "bridge"],
             ["ip", "link", "set", "dev", "eth0.12", "master", "eucabr12"],
             ["ip", "link", "set", "dev", "eth0.12", "up"],
             ["ip", "link", "set", "dev", "eucabr12", "up"]])
        self.assertEqual(links.tagNetworkDown("vlan", 12, "eth0"),
                         [["ip", "link", "delete", "dev", "eucabr12"],
                          ["ip", "link", "delete", "dev", "eth0.12"]])
