"""Tests for the VNET_* settings check (eucad.cc.vnet.settings)."""

import ipaddress

from twisted.trial import unittest

from eucad.cc.vnet.settings import (
    MAX_PUBLIC_IPS, VLAN_TAGS, VXLAN_TAGS, NetworkSettingsError, parsePublicIps,
    settingsFromConf)
from eucad.common.config import DEFAULTS

A = ipaddress.IPv4Address

MANAGED = {
    "VNET_MODE": "MANAGED", "VNET_ENCAP": "vxlan", "VNET_PUBINTERFACE": "pub0",
    "VNET_PRIVINTERFACE": "priv0", "VNET_SUBNET": "10.100.0.0",
    "VNET_NETMASK": "255.255.0.0", "VNET_ADDRSPERNET": "32", "VNET_DNS": "10.77.0.1",
    "VNET_PUBLICIPS": "192.0.2.10-192.0.2.12 192.0.2.20", "VNET_CLOUDIP": "192.0.2.254",
    "VNET_LOCALIP": "10.77.0.1",
}


def conf(**overrides):
    values = dict(DEFAULTS)
    values.update(overrides)
    return values


class PublicIpsTests(unittest.TestCase):

    def test_addressesRangesAndBlocks(self):
        """Single addresses, full and short ranges and CIDR blocks expand in order."""
        self.assertEqual(
            parsePublicIps("192.0.2.10-192.0.2.11, 192.0.2.20-21 198.51.100.5 203.0.113.0/30"),
            [A("192.0.2.10"), A("192.0.2.11"), A("192.0.2.20"), A("192.0.2.21"),
             A("198.51.100.5"), A("203.0.113.1"), A("203.0.113.2")])

    def test_empty(self):
        """An empty value is an empty pool."""
        self.assertEqual(parsePublicIps(""), [])

    def test_badWords(self):
        """Garbage, backward ranges, duplicates and huge pools are refused by name."""
        for text, words in [("192.0.2.300", "not an address"),
                            ("192.0.2.9-192.0.2.3", "runs backwards"),
                            ("192.0.2.1 192.0.2.0-2", "twice"),
                            ("10.0.0.0/8", "larger than %d" % (MAX_PUBLIC_IPS,)),
                            ("10.0.0.0-10.9.0.0", "longer than")]:
            e = self.assertRaises(ValueError, parsePublicIps, text)
            self.assertIn(words, str(e), text)


class SettingsTests(unittest.TestCase):

    def test_managedVxlan(self):
        """A full MANAGED/vxlan configuration gives typed values and the VNI range."""
        settings = settingsFromConf(conf(**MANAGED))
        self.assertEqual(settings.mode, "MANAGED")
        self.assertEqual(settings.encap, "vxlan")
        self.assertEqual(settings.tags, VXLAN_TAGS)
        self.assertEqual(settings.subnet, ipaddress.IPv4Network("10.100.0.0/16"))
        self.assertEqual(settings.addrsPerNet, 32)
        self.assertEqual(settings.sliceCount, 2048)
        self.assertEqual(settings.publicIps, [A("192.0.2.10"), A("192.0.2.11"),
                                              A("192.0.2.12"), A("192.0.2.20")])
        self.assertEqual(settings.metadata, (A("192.0.2.254"), 8773))
        self.assertEqual((settings.pubInterface, settings.privInterface), ("pub0", "priv0"))
        self.assertEqual(settings.localIp, A("10.77.0.1"))

    def test_managedVlanAndMetadata(self):
        """VNET_ENCAP=vlan gives VLAN ids 2..4094; VNET_METADATA overrides the target."""
        settings = settingsFromConf(conf(**dict(MANAGED, VNET_ENCAP="VLAN", VNET_LOCALIP="",
                                                VNET_METADATA="192.0.2.254:8780")))
        self.assertEqual(settings.tags, VLAN_TAGS)
        self.assertEqual(settings.metadata, (A("192.0.2.254"), 8780))

    def test_novlanHasNoTags(self):
        """MANAGED-NOVLAN ignores VNET_ENCAP and needs no VNET_LOCALIP."""
        settings = settingsFromConf(conf(**dict(MANAGED, VNET_MODE="managed-novlan",
                                                VNET_LOCALIP="")))
        self.assertEqual((settings.mode, settings.encap, settings.tags),
                         ("MANAGED-NOVLAN", None, None))

    def test_systemDefaults(self):
        """The shipped defaults are a valid SYSTEM configuration."""
        settings = settingsFromConf(conf())
        self.assertEqual((settings.mode, settings.bridge), ("SYSTEM", "br0"))

    def test_everyProblemOnItsOwnLine(self):
        """All problems are reported together, one line each, naming the key."""
        bad = dict(MANAGED, VNET_ENCAP="gre", VNET_SUBNET="10.100.0.1",
                   VNET_ADDRSPERNET="24", VNET_PUBLICIPS="192.0.2.1-x",
                   VNET_CLOUDIP="", VNET_PUBINTERFACE="a-very-long-interface",
                   VNET_DNS="8.8.8.8 nine", VNET_MTU="9")
        e = self.assertRaises(NetworkSettingsError, settingsFromConf, conf(**bad))
        lines = str(e).splitlines()
        self.assertEqual(lines, e.problems)
        expected = ["VNET_ENCAP='gre'", "VNET_PUBINTERFACE=", "VNET_CLOUDIP is required",
                    "VNET_MTU='9'", "VNET_DNS entry 'nine'", "VNET_SUBNET='10.100.0.1'",
                    "VNET_ADDRSPERNET=24 is not a power of two", "VNET_PUBLICIPS entry '192.0.2.1-x'"]
        self.assertEqual(len(lines), len(expected), lines)
        for start in expected:
            self.assertTrue(any(line.startswith(start) for line in lines), (start, lines))

    def test_publicIpsInsideSubnet(self):
        """Public IPs inside the VM subnet are refused."""
        e = self.assertRaises(NetworkSettingsError, settingsFromConf,
                              conf(**dict(MANAGED, VNET_PUBLICIPS="10.100.3.4 192.0.2.1")))
        self.assertEqual(e.problems, ["VNET_PUBLICIPS 10.100.3.4 lie inside VNET_SUBNET "
                                      "10.100.0.0/16"])

    def test_vxlanNeedsLocalIp(self):
        """MANAGED over VXLAN needs the tunnel's local address."""
        e = self.assertRaises(NetworkSettingsError, settingsFromConf,
                              conf(**dict(MANAGED, VNET_LOCALIP="")))
        self.assertEqual(e.problems, ["VNET_LOCALIP is required in this VNET_MODE"])

    def test_unknownMode(self):
        """An unknown mode is one clear line."""
        e = self.assertRaises(NetworkSettingsError, settingsFromConf, conf(VNET_MODE="BRIDGED"))
        self.assertEqual(e.problems, ["VNET_MODE='BRIDGED' is not one of SYSTEM, STATIC, "
                                      "MANAGED, MANAGED-NOVLAN"])

    def test_staticNeedsItsKeys(self):
        """STATIC without subnet, netmask and MAC map says so for each."""
        e = self.assertRaises(NetworkSettingsError, settingsFromConf, conf(VNET_MODE="STATIC"))
        self.assertEqual(e.problems, ["VNET_SUBNET is required in this VNET_MODE",
                                      "VNET_NETMASK is required in this VNET_MODE",
                                      "VNET_MACMAP is required in VNET_MODE=STATIC"])
