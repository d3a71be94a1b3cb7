"""Network modes: SYSTEM's random MACs, STATIC's MAC map and DHCP entries, the mode factory."""

import random

from twisted.trial import unittest

from eucad.cc import vnet
from eucad.cc.dhcpdconfig import DhcpSubnet
from eucad.cc.vnet import macs
from eucad.cc.vnet.static import StaticNetwork, parseMacMap
from eucad.cc.vnet.system import SystemNetwork
from eucad.common.config import EucaConf
from eucad.common.errors import CloudError


def conf(**values):
    c = EucaConf("/nonexistent/eucalyptus.conf")
    for key, value in values.items():
        c.set(key, value)
    return c


class MacTests(unittest.TestCase):

    def test_prefixIsLocallyAdministered(self):
        """Generated MACs carry the locally administered unicast prefix."""
        mac = macs.randomMac(rng=random.Random(1))
        self.assertTrue(mac.startswith("d2:0d:"))
        self.assertTrue(macs.isLocallyAdministered(mac))
        self.assertRegex(mac, r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")

    def test_avoidsTaken(self):
        """A MAC already in use is not handed out again."""
        first = macs.randomMac(rng=random.Random(7))
        second = macs.randomMac(taken={first}, rng=random.Random(7))
        self.assertNotEqual(first, second)

    def test_boundedRetries(self):
        """When every candidate is taken the search gives up instead of looping."""
        class Constant(random.Random):
            def randrange(self, n):
                return 0
        self.assertRaises(RuntimeError, macs.randomMac, {"d2:0d:00:00:00:00"}, Constant())

    def test_globalPrefixRefused(self):
        """A globally administered prefix is refused."""
        self.assertRaises(ValueError, macs.randomMac, prefix="d0:0d")


class SystemNetworkTests(unittest.TestCase):

    def test_allocate(self):
        """SYSTEM hands out a random MAC and no addresses (0.0.0.0)."""
        network = SystemNetwork("br0", rng=random.Random(3))
        allocation = network.allocate("i-00000001", "alice", "default")
        self.assertTrue(allocation["macAddress"].startswith("d2:0d:"))
        self.assertEqual((allocation["privateIp"], allocation["publicIp"]),
                         ("0.0.0.0", "0.0.0.0"))
        self.assertFalse(network.usesDhcp)
        self.assertIsNone(network.dhcpConfig())
        self.assertEqual(network.nodeNetwork(allocation, "alice", "default"),
                         {"owner": "alice", "group": "default", "bridge": "br0", "mtu": None,
                          "privateIp": "0.0.0.0", "publicIp": "0.0.0.0"})

    def test_distinctMacs(self):
        """Many instances get distinct MACs."""
        network = SystemNetwork("br0", rng=random.Random(5))
        found = {network.allocate("i-%08x" % n, "a", "g")["macAddress"] for n in range(200)}
        self.assertEqual(len(found), 200)

    def test_learn(self):
        """An address reported later is learnt once; 0.0.0.0 and empty ones are ignored."""
        network = SystemNetwork("br0")
        network.allocate("i-00000001", "a", "g")
        self.assertFalse(network.learn("i-00000001", "0.0.0.0"))
        self.assertFalse(network.learn("i-00000001", None))
        self.assertTrue(network.learn("i-00000001", "192.168.1.50"))
        self.assertFalse(network.learn("i-00000001", "192.168.1.50"))
        self.assertEqual(network.allocations["i-00000001"]["publicIp"], "192.168.1.50")

    def test_releaseAndAdopt(self):
        """Released allocations disappear; adopted ones come back as they were."""
        network = SystemNetwork("br0")
        allocation = network.allocate("i-00000001", "a", "g")
        network.release("i-00000001")
        network.release("i-00000001")
        self.assertEqual(network.allocations, {})
        network.adopt("i-00000001", allocation)
        self.assertEqual(network.allocations["i-00000001"], allocation)


MACMAP = "AA:DD:11:CE:FF:ED=192.168.1.3 aa-dd-11-ce-ff-ee=192.168.1.4"


def staticNetwork(macmap=MACMAP):
    subnet = DhcpSubnet("192.168.1.0", "255.255.255.0", router="192.168.1.1",
                        dns="192.168.1.2", broadcast="192.168.1.255")
    return StaticNetwork("br0", subnet, parseMacMap(macmap), "eth0")


class StaticNetworkTests(unittest.TestCase):

    def test_parseMacMap(self):
        """The guide's MAC map syntax parses into normalised pairs, in order."""
        self.assertEqual(parseMacMap(MACMAP), [("aa:dd:11:ce:ff:ed", "192.168.1.3"),
                                               ("aa:dd:11:ce:ff:ee", "192.168.1.4")])

    def test_parseMacMapErrors(self):
        """Entries without '=', bad MACs or addresses, and repeats are refused."""
        for bad in ("aa:dd:11:ce:ff:ed", "AA:DD:CE:FF:EE=192.168.1.4",
                    "aa:dd:11:ce:ff:ed=192.168.1.300",
                    "aa:dd:11:ce:ff:ed=192.168.1.3 aa:dd:11:ce:ff:ed=192.168.1.4",
                    "aa:dd:11:ce:ff:ed=192.168.1.3 aa:dd:11:ce:ff:ee=192.168.1.3"):
            self.assertRaises(ValueError, parseMacMap, bad)

    def test_firstFreePair(self):
        """Instances take the first free pair; a released pair is reused first."""
        network = staticNetwork()
        a = network.allocate("i-00000001", "alice", "default")
        b = network.allocate("i-00000002", "bob", "default")
        self.assertEqual((a["macAddress"], a["privateIp"], a["publicIp"]),
                         ("aa:dd:11:ce:ff:ed", "192.168.1.3", "192.168.1.3"))
        self.assertEqual(b["privateIp"], "192.168.1.4")
        network.release("i-00000001")
        self.assertEqual(network.allocate("i-00000003", "c", "g")["privateIp"], "192.168.1.3")

    def test_exhaustion(self):
        """With every pair in use the next instance gets an InsufficientInstanceCapacity error."""
        network = staticNetwork()
        network.allocate("i-00000001", "a", "g")
        network.allocate("i-00000002", "a", "g")
        error = self.assertRaises(CloudError, network.allocate, "i-00000003", "a", "g")
        self.assertEqual(error.code, "InsufficientInstanceCapacity")
        self.assertIn("VNET_MACMAP", error.message)
        self.assertNotIn("i-00000003", network.allocations)

    def test_dhcpEntries(self):
        """Every allocation is a dhcpd host entry on VNET_INTERFACE."""
        network = staticNetwork()
        network.allocate("i-00000001", "a", "g")
        text = network.dhcpConfig().render()
        self.assertIn("host i-00000001 {\n  hardware ethernet aa:dd:11:ce:ff:ed;\n"
                      "  fixed-address 192.168.1.3;\n}", text)
        self.assertIn("option routers 192.168.1.1;", text)
        self.assertEqual(network.dhcpInterfaces(), ["eth0"])
        network.release("i-00000001")
        self.assertNotIn("host ", network.dhcpConfig().render())

    def test_mapOutsideSubnet(self):
        """A mapped address outside VNET_SUBNET is refused at start."""
        self.assertRaises(ValueError, staticNetwork, "aa:dd:11:ce:ff:ed=10.0.0.3")
        self.assertRaises(ValueError, staticNetwork, "aa:dd:11:ce:ff:ed=192.168.1.1")
        self.assertRaises(ValueError, staticNetwork, "")

    def test_adoptUnlistedPairKeepsServing(self):
        """An adopted pair the map no longer lists keeps its DHCP entry and is not reused."""
        network = staticNetwork()
        network.adopt("i-00000009", {"macAddress": "aa:dd:11:00:00:09",
                                     "privateIp": "192.168.1.9", "publicIp": "192.168.1.9"})
        self.assertIn("fixed-address 192.168.1.9;", network.dhcpConfig().render())
        self.assertEqual(network.allocate("i-00000001", "a", "g")["privateIp"], "192.168.1.3")


class NetworkFromConfTests(unittest.TestCase):

    def test_systemByDefault(self):
        """Without VNET_MODE the cluster runs SYSTEM mode on VNET_BRIDGE."""
        network = vnet.networkFromConf(conf())
        self.assertIsInstance(network, SystemNetwork)
        self.assertEqual(network.bridge, "br0")

    def test_static(self):
        """STATIC mode is built from the subnet keys and the MAC map."""
        network = vnet.networkFromConf(conf(
            VNET_MODE="STATIC", VNET_SUBNET="192.168.1.0", VNET_NETMASK="255.255.255.0",
            VNET_ROUTER="192.168.1.1", VNET_DNS="192.168.1.2", VNET_MACMAP=MACMAP,
            VNET_BRIDGE="xenbr0", VNET_INTERFACE="priv0", VNET_MTU="1450"))
        self.assertIsInstance(network, StaticNetwork)
        self.assertEqual((network.bridge, network.interface, network.mtu),
                         ("xenbr0", "priv0", 1450))
        self.assertIn("option interface-mtu 1450;", network.dhcpConfig().render())

    def test_staticMissingKeys(self):
        """STATIC without subnet or map names what is missing."""
        error = self.assertRaises(ValueError, vnet.networkFromConf, conf(VNET_MODE="STATIC"))
        self.assertIn("VNET_SUBNET", str(error))
        self.assertIn("VNET_MACMAP", str(error))

    def test_unknownMode(self):
        """A mode without a module is refused with the list of available ones."""
        error = self.assertRaises(ValueError, vnet.networkFromConf, conf(VNET_MODE="FLAT"))
        self.assertIn("MANAGED, MANAGED-NOVLAN, STATIC, SYSTEM", str(error))

    def test_managedModesRegistered(self):
        """MANAGED and MANAGED-NOVLAN are built from the conf with the front end's runner and preload."""
        from eucad.cc.vnet.managed import ManagedNetwork
        from eucad.cc.vnet.managednovlan import ManagedNoVlanNetwork
        from eucad.lab.vnetlab import VnetLab
        runner = object()
        for mode, cls in (("MANAGED", ManagedNetwork), ("MANAGED-NOVLAN", ManagedNoVlanNetwork)):
            network = vnet.networkFromConf(conf(**VnetLab("x").settings(mode)), runner=runner,
                                           preload="*filter\nCOMMIT\n")
            self.assertIsInstance(network, cls)
            self.assertIs(network.runner, runner)
            self.assertEqual(network.firewall.preload, "*filter\nCOMMIT\n")

    def test_managedNeedsRunner(self):
        """MANAGED without the front end's process runner is refused at start."""
        from eucad.lab.vnetlab import VnetLab
        error = self.assertRaises(ValueError, vnet.networkFromConf,
                                  conf(**VnetLab("x").settings("MANAGED")))
        self.assertIn("process runner", str(error))
