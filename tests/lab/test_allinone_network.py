"""make run's network: the MANAGED keys it writes are ones the CC accepts."""

from twisted.trial import unittest

from eucad.cc.vnet.settings import settingsFromConf
from eucad.common.config import DEFAULTS
from eucad.lab.allinone import VM_SUBNET, managedNetworkConf, publicFetchArgv, publicLines
from eucad.lab.topology import Lab


def asConf(arguments):
    return dict(DEFAULTS, **dict(argument.split("=", 1) for argument in arguments))


class ManagedNetworkConfTests(unittest.TestCase):

    def setUp(self):
        self.described = Lab("t1", "/srv/lab", nodes=2, subnet="10.78.0.0/24",
                             withLibvirt=False).describe()
        self.conf = managedNetworkConf(self.described)

    def test_frontEndKeysPassTheChecks(self):
        """The front end's keys make valid MANAGED VXLAN settings: the VM subnet, tunnels from
        the front end's address, elastic IPs from the public subnet, metadata in the front end."""
        settings = settingsFromConf(asConf(self.conf["frontend"]))
        self.assertEqual((settings.mode, settings.encap, settings.subnet, settings.mtu),
                         ("MANAGED", "vxlan", VM_SUBNET, 1450))
        self.assertEqual((str(settings.localIp), settings.privInterface, settings.pubInterface),
                         ("10.78.0.1", "priv0", "pub0"))
        self.assertEqual((str(settings.publicIps[0]), str(settings.publicIps[-1])),
                         ("192.0.2.10", "192.0.2.29"))
        self.assertEqual((str(settings.metadata[0]), settings.metadata[1]),
                         ("169.254.169.254", 80))

    def test_nodeKeys(self):
        """Each node makes its links on br0 in its own namespace, tunnels from its address."""
        self.assertEqual(asConf(self.conf["n2"])["VNET_LOCALIP"], "10.78.0.3")
        self.assertEqual(asConf(self.conf["n2"])["VNET_NETNS"], "t1-n2")
        self.assertEqual(asConf(self.conf["n1"])["VNET_PRIVINTERFACE"], "br0")

    def test_whatMakeRunPrints(self):
        """make run prints the command that fetches the page through the elastic IP from pub."""
        fetch = " ".join(publicFetchArgv(self.described, "192.0.2.10"))
        self.assertEqual(fetch, "ip netns exec t1-pub curl -s -m 5 http://192.0.2.10/")
        text = publicLines({"publicIp": "192.0.2.10", "fetch": fetch})
        self.assertIn(fetch, text)
        self.assertEqual(publicLines({"instanceId": "i-00000001"}), "")
