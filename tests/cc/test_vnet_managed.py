"""MANAGED and MANAGED-NOVLAN: allocation, exact commands, exact batches, rollback."""

from twisted.trial import unittest

from eucad.cc.vnet import links
from eucad.cc.vnet.managed import ManagedNetwork
from eucad.cc.vnet.managednovlan import ManagedNoVlanNetwork
from eucad.cc.vnet.ruleset import renderChanges, renderRuleset
from eucad.cc.vnet.settings import settingsFromConf
from eucad.common.config import DEFAULTS
from eucad.common.errors import CloudError
from eucad.common.netpolicy import (
    AddressAssociation, IngressRule, NetworkPolicy, SecurityGroupPolicy)
from eucad.common.process import ProcessFailed, ProcessRunner

from tests.cc.processes import FakeProcessReactor

CONF = dict(DEFAULTS, VNET_MODE="MANAGED", VNET_ENCAP="vxlan", VNET_PUBINTERFACE="pub0",
            VNET_PRIVINTERFACE="priv0", VNET_SUBNET="10.100.0.0", VNET_NETMASK="255.255.255.0",
            VNET_ADDRSPERNET="32", VNET_DNS="10.77.0.1", VNET_MTU="1450",
            VNET_PUBLICIPS="192.0.2.10-11", VNET_CLOUDIP="192.0.2.254",
            VNET_LOCALIP="10.77.0.1")

WEB80 = SecurityGroupPolicy("alice", "web", [IngressRule("tcp", 80, 80, cidr="0.0.0.0/0")])

#: ``ip -o -4 addr show dev pub0`` of a front end: its own address, then an elastic IP.
PUB0 = (b"3: pub0    inet 192.0.2.1/24 brd 192.0.2.255 scope global pub0\\"
        b"       valid_lft forever preferred_lft forever\n")
PUB0_11 = (b"3: pub0    inet 192.0.2.11/32 scope global pub0\\"
           b"       valid_lft forever preferred_lft forever\n")


def settings(**overrides):
    return settingsFromConf(dict(CONF, **overrides))


class _Harness(unittest.TestCase):
    """A mode on a runner whose commands are expected exactly."""

    mode = ManagedNetwork
    conf = {}

    def setUp(self):
        self.reactor = FakeProcessReactor()
        self.network = self.mode(settings(**self.conf), ProcessRunner(self.reactor, netns="fe"))

    def expect(self, *commands, **kwargs):
        return [self.reactor.expect(["ip", "netns", "exec", "fe"] + argv, **kwargs)
                for argv in commands]

    def expectBatch(self):
        """
        The one iptables-restore of the next event; ``checkBatch`` checks its
        stdin against the changes from the rules in force now.
        """
        batch = self.expect(["iptables-restore", "--noflush"])[0]
        batch.before = dict(self.network.firewall.applied)
        return batch

    def checkBatch(self, batch):
        expected, _ = renderChanges(self.network.firewallState(), batch.before)
        self.assertEqual(b"".join(batch.process.written).decode(), expected)

    def settle(self, d):
        results = []
        d.addBoth(results.append)
        for _ in range(40):
            if results:
                break
            self.reactor.settle()
        self.assertEqual(len(results), 1, "the event did not finish")
        return results[0]


class ManagedTests(_Harness):

    def test_lifecycle(self):
        """Two instances of one group on two nodes, a rule, an elastic IP, then both go."""
        net = self.network
        self.expect(*links.tagNetworkUp("vxlan", 1, "priv0", local="10.77.0.1",
                                        peers=["10.77.0.2"], routerCidr="10.100.0.1/27"))
        batch = self.expectBatch()
        first = self.settle(net.allocate("i-00000001", "alice", "web", node="10.77.0.2"))
        self.assertEqual(first, {"macAddress": "d2:0d:0a:64:00:02", "privateIp": "10.100.0.2",
                                 "publicIp": "10.100.0.2", "network": "10.100.0.0/27",
                                 "tag": 1, "owner": "alice", "group": "web",
                                 "node": "10.77.0.2"})
        self.checkBatch(batch)
        self.assertIn("-A alice-web -s 10.100.0.0/27 -j ACCEPT",
                      b"".join(batch.process.written).decode())

        # The second instance only adds a flood peer: no rule changes, no batch.
        self.expect(links.addFloodPeer(1, "10.77.0.3"))
        second = self.settle(net.allocate("i-00000002", "alice", "web", node="10.77.0.3"))
        self.assertEqual((second["privateIp"], second["tag"]), ("10.100.0.3", 1))
        self.assertEqual(net.nodeNetwork(second, "alice", "web"), {
            "owner": "alice", "group": "web", "bridge": "eucabr1", "mtu": 1450,
            "privateIp": "10.100.0.3", "publicIp": "10.100.0.3", "encap": "vxlan", "tag": 1,
            "floodPeers": ["10.77.0.1", "10.77.0.2"]})

        batch = self.expectBatch()
        self.settle(net.updateGroup(WEB80))
        self.checkBatch(batch)
        self.assertEqual(b"".join(batch.process.written).decode(), """\
*filter
:alice-web - [0:0]
-A alice-web -s 10.100.0.0/27 -j ACCEPT
-A alice-web -s 0.0.0.0/0 -p tcp -m tcp --dport 80 -j ACCEPT
COMMIT
""")

        self.expect(links.addPublicAddress("192.0.2.10", "pub0"))
        batch = self.expectBatch()
        self.settle(net.associate("192.0.2.10", "i-00000001"))
        self.checkBatch(batch)
        self.assertEqual(net.allocations["i-00000001"]["publicIp"], "192.0.2.10")
        self.assertIn("-A EUCA_PREROUTING -d 192.0.2.10/32 -j DNAT --to-destination 10.100.0.2",
                      b"".join(batch.process.written).decode())

        # Moving it is one batch and no address change on pub0.
        batch = self.expectBatch()
        self.settle(net.associate("192.0.2.10", "i-00000002"))
        self.checkBatch(batch)
        self.assertEqual([net.allocations[i]["publicIp"] for i in ("i-00000001", "i-00000002")],
                         ["10.100.0.2", "192.0.2.10"])

        self.expect(links.deleteFloodPeer(1, "10.77.0.3"),
                    links.deletePublicAddress("192.0.2.10", "pub0"))
        batch = self.expectBatch()
        self.settle(net.release("i-00000002"))
        self.checkBatch(batch)
        self.assertNotIn("192.0.2.10", b"".join(batch.process.written).decode())

        self.expect(*links.tagNetworkDown("vxlan", 1, "priv0"))
        batch = self.expectBatch()
        self.settle(net.release("i-00000001"))
        self.checkBatch(batch)
        self.assertIn("-X alice-web", b"".join(batch.process.written).decode())
        self.assertEqual((net.allocations, list(net.networks), net.associations, net.publicUp),
                         ({}, [], {}, set()))
        self.reactor.assertAllUsed(self)

    def test_concurrentFirstInstances(self):
        """Two instances of a new group allocated at once: distinct addresses, links and
        rules made once."""
        self.expect(*links.tagNetworkUp("vxlan", 1, "priv0", local="10.77.0.1",
                                        peers=["10.77.0.2"], routerCidr="10.100.0.1/27"))
        batch = self.expectBatch()
        d1 = self.network.allocate("i-00000001", "alice", "web", node="10.77.0.2")
        d2 = self.network.allocate("i-00000002", "alice", "web", node="10.77.0.2")
        a1, a2 = self.settle(d1), self.settle(d2)
        self.assertEqual((a1["privateIp"], a2["privateIp"]), ("10.100.0.2", "10.100.0.3"))
        # The second event finds the rules already in force: no second process.
        self.checkBatch(batch)
        self.reactor.assertAllUsed(self)

    def test_releaseOvertakesAllocate(self):
        """A release issued before the allocation's links were made leaves nothing behind."""
        self.expect(*links.tagNetworkUp("vxlan", 1, "priv0", local="10.77.0.1",
                                        routerCidr="10.100.0.1/27"))
        self.expectBatch()
        self.expect(*links.tagNetworkDown("vxlan", 1, "priv0"))
        allocated = self.network.allocate("i-00000001", "alice", "web")
        released = self.network.release("i-00000001")
        self.settle(released)
        self.assertEqual(self.settle(allocated)["privateIp"], "10.100.0.2")
        self.assertEqual((self.network.allocations, list(self.network.networks)), ({}, []))
        self.reactor.assertAllUsed(self)

    def test_dhcpConfig(self):
        """dhcpd serves each active slice (router .1, MTU) and a host per instance."""
        net = self.network
        self.expect(*links.tagNetworkUp("vxlan", 1, "priv0", local="10.77.0.1",
                                        peers=["10.77.0.2"], routerCidr="10.100.0.1/27"))
        self.expectBatch()
        self.settle(net.allocate("i-00000001", "alice", "web", node="10.77.0.2"))
        self.expect(*links.tagNetworkUp("vxlan", 2, "priv0", local="10.77.0.1",
                                        peers=["10.77.0.2"], routerCidr="10.100.0.33/27"))
        self.expectBatch()
        self.settle(net.allocate("i-00000002", "bob", "default", node="10.77.0.2"))
        self.assertEqual(net.dhcpInterfaces(), ["eucabr1", "eucabr2"])
        self.assertEqual(net.dhcpConfig().render(), """\
# Written by the eucad cluster controller; changes here are overwritten.
ddns-update-style none;
authoritative;
default-lease-time 3600;
max-lease-time 3600;

subnet 10.100.0.0 netmask 255.255.255.224 {
  option subnet-mask 255.255.255.224;
  option broadcast-address 10.100.0.31;
  option routers 10.100.0.1;
  option domain-name-servers 10.77.0.1;
  option interface-mtu 1450;
}

subnet 10.100.0.32 netmask 255.255.255.224 {
  option subnet-mask 255.255.255.224;
  option broadcast-address 10.100.0.63;
  option routers 10.100.0.33;
  option domain-name-servers 10.77.0.1;
  option interface-mtu 1450;
}

host i-00000001 {
  hardware ethernet d2:0d:0a:64:00:02;
  fixed-address 10.100.0.2;
}

host i-00000002 {
  hardware ethernet d2:0d:0a:64:00:22;
  fixed-address 10.100.0.34;
}
""")

    def test_failedLinkLeavesNothing(self):
        """A link command that fails undoes the links and the allocation; the error is passed on."""
        self.expect(links.addVxlan(1, "10.77.0.1", "priv0"), code=2, err=b"RTNETLINK: no\n")
        self.expect(*links.tagNetworkDown("vxlan", 1, "priv0"), code=1)
        self.expectBatch()
        result = self.settle(self.network.allocate("i-00000001", "alice", "web",
                                                   node="10.77.0.2"))
        result.trap(ProcessFailed)
        self.assertEqual((self.network.allocations, list(self.network.networks)), ({}, []))
        self.reactor.assertAllUsed(self)

    def test_failedBatchRollsBackAssociation(self):
        """An iptables batch that fails undoes the association and its address."""
        self.network.adopt("i-00000001", {"macAddress": "d2:0d:0a:64:00:02",
                                          "privateIp": "10.100.0.2", "publicIp": "10.100.0.2",
                                          "network": "10.100.0.0/27", "tag": 1,
                                          "owner": "alice", "group": "web", "node": None})
        self.network.networks.get("alice", "web").up = True
        self.expect(links.addPublicAddress("192.0.2.11", "pub0"))
        self.expect(["iptables-restore", "--noflush"], code=1, err=b"line 9 failed\n")
        self.expect(links.deletePublicAddress("192.0.2.11", "pub0"))
        batch = self.expectBatch()
        result = self.settle(self.network.associate("192.0.2.11", "i-00000001"))
        self.assertIn("line 9 failed", result.getErrorMessage())
        self.checkBatch(batch)
        self.assertEqual(self.network.associations, {})
        self.assertEqual(self.network.allocations["i-00000001"]["publicIp"], "10.100.0.2")
        self.reactor.assertAllUsed(self)

    def test_applyPolicySnapshot(self):
        """A whole policy from the CLC is one batch; a public IP of ours outside
        VNET_PUBLICIPS and another cluster's association are skipped."""
        self.network.adopt("i-00000001", {"macAddress": "d2:0d:0a:64:00:02",
                                          "privateIp": "10.100.0.2", "publicIp": "10.100.0.2",
                                          "network": "10.100.0.0/27", "tag": 1,
                                          "owner": "alice", "group": "web", "node": None})
        self.network.networks.get("alice", "web").up = True
        self.expect(links.addPublicAddress("192.0.2.10", "pub0"))
        batch = self.expectBatch()
        self.settle(self.network.applyPolicy(NetworkPolicy(
            [WEB80], [AddressAssociation("192.0.2.10", "10.100.0.2", "i-00000001"),
                      AddressAssociation("198.51.100.7", "10.100.0.9", "i-0000beef")]),
        ))
        self.assertEqual(self.network.associations, {"192.0.2.10": "i-00000001"})
        self.checkBatch(batch)
        text = b"".join(batch.process.written).decode()
        self.assertIn("--dport 80 -j ACCEPT", text)
        self.assertIn("-j SNAT --to-source 192.0.2.10", text)
        self.assertNotIn("198.51.100.7", text)
        self.reactor.assertAllUsed(self)


class RestartTests(_Harness):

    ADOPTED = {"macAddress": "d2:0d:0a:64:00:02", "privateIp": "10.100.0.2",
               "publicIp": "192.0.2.11", "network": "10.100.0.0/27", "tag": 4,
               "owner": "alice", "group": "web", "node": "10.77.0.3"}

    def test_missingLinksRemadeRulesKeptUntilThePolicy(self):
        """After adopt, setUp remakes the links the front end lacks and the public address,
        flushes no rule, and the first policy from the CLC rewrites eucad's chains in one batch."""
        self.network.adopt("i-00000001", self.ADOPTED)
        self.expect(["ip", "link", "show", "dev", "eucabr4"], code=1,
                    err=b'Device "eucabr4" does not exist.\n')
        self.expect(*links.tagNetworkDown("vxlan", 4, "priv0"), code=1)
        self.expect(*links.tagNetworkUp("vxlan", 4, "priv0", local="10.77.0.1",
                                        peers=["10.77.0.3"], routerCidr="10.100.0.1/27"))
        self.expect(links.showAddresses("pub0"), out=PUB0)
        self.expect(links.addPublicAddress("192.0.2.11", "pub0"))
        self.settle(self.network.setUp())
        self.reactor.assertAllUsed(self)
        batch = self.expect(["iptables-restore", "--noflush"])[0]
        self.settle(self.network.applyPolicy(NetworkPolicy([WEB80], [AddressAssociation(
            "192.0.2.11", "10.100.0.2", "i-00000001")])))
        text = b"".join(batch.process.written).decode()
        self.assertEqual(text, renderRuleset(self.network.firewallState()))
        self.assertIn("--to-destination 10.100.0.2", text)
        self.assertIn("--dport 80 -j ACCEPT", text)
        self.reactor.assertAllUsed(self)
        # The next group takes the next tag, not the adopted one.
        self.assertEqual(self.network.networks.join("bob", "x", "i-00000002")[0].tag, 1)

    def test_failedCheckTakesNoLinkDown(self):
        """A check of the bridge that fails without saying it is missing keeps the links."""
        self.network.adopt("i-00000001", self.ADOPTED)
        self.expect(["ip", "link", "show", "dev", "eucabr4"], code=1,
                    err=b"setting the network namespace \"fe\" failed: Invalid argument\n")
        self.expect(links.addFloodPeer(4, "10.77.0.3"), code=2)
        self.expect(links.showAddresses("pub0"), out=PUB0 + PUB0_11)
        self.settle(self.network.setUp())
        self.reactor.assertAllUsed(self)
        self.assertTrue(self.network.networks.get("alice", "web").up)

    def test_existingLinksKept(self):
        """Links that outlived the CC are kept: only the flood entries are (re)stated, quietly."""
        self.network.adopt("i-00000001", self.ADOPTED)
        self.expect(["ip", "link", "show", "dev", "eucabr4"])
        self.expect(links.addFloodPeer(4, "10.77.0.3"), code=2, err=b"File exists\n")
        self.expect(links.showAddresses("pub0"), out=PUB0 + PUB0_11)
        self.settle(self.network.setUp())
        self.reactor.assertAllUsed(self)
        self.assertFalse(self.network.policyKnown)

    def test_policyDuringTheResumeIsEnforced(self):
        """
        A policy that arrives while the resume still runs its commands (a
        restart on a loaded machine: the CLC reconnects at once) is put in
        force right after the resume, not dropped until the CLC's next change.
        """
        self.network.adopt("i-00000001", self.ADOPTED)
        show = self.expect(["ip", "link", "show", "dev", "eucabr4"], longRunning=True)[0]
        self.expect(links.addFloodPeer(4, "10.77.0.3"), code=2)
        self.expect(links.showAddresses("pub0"), out=PUB0 + PUB0_11)
        batch = self.expect(["iptables-restore", "--noflush"])[0]
        resumed = self.network.setUp()
        self.reactor.settle()
        applied = self.network.applyPolicy(NetworkPolicy([WEB80], [AddressAssociation(
            "192.0.2.11", "10.100.0.2", "i-00000001")]))
        show.process.end(0)
        self.settle(resumed)
        self.settle(applied)
        self.reactor.assertAllUsed(self)
        self.assertTrue(self.network.policyKnown)
        self.assertEqual(b"".join(batch.process.written).decode(),
                         renderRuleset(self.network.firewallState()))

    def resumeWithoutAssociation(self, pub0):
        """Resume over an instance whose record names no public IP; ``pub0`` is that interface's listing."""
        self.network.adopt("i-00000001", dict(self.ADOPTED, publicIp="10.100.0.2"))
        self.expect(["ip", "link", "show", "dev", "eucabr4"])
        self.expect(links.addFloodPeer(4, "10.77.0.3"), code=2)
        self.expect(links.showAddresses("pub0"), out=pub0)
        self.settle(self.network.setUp())
        self.reactor.assertAllUsed(self)

    def test_associationTheStateFileMissedStaysInForce(self):
        """
        Killed after an association was in force but before the state file
        had it: the address is on the public interface and the record names
        none.  The CLC's policy is taken whole, address and DNAT in force
        (adding the address there already failed the policy, and rolling it
        back took the DNAT away: the instance was cut off at its elastic IP).
        """
        self.resumeWithoutAssociation(PUB0 + PUB0_11)
        batch = self.expect(["iptables-restore", "--noflush"])[0]
        result = self.settle(self.network.applyPolicy(NetworkPolicy([WEB80], [
            AddressAssociation("192.0.2.11", "10.100.0.2", "i-00000001")])))
        self.assertIsNone(result)
        self.reactor.assertAllUsed(self)
        text = b"".join(batch.process.written).decode()
        self.assertIn("-A EUCA_PREROUTING -d 192.0.2.11/32 -j DNAT --to-destination 10.100.0.2",
                      text)
        self.assertEqual((self.network.associations, self.network.publicUp),
                         ({"192.0.2.11": "i-00000001"}, {"192.0.2.11"}))

    def test_failedFirstPolicyKeepsTheRulesInForce(self):
        """
        When the first policy after a restart cannot be put in force, the
        rules the run before left stay as they are: rolling back to what this
        run knows (no rule, no association) would cut every instance off.
        """
        self.resumeWithoutAssociation(PUB0)
        self.expect(links.addPublicAddress("192.0.2.11", "pub0"), code=1,
                    err=b"RTNETLINK answers: Operation not permitted\n")
        result = self.settle(self.network.applyPolicy(NetworkPolicy([WEB80], [
            AddressAssociation("192.0.2.11", "10.100.0.2", "i-00000001")])))
        self.assertIn("Operation not permitted", result.getErrorMessage())
        # No iptables-restore ran: the rules in force are the earlier run's.
        self.reactor.assertAllUsed(self)
        self.assertFalse(self.network.policyKnown)
        self.assertIsNone(self.network.firewall.applied)
        # The CLC sends it again: in force this time.
        self.expect(links.addPublicAddress("192.0.2.11", "pub0"))
        batch = self.expect(["iptables-restore", "--noflush"])[0]
        self.assertIsNone(self.settle(self.network.applyPolicy(NetworkPolicy([WEB80], [
            AddressAssociation("192.0.2.11", "10.100.0.2", "i-00000001")]))))
        self.assertEqual(b"".join(batch.process.written).decode(),
                         renderRuleset(self.network.firewallState()))
        self.reactor.assertAllUsed(self)

    def test_addressOfAnEarlierRunNoOneWantsRemoved(self):
        """A public IP of the pool left on the interface that the CLC's policy does not associate goes."""
        self.resumeWithoutAssociation(PUB0 + PUB0_11)
        self.expect(links.deletePublicAddress("192.0.2.11", "pub0"))
        batch = self.expect(["iptables-restore", "--noflush"])[0]
        self.assertIsNone(self.settle(self.network.applyPolicy(NetworkPolicy([WEB80], []))))
        self.reactor.assertAllUsed(self)
        self.assertNotIn("192.0.2.11", b"".join(batch.process.written).decode())
        self.assertEqual(self.network.publicUp, set())

    def test_eventBeforeThePolicyTouchesNoRule(self):
        """A termination before the CLC's policy arrived changes links, not the rules in force."""
        self.network.adopt("i-00000001", self.ADOPTED)
        self.network.adopt("i-00000003", dict(self.ADOPTED, privateIp="10.100.0.3",
                                              publicIp="10.100.0.3",
                                              macAddress="d2:0d:0a:64:00:03"))
        self.expect(["ip", "link", "show", "dev", "eucabr4"])
        self.expect(links.addFloodPeer(4, "10.77.0.3"), code=2)
        self.expect(links.showAddresses("pub0"), out=PUB0 + PUB0_11)
        self.settle(self.network.setUp())
        self.settle(self.network.release("i-00000003"))
        self.reactor.assertAllUsed(self)


class CapacityTests(_Harness):
    """Running out: a clear CloudError and nothing taken, no command run."""

    conf = {"VNET_SUBNET": "10.100.0.0", "VNET_NETMASK": "255.255.255.248",
            "VNET_ADDRSPERNET": "4"}

    def up(self, instanceId, owner, group, tag, router):
        self.expect(*links.tagNetworkUp("vxlan", tag, "priv0", local="10.77.0.1",
                                        routerCidr=router))
        self.expectBatch()
        return self.settle(self.network.allocate(instanceId, owner, group))

    def test_slicesAddressesAndTags(self):
        """Full slice, no slice left, no tag left: each says so; nothing half-made."""
        self.up("i-00000001", "alice", "web", 1, "10.100.0.1/30")
        e = self.assertRaises(CloudError, self.network.allocate, "i-00000002", "alice", "web")
        self.assertEqual(e.code, "InsufficientInstanceCapacity")
        self.assertIn("alice/web's network 10.100.0.0/30 is full", e.message)
        self.up("i-00000003", "bob", "default", 2, "10.100.0.5/30")
        e = self.assertRaises(CloudError, self.network.allocate, "i-00000004", "carol", "x")
        self.assertIn("all 2 slices of 4 addresses in 10.100.0.0/29 are in use", e.message)
        self.assertEqual(sorted(self.network.allocations), ["i-00000001", "i-00000003"])

        tight = ManagedNetwork(settings(), ProcessRunner(self.reactor, netns="fe"))
        tight.networks.tags = range(7, 8)
        self.expect(*links.tagNetworkUp("vxlan", 7, "priv0", local="10.77.0.1",
                                        routerCidr="10.100.0.1/27"))
        self.expectBatch()
        self.settle(tight.allocate("i-00000005", "alice", "web"))
        e = self.assertRaises(CloudError, tight.allocate, "i-00000006", "bob", "default")
        self.assertIn("all 1 tags (7..7) are in use", e.message)
        self.assertEqual(sorted(tight.allocations), ["i-00000005"])
        self.reactor.assertAllUsed(self)

    def test_publicIps(self):
        """freePublicIp names the next free address, then AddressLimitExceeded."""
        self.up("i-00000001", "alice", "web", 1, "10.100.0.1/30")
        self.assertEqual(self.network.freePublicIp(), "192.0.2.10")
        self.expect(links.addPublicAddress("192.0.2.10", "pub0"))
        self.expectBatch()
        self.settle(self.network.associate("192.0.2.10", "i-00000001"))
        self.assertEqual(self.network.freePublicIp(), "192.0.2.11")
        self.network.associations["192.0.2.11"] = "i-00000001"
        e = self.assertRaises(CloudError, self.network.freePublicIp)
        self.assertEqual(e.code, "AddressLimitExceeded")
        self.assertIn("all 2 addresses of VNET_PUBLICIPS", e.message)
        e = self.assertRaises(CloudError, self.network.associate, "192.0.2.10", "i-00000099")
        self.assertEqual(e.code, "InvalidInstanceID.NotFound")
        self.reactor.assertAllUsed(self)


class ManagedVlanTests(_Harness):

    conf = {"VNET_ENCAP": "vlan", "VNET_LOCALIP": ""}

    def test_vlanNetwork(self):
        """VNET_ENCAP=vlan makes PRIV.N from VLAN id 2 and no flood entries."""
        self.expect(*links.tagNetworkUp("vlan", 2, "priv0", routerCidr="10.100.0.1/27"))
        batch = self.expectBatch()
        allocation = self.settle(self.network.allocate("i-00000001", "alice", "web",
                                                       node="10.77.0.2"))
        self.checkBatch(batch)
        self.assertEqual(allocation["tag"], 2)
        self.assertEqual(self.network.nodeNetwork(allocation, "alice", "web")["bridge"],
                         "eucabr2")
        self.expect(*links.tagNetworkDown("vlan", 2, "priv0"))
        self.expectBatch()
        self.settle(self.network.release("i-00000001"))
        self.reactor.assertAllUsed(self)


class NoVlanTests(_Harness):

    mode = ManagedNoVlanNetwork
    conf = {"VNET_MODE": "MANAGED-NOVLAN", "VNET_BRIDGE": "br0"}

    def test_routerAddressesOnOneInterface(self):
        """Each group's router address goes on VNET_PRIVINTERFACE; VMs use VNET_BRIDGE."""
        self.assertEqual(self.network.dhcpInterfaces(), [])
        self.expect(links.addAddress("10.100.0.1/27", "priv0"))
        self.expectBatch()
        allocation = self.settle(self.network.allocate("i-00000001", "alice", "web"))
        self.assertIsNone(allocation["tag"])
        self.assertEqual(self.network.nodeNetwork(allocation, "alice", "web")["bridge"], "br0")
        self.assertEqual(self.network.dhcpInterfaces(), ["priv0"])
        self.expect(links.deleteAddress("10.100.0.1/27", "priv0"))
        batch = self.expectBatch()
        self.settle(self.network.release("i-00000001"))
        self.checkBatch(batch)
        # No slice left: dhcpd would find no subnet on the interface.
        self.assertEqual(self.network.dhcpInterfaces(), [])
        self.reactor.assertAllUsed(self)

    def test_slicesShareOneNetworkInDhcpd(self):
        """Two groups' slices on the one interface are served as one shared-network."""
        for group, router in (("web", "10.100.0.1/27"), ("db", "10.100.0.33/27")):
            self.expect(links.addAddress(router, "priv0"))
            self.expectBatch()
            self.settle(self.network.allocate("i-0000000%d" % len(group), "alice", group))
        text = self.network.dhcpConfig().render()
        self.assertIn("shared-network eucad-novlan {\nsubnet 10.100.0.0 netmask "
                      "255.255.255.224 {", text)
        self.assertEqual(text.count("subnet 10.100.0."), 2)
        self.reactor.assertAllUsed(self)

    ADOPTED = {"macAddress": "d2:0d:0a:64:00:02", "privateIp": "10.100.0.2",
               "publicIp": "192.0.2.11", "network": "10.100.0.0/27", "tag": None,
               "owner": "alice", "group": "web", "node": "10.77.0.3"}

    def test_routerAddressKeptOverARestart(self):
        """
        A CC restarted over running instances keeps the router address that
        is still on the private interface: never taken off (its route would
        go with it and cut the slice off), nor added again.
        """
        self.network.adopt("i-00000001", self.ADOPTED)
        self.expect(links.noRedirects("priv0"))
        self.expect(links.showAddresses("priv0"), out=(
            b"2: priv0    inet 10.77.0.1/24 brd 10.77.0.255 scope global priv0\\"
            b"       valid_lft forever preferred_lft forever\n"
            b"2: priv0    inet 10.100.0.1/27 scope global priv0\\"
            b"       valid_lft forever preferred_lft forever\n"))
        self.expect(links.showAddresses("pub0"), out=PUB0 + PUB0_11)
        self.settle(self.network.setUp())
        self.reactor.assertAllUsed(self)
        self.assertTrue(self.network.networks.get("alice", "web").up)
        self.assertFalse(self.network.policyKnown)

    def test_missingRouterAddressMadeOverARestart(self):
        """A router address the private interface lost is put back at the restart."""
        self.network.adopt("i-00000001", self.ADOPTED)
        self.expect(links.noRedirects("priv0"))
        self.expect(links.showAddresses("priv0"), out=(
            b"2: priv0    inet 10.77.0.1/24 brd 10.77.0.255 scope global priv0\n"))
        self.expect(links.deleteAddress("10.100.0.1/27", "priv0"), code=2)
        self.expect(links.addAddress("10.100.0.1/27", "priv0"))
        self.expect(links.showAddresses("pub0"), out=PUB0 + PUB0_11)
        self.settle(self.network.setUp())
        self.reactor.assertAllUsed(self)

    def test_startSendsNoRedirects(self):
        """At start the front end stops sending ICMP redirects on the shared wire, then starts as MANAGED does."""
        self.expect(links.noRedirects("priv0"))
        self.expect(["iptables-restore"], ["iptables-restore", "--noflush"],
                    ["iptables-restore", "--noflush"])
        self.settle(self.network.setUp())
        self.reactor.assertAllUsed(self)


class AdoptionTests(_Harness):

    def test_allocationOfAnotherModeSkipped(self):
        """A state-file allocation made by STATIC (no group, no slice) is not adopted, and nothing breaks."""
        self.network.adopt("i-00000009", {"macAddress": "d2:0d:00:00:00:09",
                                          "privateIp": "10.77.0.109", "publicIp": "10.77.0.109"})
        self.assertEqual(self.network.allocations, {})
        self.assertEqual(list(self.network.networks), [])
