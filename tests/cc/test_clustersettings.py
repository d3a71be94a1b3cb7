"""The CC puts the cloud's DNS servers (ClusterSettings from the CLC) into dhcpd.

The unit tests watch the configuration the cluster hands its dhcpd; the real
test runs ISC dhcpd through ``DhcpdProcess`` in a network namespace of its
own (a veth pair inside it, nothing in the root namespace changes), launches
an instance on a fake node so that STATIC mode serves its MAC, and asks for a
lease with busybox udhcpc, whose script writes down the name servers it got
(what a guest puts into resolv.conf).
"""

import os
import shutil

from twisted.internet import defer, reactor
from twisted.trial import unittest

from eucad.cc.cluster import ClusterController
from eucad.cc.dhcpd import DhcpdError, DhcpdProcess
from eucad.cc.dhcpdconfig import DhcpdConfig, DhcpSubnet
from eucad.cc.dhcprefresh import DhcpRefresh
from eucad.cc.nodes import NodeRegistry
from eucad.cc.placement import Placement
from eucad.cc.state import StateFile
from eucad.cc.vnet.static import StaticNetwork, parseMacMap
from eucad.common.clustersettings import ClusterSettings
from eucad.common.errors import CloudError
from eucad.common.process import ProcessRunner
from eucad.testing.fakenode import FakeNode
from tests.cc.helpers import runSpec
from tests.cc.test_cluster import ClusterTestsMixin, synchronously
from tests.cc.test_dhcpd_real import CLIENT_IF, CLIENT_MAC, DHCPD, SERVER_IF, _skipReason


def nameServerLines(text):
    return [line.strip() for line in text.splitlines()
            if "domain-name-servers" in line]


class ClusterSettingsTests(ClusterTestsMixin, unittest.TestCase):

    def makeNetwork(self):
        subnet = DhcpSubnet("10.77.0.0", "255.255.255.0", router="10.77.0.1",
                            dns="10.77.0.1")
        return StaticNetwork("br0", subnet, parseMacMap(
            "d2:0d:00:00:01:0a=10.77.0.10"), "priv0")

    def test_dnsServersReplaceVnetDns(self):
        """The cloud's servers replace VNET_DNS in dhcpd's file, host entries kept; empty brings VNET_DNS back."""
        self.launch(runSpec(1))
        self.assertEqual(nameServerLines(self.dhcpd.applied[-1][0]),
                         ["option domain-name-servers 10.77.0.1;"])
        self.successResultOf(self.cluster.applyClusterSettings(
            ClusterSettings(dnsServers=("192.0.2.53", "198.51.100.7"))))
        self.assertEqual(nameServerLines(self.dhcpd.applied[-1][0]),
                         ["option domain-name-servers 192.0.2.53, 198.51.100.7;"])
        self.assertEqual(self.dhcpd.hosts(), ["i-00000001"])
        # Later refreshes (a termination) keep them.
        self.successResultOf(self.cluster.terminateInstances(["i-00000001"]))
        self.assertEqual(nameServerLines(self.dhcpd.applied[-1][0]),
                         ["option domain-name-servers 192.0.2.53, 198.51.100.7;"])
        self.successResultOf(self.cluster.applyClusterSettings(ClusterSettings()))
        self.assertEqual(nameServerLines(self.dhcpd.applied[-1][0]),
                         ["option domain-name-servers 10.77.0.1;"])

    def test_refusedByDhcpdIsAnError(self):
        """When dhcpd will not take the file the CLC hears an InternalError (and pushes again later)."""
        self.dhcpd.failure = DhcpdError("dhcpd -t rejected the configuration")
        failure = self.failureResultOf(self.cluster.applyClusterSettings(
            ClusterSettings(dnsServers=("192.0.2.53",))), CloudError)
        self.assertEqual(failure.value.code, "InternalError")
        self.assertIn("rejected", failure.value.message)

    def test_onlyClusterSettings(self):
        """Anything but a ClusterSettings is refused with InvalidParameterValue."""
        failure = self.failureResultOf(self.cluster.applyClusterSettings(
            {"dnsServers": ["192.0.2.53"]}), CloudError)
        self.assertEqual(failure.value.code, "InvalidParameterValue")


class SharedSlicesNetwork:
    """A mode serving two slices on one interface, as MANAGED-NOVLAN does."""

    usesDhcp = True

    def dhcpConfig(self):
        return DhcpdConfig([
            DhcpSubnet("10.78.0.0", "255.255.255.240", router="10.78.0.1", dns="10.78.0.1"),
            DhcpSubnet("10.78.0.16", "255.255.255.240", router="10.78.0.17", dns="10.78.0.1"),
        ], sharedNetwork="eucad")

    def dhcpInterfaces(self):
        return ["priv0"]


class DnsOverSharedNetworkTests(unittest.TestCase):

    def test_sharedNetworkKept(self):
        """The cloud's name servers replace VNET_DNS in every slice, still declared in one shared-network."""
        refresh = DhcpRefresh(SharedSlicesNetwork())
        refresh.setDnsServers(["192.0.2.53"])
        text = refresh.config().render()
        self.assertIn("shared-network eucad {", text)
        self.assertEqual(nameServerLines(text),
                         ["option domain-name-servers 192.0.2.53;"] * 2)


UDHCPC_SCRIPT = """#!/bin/sh
# What udhcpc hands a guest's network script: the lease's name servers.
[ "$1" = bound ] && echo "$dns" > "%s"
exit 0
"""


class RealDhcpdDnsTests(unittest.TestCase):

    skip = _skipReason() or (None if shutil.which("busybox") else "needs busybox udhcpc")
    timeout = 90

    @defer.inlineCallbacks
    def setUp(self):
        self.ns = "eucaddns%d" % (os.getpid(),)
        self.base = os.path.abspath(self.mktemp())
        os.makedirs(self.base)
        errorLog = os.path.join(self.base, "cc-error.log")
        self.host = ProcessRunner(errorLog=errorLog)
        self.inside = ProcessRunner(errorLog=errorLog, netns=self.ns)
        yield self.host.run(["ip", "netns", "add", self.ns])
        self.addCleanup(self.host.run, ["ip", "netns", "del", self.ns], check=False)
        for argv in (["link", "add", "name", SERVER_IF, "type", "veth", "peer", "name",
                      CLIENT_IF],
                     ["link", "set", CLIENT_IF, "address", CLIENT_MAC],
                     ["addr", "add", "10.99.0.1/24", "dev", SERVER_IF],
                     ["link", "set", SERVER_IF, "up"],
                     ["link", "set", CLIENT_IF, "up"],
                     ["link", "set", "lo", "up"]):
            yield self.host.run(["ip", "-n", self.ns] + argv)
        self.dhcpd = DhcpdProcess(os.path.join(self.base, "dhcp"), [SERVER_IF], self.inside,
                                  daemon=DHCPD, errorLog=errorLog)
        self.dhcpd.startService()
        self.addCleanup(lambda: self.dhcpd.running and self.dhcpd.stopService())
        subnet = DhcpSubnet("10.99.0.0", "255.255.255.0", router="10.99.0.1",
                            dns="10.99.0.1")
        network = StaticNetwork("br0", subnet, parseMacMap("%s=10.99.0.10" % (CLIENT_MAC,)),
                                SERVER_IF)
        self.node = FakeNode(cpu=4, ram=4096, disk=100, clock=reactor)
        self.registry = NodeRegistry([("10.0.0.2", 8775, self.node)], interval=60,
                                     clock=reactor)
        self.cluster = ClusterController(
            self.registry, network, Placement(self.registry),
            StateFile(os.path.join(self.base, "state.json"), runInThread=synchronously),
            dhcpd=self.dhcpd, clock=reactor)
        self.registry.startService()
        self.addCleanup(self.registry.stopService)
        self.cluster.startService()
        self.addCleanup(self.cluster.stopService)
        yield self.cluster.ready
        yield self.registry.poll()
        self.script = os.path.join(self.base, "udhcpc-script")
        self.leaseDns = os.path.join(self.base, "lease-dns")
        with open(self.script, "w") as f:
            f.write(UDHCPC_SCRIPT % (self.leaseDns,))
        os.chmod(self.script, 0o700)

    @defer.inlineCallbacks
    def leaseNameServers(self):
        """The name servers of a fresh lease, as the client's script got them."""
        if os.path.exists(self.leaseDns):
            os.remove(self.leaseDns)
        result = yield self.inside.run(["busybox", "udhcpc", "-i", CLIENT_IF, "-n", "-q",
                                        "-t", "5", "-T", "1", "-s", self.script], timeout=30)
        self.assertIn(b"lease of 10.99.0.10 obtained", result.err + result.out)
        with open(self.leaseDns) as f:
            return f.read().split()

    @defer.inlineCallbacks
    def test_leaseCarriesTheCloudsNameServers(self):
        """A real lease carries VNET_DNS, then the servers the CLC sent, then VNET_DNS again once they are cleared."""
        yield self.cluster.runInstances([runSpec(1)])
        self.assertEqual((yield self.leaseNameServers()), ["10.99.0.1"])
        yield self.cluster.applyClusterSettings(
            ClusterSettings(dnsServers=("192.0.2.53", "198.51.100.7")))
        with open(self.dhcpd.confPath) as f:
            self.assertIn("option domain-name-servers 192.0.2.53, 198.51.100.7;", f.read())
        self.assertEqual((yield self.leaseNameServers()), ["192.0.2.53", "198.51.100.7"])
        yield self.cluster.applyClusterSettings(ClusterSettings())
        self.assertEqual((yield self.leaseNameServers()), ["10.99.0.1"])
