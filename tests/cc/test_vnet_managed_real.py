"""MANAGED mode proven by traffic, in network namespaces this test makes.

The front end's rules and links are made by the real ``ManagedNetwork``
running ``ip``, ``bridge`` and ``iptables-restore`` in the lab's fe
namespace; "VMs" are namespaces on VXLAN group networks across two nodes
(``eucad.lab.vnetlab``).  Nothing runs in the root namespace's network.
"""

import os
import shutil

from twisted.internet import defer, reactor, task, threads
from twisted.trial import unittest

from eucad.cc.dhcpd import DhcpdProcess
from eucad.cc.vnet.managed import ManagedNetwork
from eucad.cc.vnet.managednovlan import ManagedNoVlanNetwork
from eucad.cc.vnet.settings import settingsFromConf
from eucad.common.config import DEFAULTS
from eucad.common.netpolicy import (
    AddressAssociation, GroupRef, IngressRule, NetworkPolicy, SecurityGroupPolicy)
from eucad.common.process import ProcessRunner
from eucad.lab.vnetlab import NODES, VnetLab, getArgv, startVm

from tests.lab.realenv import skipUnlessReal, uniqueName

DHCPD = "/usr/sbin/dhcpd"
#: The admin's iptables-preload: loaded at start, before eucad's own rules.
PRELOAD = "*filter\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n"
WEB80 = [IngressRule("tcp", 80, 80, cidr="0.0.0.0/0")]
#: Failing probes wait this long; passing ones answer in milliseconds.
PROBE_TIMEOUT = 1.0


class _LabCase(unittest.TestCase):

    modeClass = ManagedNetwork
    mode = "MANAGED"

    def setUp(self):
        skipUnlessReal("ip", "bridge", "iptables-restore")
        self.lab = VnetLab(uniqueName("mv"))
        self.addCleanup(self.lab.destroy)
        self.lab.build()
        conf = dict(DEFAULTS, **self.lab.settings(self.mode))
        self.runner = ProcessRunner(netns=self.lab.ns("fe"))
        self.network = self.modeClass(settingsFromConf(conf), self.runner, preload=PRELOAD)
        return self.network.setUp()

    @defer.inlineCallbacks
    def launch(self, name, owner, group, node, configure=True):
        """Allocate like the CC, make the node's links, then start the "VM"."""
        allocation = yield startVm(self.lab, self.network, name, node, owner, group, configure)
        if configure:
            # Its server answers before anything is concluded from its silence.
            self.assertEqual((yield self.get(name, "http://127.0.0.1/", attempts=50)), name)
        return allocation

    def instanceId(self, name):
        return self.lab.vms[name]["instanceId"]

    @defer.inlineCallbacks
    def ping(self, fromNs, address):
        """Whether one echo request from ``fromNs`` to ``address`` is answered."""
        result = yield ProcessRunner(netns=self.lab.ns(fromNs)).run(
            ["busybox", "ping", "-c", "1", "-W", "1", address], check=False, timeout=10)
        return result.code == 0

    @defer.inlineCallbacks
    def get(self, fromNs, url, timeout=PROBE_TIMEOUT, attempts=1):
        """The body at ``url`` fetched from namespace ``fromNs``, or None."""
        for attempt in range(attempts):
            if attempt:
                yield task.deferLater(reactor, 0.1, lambda: None)
            result = yield ProcessRunner().run(getArgv(self.lab, fromNs, url, timeout),
                                               check=False, timeout=timeout + 10)
            if result.code == 0:
                return result.out.decode()
        return None


class ManagedLabTests(_LabCase):

    @defer.inlineCallbacks
    def test_groupsNodesAndMetadata(self):
        """Same group reaches across nodes, other groups do not; metadata answers."""
        yield self.launch("a1", "alice", "web", "n1")
        yield self.launch("a2", "alice", "web", "n2")
        yield self.launch("b1", "bob", "default", "n1")
        a1, a2, b1 = (self.lab.vms[n]["ip"] for n in ("a1", "a2", "b1"))
        self.assertEqual(self.lab.vms["a1"]["tag"], self.lab.vms["a2"]["tag"])
        self.assertNotEqual(self.lab.vms["a1"]["tag"], self.lab.vms["b1"]["tag"])
        self.assertEqual((yield self.get("a1", "http://%s/" % (a2,), attempts=3)), "a2")
        self.assertEqual((yield self.get("a2", "http://%s/" % (a1,), attempts=3)), "a1")
        self.assertIsNone((yield self.get("a1", "http://%s/" % (b1,))))
        self.assertIsNone((yield self.get("b1", "http://%s/" % (a1,))))
        self.assertEqual((yield self.get("b1", "http://169.254.169.254/latest/")), "metadata")

        # bob lets alice's web group in: a source-group rule.
        yield self.network.updateGroup(SecurityGroupPolicy("bob", "default", [
            IngressRule("tcp", 80, 80, sourceGroup=GroupRef("alice", "web"))]))
        self.assertEqual((yield self.get("a1", "http://%s/" % (b1,))), "b1")
        self.assertIsNone((yield self.get("b1", "http://%s/" % (a1,))))

    @defer.inlineCallbacks
    def test_authorizeRevokeAndElasticIp(self):
        """Public traffic: closed, authorized, revoked; an elastic IP moves, answers ping
        once ICMP echo is authorized, and goes."""
        yield self.launch("a1", "alice", "web", "n1")
        yield self.launch("a2", "alice", "web", "n2")
        yield self.network.associate("192.0.2.10", self.instanceId("a1"))
        url = "http://192.0.2.10/"
        self.assertIsNone((yield self.get("pub", url)))
        yield self.network.updateGroup(SecurityGroupPolicy("alice", "web", WEB80))
        self.assertEqual((yield self.get("pub", url)), "a1")
        yield self.network.updateGroup(SecurityGroupPolicy("alice", "web", []))
        self.assertIsNone((yield self.get("pub", url)))

        yield self.network.updateGroup(SecurityGroupPolicy("alice", "web", WEB80))
        yield self.network.associate("192.0.2.10", self.instanceId("a2"))
        self.assertEqual((yield self.get("pub", url)), "a2")
        # The front end itself reaches it too (DNAT in OUTPUT).
        self.assertEqual((yield self.get("fe", url)), "a2")
        if shutil.which("busybox"):
            self.assertFalse((yield self.ping("pub", "192.0.2.10")))
            yield self.network.updateGroup(SecurityGroupPolicy(
                "alice", "web", WEB80 + [IngressRule("icmp", 8, -1, cidr="192.0.2.0/24")]))
            self.assertTrue((yield self.ping("pub", "192.0.2.10")))
        yield self.network.disassociate("192.0.2.10")
        self.assertIsNone((yield self.get("pub", url)))

    @defer.inlineCallbacks
    def test_cleanup(self):
        """Releasing every instance removes exactly the links, chains and addresses made."""
        before = {name: self.lab.linkNames(name) for name in ("fe", "n1", "n2")}
        rulesBefore = self.lab.inNs("fe", ["iptables-save"]).stdout
        yield self.launch("a1", "alice", "web", "n1")
        yield self.launch("b1", "bob", "default", "n2")
        yield self.network.associate("192.0.2.10", self.instanceId("a1"))
        self.assertEqual(sorted(set(self.lab.linkNames("fe")) - set(before["fe"])),
                         ["eucabr1", "eucabr2", "vx1", "vx2"])
        self.assertEqual(sorted(set(self.lab.linkNames("n1")) - set(before["n1"])),
                         ["eucabr1", "t-a1", "vx1"])
        saved = self.lab.inNs("fe", ["iptables-save"]).stdout
        self.assertIn(":alice-web", saved)
        for line in (":FORWARD DROP", "-A INPUT -i lo -j ACCEPT", "-A FORWARD -j EUCA_FORWARD",
                     "-A PREROUTING -j EUCA_PREROUTING"):
            self.assertIn(line, saved)
        for name in ("a1", "b1"):
            vm = self.lab.vms[name]
            yield self.network.release(vm["instanceId"])
            # The node's part after its domain is gone (here: the VM's namespace).
            self.lab.removeVm(name)
            yield self.lab.nodeLinks[vm["node"]].detach(vm["instanceId"], {"tag": vm["tag"]})
        for name in ("fe", "n1", "n2"):
            self.assertEqual(self.lab.linkNames(name), before[name], name)
        self.assertEqual(_rules(self.lab.inNs("fe", ["iptables-save"]).stdout),
                         _rules(rulesBefore))
        addresses = self.lab.inNs("fe", ["ip", "-o", "addr", "show", "dev", "pub0"]).stdout
        self.assertNotIn("192.0.2.10", addresses)


    @defer.inlineCallbacks
    def test_restartRebuildsFromState(self):
        """A new CC that adopts the state keeps the rules in force until the CLC's policy
        arrives, then serves the same traffic with the same links."""
        yield self.launch("a1", "alice", "web", "n1")
        yield self.launch("a2", "alice", "web", "n2")
        yield self.network.updateGroup(SecurityGroupPolicy("alice", "web", WEB80))
        yield self.network.associate("192.0.2.10", self.instanceId("a1"))
        self.assertEqual((yield self.get("pub", "http://192.0.2.10/")), "a1")
        linksBefore = self.lab.linkNames("fe")

        restarted = ManagedNetwork(self.network.settings, ProcessRunner(netns=self.lab.ns("fe")))
        for instanceId, allocation in self.network.allocations.items():
            restarted.adopt(instanceId, allocation)
        self.network = restarted
        yield restarted.setUp()
        # Nothing was flushed: before the CLC's policy arrives the rules in force serve.
        self.assertEqual((yield self.get("pub", "http://192.0.2.10/")), "a1")
        yield restarted.applyPolicy(NetworkPolicy(
            [SecurityGroupPolicy("alice", "web", WEB80)],
            [AddressAssociation("192.0.2.10", self.lab.vms["a1"]["ip"], self.instanceId("a1"))]))
        self.assertEqual(self.lab.linkNames("fe"), linksBefore)
        self.assertEqual((yield self.get("pub", "http://192.0.2.10/")), "a1")
        self.assertEqual((yield self.get("a1", "http://%s/" % (self.lab.vms["a2"]["ip"],),
                                         attempts=3)), "a2")


    @defer.inlineCallbacks
    def test_dhcpServesEverySlice(self):
        """The CC's dhcpd, fed the mode's config, answers each group's VM over VXLAN
        with its fixed address, its slice's router and the MTU."""
        if not os.path.exists(DHCPD) or not shutil.which("busybox"):
            raise unittest.SkipTest("needs %s and busybox" % (DHCPD,))
        a1 = yield self.launch("a1", "alice", "web", "n1", configure=False)
        b1 = yield self.launch("b1", "bob", "default", "n2", configure=False)
        base = os.path.abspath(self.mktemp())
        dhcpd = DhcpdProcess(os.path.join(base, "dhcp"), self.network.dhcpInterfaces(),
                             self.runner, daemon=DHCPD,
                             errorLog=os.path.join(base, "httpd-cc_error_log"))
        dhcpd.startService()
        self.addCleanup(lambda: dhcpd.stopService() if dhcpd.running else None)
        yield dhcpd.apply(self.network.dhcpConfig(), self.network.dhcpInterfaces())
        report = os.path.join(base, "leases")
        script = os.path.join(base, "udhcpc-script")
        with open(script, "w") as f:
            f.write('#!/bin/sh\n[ "$1" = bound ] && echo "$ip $subnet $router $mtu" >> %s\n'
                    'exit 0\n' % (report,))
        os.chmod(script, 0o700)
        for name in ("a1", "b1"):
            result = yield threads.deferToThread(self.lab.askDhcp, name, script)
            self.assertEqual(result.returncode, 0, result.stderr)
        with open(report) as f:
            self.assertEqual(f.read().splitlines(), [
                "%s 255.255.255.224 10.100.0.1 1450" % (a1["privateIp"],),
                "%s 255.255.255.224 10.100.0.33 1450" % (b1["privateIp"],)])
        yield dhcpd.stopService()


def _rules(save):
    """iptables-save output without its comment and counter noise."""
    return [line for line in save.splitlines() if not line.startswith("#")]


class ManagedNoVlanLabTests(_LabCase):

    modeClass = ManagedNoVlanNetwork
    mode = "MANAGED-NOVLAN"

    def setUp(self):
        d = _LabCase.setUp(self)
        if d is None:
            return None
        # The nodes' VNET_BRIDGE: one flat bridge holding their uplink.
        for node in NODES:
            for argv in (["ip", "link", "add", "br0", "type", "bridge"],
                         ["ip", "link", "set", "dev", "eth0", "master", "br0"],
                         ["ip", "link", "set", "dev", "br0", "up"]):
                self.lab.inNs(node, argv)
        return d

    @defer.inlineCallbacks
    def test_groupsApartOnOneBridge(self):
        """One bridge: same group reaches across nodes, another group only when allowed."""
        yield self.launch("a1", "alice", "web", "n1")
        yield self.launch("a2", "alice", "web", "n2")
        yield self.launch("b1", "bob", "default", "n2")
        a2, b1 = self.lab.vms["a2"]["ip"], self.lab.vms["b1"]["ip"]
        self.assertEqual((yield self.get("a1", "http://%s/" % (a2,), attempts=3)), "a2")
        self.assertIsNone((yield self.get("a1", "http://%s/" % (b1,))))
        yield self.network.associate("192.0.2.11", self.instanceId("b1"))
        self.assertIsNone((yield self.get("pub", "http://192.0.2.11/")))
        yield self.network.updateGroup(SecurityGroupPolicy("bob", "default", WEB80))
        self.assertEqual((yield self.get("pub", "http://192.0.2.11/")), "b1")
        self.assertEqual((yield self.get("a1", "http://%s/" % (b1,))), "b1")
