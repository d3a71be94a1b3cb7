"""Exact iptables-restore input of the MANAGED modes (ruleset and firewall)."""

from twisted.trial import unittest

from eucad.cc.vnet.firewall import Firewall
from eucad.cc.vnet.ruleset import (
    FirewallState, GroupRules, groupChain, renderHooks, renderRuleset)
from eucad.common.netpolicy import GroupRef, IngressRule
from eucad.common.process import ProcessRunner

from tests.cc.processes import FakeProcessReactor

WEB_RULES = [IngressRule("tcp", 80, 80, cidr="0.0.0.0/0"),
             IngressRule("tcp", 8000, 8080, cidr="192.0.2.0/24"),
             IngressRule("udp", 53, 53, cidr="10.0.0.0/8"),
             IngressRule("icmp", -1, -1, cidr="0.0.0.0/0"),
             IngressRule("icmp", 8, -1, cidr="198.51.100.0/24"),
             IngressRule("icmp", 3, 4, cidr="198.51.100.0/24"),
             IngressRule("-1", sourceGroup=GroupRef("bob", "default")),
             IngressRule("tcp", 22, 22, sourceGroup=GroupRef("carol", "idle"))]


def sampleState():
    return FirewallState(
        "10.100.0.0/16", "pub0", metadata=("192.0.2.254", 8773),
        groups=[GroupRules("bob", "default", "10.100.0.32/27"),
                GroupRules("alice", "web", "10.100.0.0/27", WEB_RULES)],
        associations=[("192.0.2.11", "10.100.0.34"), ("192.0.2.10", "10.100.0.2")])


EXPECTED = """\
*filter
:EUCA_FORWARD - [0:0]
:alice-web - [0:0]
:bob-default - [0:0]
:alice-old - [0:0]
-A EUCA_FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A EUCA_FORWARD -s 10.100.0.0/16 ! -d 10.100.0.0/16 -j ACCEPT
-A EUCA_FORWARD -d 10.100.0.0/27 -j alice-web
-A EUCA_FORWARD -d 10.100.0.32/27 -j bob-default
-A alice-web -s 10.100.0.0/27 -j ACCEPT
-A alice-web -s 0.0.0.0/0 -p tcp -m tcp --dport 80 -j ACCEPT
-A alice-web -s 192.0.2.0/24 -p tcp -m tcp --dport 8000:8080 -j ACCEPT
-A alice-web -s 10.0.0.0/8 -p udp -m udp --dport 53 -j ACCEPT
-A alice-web -s 0.0.0.0/0 -p icmp -j ACCEPT
-A alice-web -s 198.51.100.0/24 -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A alice-web -s 198.51.100.0/24 -p icmp -m icmp --icmp-type 3/4 -j ACCEPT
-A alice-web -s 10.100.0.32/27 -j ACCEPT
-A bob-default -s 10.100.0.32/27 -j ACCEPT
-X alice-old
COMMIT
*nat
:EUCA_PREROUTING - [0:0]
:EUCA_OUTPUT - [0:0]
:EUCA_POSTROUTING - [0:0]
-A EUCA_PREROUTING -s 10.100.0.0/16 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 192.0.2.254:8773
-A EUCA_PREROUTING -d 192.0.2.10/32 -j DNAT --to-destination 10.100.0.2
-A EUCA_PREROUTING -d 192.0.2.11/32 -j DNAT --to-destination 10.100.0.34
-A EUCA_OUTPUT -d 192.0.2.10/32 -j DNAT --to-destination 10.100.0.2
-A EUCA_OUTPUT -d 192.0.2.11/32 -j DNAT --to-destination 10.100.0.34
-A EUCA_POSTROUTING -s 10.100.0.2/32 -o pub0 -j SNAT --to-source 192.0.2.10
-A EUCA_POSTROUTING -s 10.100.0.34/32 -o pub0 -j SNAT --to-source 192.0.2.11
-A EUCA_POSTROUTING -s 10.100.0.0/16 -o pub0 -j MASQUERADE
COMMIT
"""


class ChainNameTests(unittest.TestCase):

    def test_plainAndDigest(self):
        """Plain names when safe; a digest for dashes in owners, odd characters, length."""
        self.assertEqual(groupChain("alice", "web-tier"), "alice-web-tier")
        for owner, name in [("a-b", "c"), ("alice", "my group"), ("alice", "x" * 30),
                            ("alice", "-j ACCEPT")]:
            chain = groupChain(owner, name)
            self.assertTrue(chain.startswith("g_") and len(chain) == 28, chain)
        self.assertNotEqual(groupChain("a-b", "c"), groupChain("a", "b-c"))


class RenderTests(unittest.TestCase):

    def test_wholeState(self):
        """The full ruleset for two groups, every rule form, two addresses, a stale chain."""
        self.maxDiff = None
        self.assertEqual(renderRuleset(sampleState(), staleChains={"alice-old", "alice-web"}),
                         EXPECTED)

    def test_emptyState(self):
        """No groups: established and outbound traffic, metadata off, masquerade only."""
        self.assertEqual(renderRuleset(FirewallState("10.100.0.0/16", "pub0")), """\
*filter
:EUCA_FORWARD - [0:0]
-A EUCA_FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A EUCA_FORWARD -s 10.100.0.0/16 ! -d 10.100.0.0/16 -j ACCEPT
COMMIT
*nat
:EUCA_PREROUTING - [0:0]
:EUCA_OUTPUT - [0:0]
:EUCA_POSTROUTING - [0:0]
-A EUCA_POSTROUTING -s 10.100.0.0/16 -o pub0 -j MASQUERADE
COMMIT
""")

    def test_hooks(self):
        """The start batch: FORWARD policy DROP and one jump from each built-in chain."""
        self.assertEqual(renderHooks(), """\
*filter
:FORWARD DROP [0:0]
:EUCA_FORWARD - [0:0]
-A FORWARD -j EUCA_FORWARD
COMMIT
*nat
:EUCA_PREROUTING - [0:0]
:EUCA_OUTPUT - [0:0]
:EUCA_POSTROUTING - [0:0]
-A PREROUTING -j EUCA_PREROUTING
-A OUTPUT -j EUCA_OUTPUT
-A POSTROUTING -j EUCA_POSTROUTING
COMMIT
""")


class FirewallTests(unittest.TestCase):

    def setUp(self):
        self.reactor = FakeProcessReactor()
        self.firewall = Firewall(ProcessRunner(self.reactor, netns="fe"),
                                 preload="*filter\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n")

    def restore(self, *flags):
        return self.reactor.expect(["ip", "netns", "exec", "fe", "iptables-restore"] +
                                   list(flags))

    def test_startThenOneBatchPerEvent(self):
        """Start: flush+preload, hooks, state; each later event is one --noflush batch
        of the chains that changed."""
        state = sampleState()
        flush = self.restore()
        hooks = self.restore("--noflush")
        first = self.restore("--noflush")
        done = []
        self.firewall.start(state).addCallback(done.append)
        for _ in range(5):
            self.reactor.settle()
        self.assertEqual(len(done), 1)
        self.assertEqual(b"".join(flush.process.written),
                         b"*filter\nCOMMIT\n*nat\nCOMMIT\n*filter\n-A INPUT -i lo -j ACCEPT\n"
                         b"COMMIT\n")
        self.assertEqual(b"".join(hooks.process.written), renderHooks().encode())
        self.assertEqual(b"".join(first.process.written), renderRuleset(state).encode())
        self.assertEqual(self.firewall.chains, {"alice-web", "bob-default"})

        # bob's group, the metadata target and the addresses go: only the chains
        # that changed are rewritten and bob's is deleted.  alice's changes too:
        # its source-group rule for bob's network has no addresses left.
        smaller = FirewallState("10.100.0.0/16", "pub0", groups=state.groups[:1])
        second = self.restore("--noflush")
        self.firewall.apply(smaller)
        self.reactor.settle()
        self.assertEqual(b"".join(second.process.written).decode(), """\
*filter
:EUCA_FORWARD - [0:0]
:alice-web - [0:0]
:bob-default - [0:0]
-A EUCA_FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A EUCA_FORWARD -s 10.100.0.0/16 ! -d 10.100.0.0/16 -j ACCEPT
-A EUCA_FORWARD -d 10.100.0.0/27 -j alice-web
-A alice-web -s 10.100.0.0/27 -j ACCEPT
-A alice-web -s 0.0.0.0/0 -p tcp -m tcp --dport 80 -j ACCEPT
-A alice-web -s 192.0.2.0/24 -p tcp -m tcp --dport 8000:8080 -j ACCEPT
-A alice-web -s 10.0.0.0/8 -p udp -m udp --dport 53 -j ACCEPT
-A alice-web -s 0.0.0.0/0 -p icmp -j ACCEPT
-A alice-web -s 198.51.100.0/24 -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A alice-web -s 198.51.100.0/24 -p icmp -m icmp --icmp-type 3/4 -j ACCEPT
-X bob-default
COMMIT
*nat
:EUCA_PREROUTING - [0:0]
:EUCA_OUTPUT - [0:0]
:EUCA_POSTROUTING - [0:0]
-A EUCA_POSTROUTING -s 10.100.0.0/16 -o pub0 -j MASQUERADE
COMMIT
""")
        self.assertEqual(self.firewall.chains, {"alice-web"})

        # Nothing changed: no process at all (assertAllUsed below would see one).
        self.firewall.apply(smaller)
        self.reactor.settle()

        # A full resynchronisation rewrites every chain.
        third = self.restore("--noflush")
        self.firewall.apply(smaller, full=True)
        self.reactor.settle()
        self.assertEqual(b"".join(third.process.written), renderRuleset(smaller).encode())
        self.reactor.assertAllUsed(self)

    def test_failureKeepsChains(self):
        """A refused batch fails the event and leaves the remembered chains alone."""
        self.firewall.applied = {("filter", "alice-web"): ("-A alice-web -j ACCEPT",)}
        self.reactor.expect(["ip", "netns", "exec", "fe", "iptables-restore", "--noflush"],
                            code=2, err=b"iptables-restore: line 3 failed\n")
        failures = []
        self.firewall.apply(FirewallState("10.100.0.0/16", "pub0")).addErrback(failures.append)
        self.reactor.settle()
        self.assertIn("line 3 failed", failures[0].getErrorMessage())
        self.assertEqual(self.firewall.chains, {"alice-web"})
