"""Tests for the network policy records (eucad.common.netpolicy)."""

from twisted.spread import pb
from twisted.test import iosim
from twisted.trial import unittest

from eucad.common.netpolicy import (
    AddressAssociation, GroupRef, IngressRule, NetworkPolicy, PolicyError,
    SecurityGroupPolicy)


def samplePolicy():
    web = SecurityGroupPolicy("alice", "web", [
        IngressRule("tcp", 80, 80, cidr="0.0.0.0/0"),
        IngressRule("icmp", 8, -1, cidr="192.0.2.0/24"),
        IngressRule("tcp", 22, 22, sourceGroup=GroupRef("alice", "admin hosts")),
        IngressRule("-1", cidr="10.1.2.3/8"),
    ])
    return NetworkPolicy([web, SecurityGroupPolicy("bob", "default")],
                         [AddressAssociation("192.0.2.10", "10.100.0.2", "i-0000abcd")])


class RecordTests(unittest.TestCase):

    def test_valid(self):
        """Valid records keep their fields; a CIDR is kept in network form."""
        policy = samplePolicy()
        web = policy.group("alice", "web")
        self.assertEqual(web.rules[3].cidr, "10.0.0.0/8")
        self.assertEqual(web.rules[2].sourceGroup, GroupRef("alice", "admin hosts"))
        self.assertIsNone(policy.group("alice", "nope"))
        self.assertEqual(policy, samplePolicy())

    def test_badRules(self):
        """Every kind of bad rule is refused with a message naming the field."""
        cases = [
            (lambda: IngressRule("gre", cidr="0.0.0.0/0"), "protocol"),
            (lambda: IngressRule("tcp", 0, 65536, cidr="0.0.0.0/0"), "to port"),
            (lambda: IngressRule("tcp", 90, 80, cidr="0.0.0.0/0"), "backwards"),
            (lambda: IngressRule("tcp", True, 80, cidr="0.0.0.0/0"), "from port"),
            (lambda: IngressRule("icmp", 256, 0, cidr="0.0.0.0/0"), "ICMP type"),
            (lambda: IngressRule("icmp", -1, 3, cidr="0.0.0.0/0"), "ICMP code needs"),
            (lambda: IngressRule("-1", 0, 80, cidr="0.0.0.0/0"), "takes no ports"),
            (lambda: IngressRule("tcp", 80, 80), "either a CIDR or a source group"),
            (lambda: IngressRule("tcp", 80, 80, cidr="0.0.0.0/0",
                                 sourceGroup=GroupRef("a", "b")), "either"),
            (lambda: IngressRule("tcp", 80, 80, cidr="10.0.0.0/33"), "CIDR"),
            (lambda: IngressRule("tcp", 80, 80, sourceGroup=("a", "b")), "GroupRef"),
            (lambda: GroupRef("alice", "bad\nname"), "group name"),
            (lambda: GroupRef("al ice", "web"), "group owner"),
            (lambda: SecurityGroupPolicy("a", "b", [IngressRule("-1", cidr="0.0.0.0/0")] * 2),
             "twice"),
            (lambda: AddressAssociation("192.0.2.300", "10.0.0.2", "i-12345678"), "public IP"),
            (lambda: AddressAssociation("192.0.2.3", "10.0.0.2", "x-1"), "instance id"),
            (lambda: NetworkPolicy(associations=[
                AddressAssociation("192.0.2.3", "10.0.0.2", "i-12345678"),
                AddressAssociation("192.0.2.3", "10.0.0.3", "i-12345679")]), "associated twice"),
            (lambda: NetworkPolicy([SecurityGroupPolicy("a", "b")] * 2), "listed twice"),
        ]
        for make, words in cases:
            e = self.assertRaises(PolicyError, make)
            self.assertIn(words, str(e))


class _Receiver(pb.Root):
    def __init__(self):
        self.received = []

    def remote_publish(self, policy):
        self.received.append(policy)
        return len(policy.groups)


class WireTests(unittest.TestCase):

    def setUp(self):
        self.receiver = _Receiver()
        clientFactory = pb.PBClientFactory()
        self.client, self.server, self.pump = iosim.connectedServerAndClient(
            lambda: pb.PBServerFactory(self.receiver).buildProtocol(None),
            lambda: clientFactory.buildProtocol(None))
        self.root = []
        clientFactory.getRootObject().addCallback(self.root.append)
        self.pump.flush()

    def publish(self, policy):
        results = []
        self.root[0].callRemote("publish", policy).addBoth(results.append)
        self.pump.flush()
        return results[0]

    def test_roundTrip(self):
        """A policy crosses a PB link as equal records of the same classes."""
        policy = samplePolicy()
        self.assertEqual(self.publish(policy), 2)
        received = self.receiver.received[0]
        self.assertIsInstance(received, NetworkPolicy)
        self.assertIsNot(received, policy)
        self.assertEqual(received, policy)
        self.assertIsInstance(received.groups[0].rules[2].sourceGroup, GroupRef)

    def test_tamperedRecordRefused(self):
        """A record whose fields were broken after construction is refused on arrival."""
        policy = samplePolicy()
        policy.groups[0].rules[0].toPort = 70000
        failure = self.publish(policy)
        self.assertEqual(self.receiver.received, [])
        self.assertIn("to port", failure.getErrorMessage())
        # The receiving broker logs what it refused.
        self.assertEqual(len(self.flushLoggedErrors(PolicyError)), 1)
