"""The real ISC dhcpd run by DhcpdProcess inside a network namespace of the test's own.

Root only.  The test makes a namespace with a veth pair inside it (nothing in
the root namespace changes), runs dhcpd on one end, asks for a lease from the
other end with busybox udhcpc, and removes everything afterwards.
"""

import os
import shutil

from twisted.internet import defer
from twisted.trial import unittest

from eucad.common.pids import pidAlive
from eucad.cc.dhcpd import DhcpdError, DhcpdProcess
from eucad.cc.dhcpdconfig import DhcpdConfig, DhcpHost, DhcpSubnet
from eucad.common.process import ProcessRunner

DHCPD = "/usr/sbin/dhcpd"
SERVER_IF, CLIENT_IF = "ccv0", "ccv1"
CLIENT_MAC = "d2:0d:00:00:00:01"


def _skipReason():
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not os.path.exists(DHCPD) or not shutil.which("ip"):
        return "needs %s and ip" % (DHCPD,)
    return None


class BrokenConfig:
    """Text dhcpd -t must reject (the renderer never produces such a file)."""

    def render(self):
        return "subnet 10.99.0.0 netmask {\n"


def hostConfig(*numbers):
    subnet = DhcpSubnet("10.99.0.0", "255.255.255.0", router="10.99.0.1",
                        broadcast="10.99.0.255")
    return DhcpdConfig([subnet], [DhcpHost("i-%08x" % n, "d2:0d:00:00:00:%02x" % n,
                                           "10.99.0.%d" % (n + 9)) for n in numbers],
                       leaseSeconds=600)


class RealDhcpdTests(unittest.TestCase):

    skip = _skipReason()
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        self.ns = "eucadcc%d" % (os.getpid(),)
        self.base = os.path.abspath(self.mktemp())
        self.errorLog = os.path.join(self.base, "httpd-cc_error_log")
        self.host = ProcessRunner(errorLog=self.errorLog)
        self.inside = ProcessRunner(errorLog=self.errorLog, netns=self.ns)
        yield self.host.run(["ip", "netns", "add", self.ns])
        self.addCleanup(self.removeNamespace)
        for argv in (["link", "add", "name", SERVER_IF, "type", "veth", "peer", "name",
                      CLIENT_IF],
                     ["link", "set", CLIENT_IF, "address", CLIENT_MAC],
                     ["addr", "add", "10.99.0.1/24", "dev", SERVER_IF],
                     ["link", "set", SERVER_IF, "up"],
                     ["link", "set", CLIENT_IF, "up"],
                     ["link", "set", "lo", "up"]):
            yield self.host.run(["ip", "-n", self.ns] + argv)
        self.dhcpd = DhcpdProcess(os.path.join(self.base, "dhcp"), [SERVER_IF], self.inside,
                                  daemon=DHCPD, errorLog=self.errorLog)
        self.dhcpd.startService()
        self.addCleanup(self.stopDhcpd)

    def stopDhcpd(self):
        if self.dhcpd.running:
            return self.dhcpd.stopService()

    def removeNamespace(self):
        if os.path.exists("/run/netns/" + self.ns):
            return self.host.run(["ip", "netns", "del", self.ns], check=False)

    def servingPid(self):
        with open(self.dhcpd.pidPath) as f:
            pid = int(f.read().strip())
        self.assertEqual(pid, self.dhcpd.process.pid)
        return pid

    @defer.inlineCallbacks
    def namespacePids(self):
        result = yield self.host.run(["ip", "netns", "pids", self.ns])
        return {int(p) for p in result.out.split()}

    @defer.inlineCallbacks
    def test_dhcpdLifecycle(self):
        """dhcpd starts in the namespace, answers its host, survives a rejected file, restarts, and leaves nothing behind."""
        yield self.dhcpd.apply(hostConfig(1))
        first = self.servingPid()
        self.assertTrue(pidAlive(first))
        self.assertIn(first, (yield self.namespacePids()))

        if shutil.which("busybox"):
            lease = yield self.inside.run(["busybox", "udhcpc", "-i", CLIENT_IF, "-n", "-q",
                                           "-t", "5", "-T", "1", "-s", "/bin/true"], timeout=20)
            self.assertIn(b"lease of 10.99.0.10 obtained", lease.err + lease.out)
            with open(self.errorLog, "rb") as f:
                self.assertIn(b"DHCPACK on 10.99.0.10 to " + CLIENT_MAC.encode(), f.read())

        with self.assertRaises(DhcpdError) as caught:
            yield self.dhcpd.apply(BrokenConfig())
        self.assertIn("rejected", str(caught.exception))
        self.assertEqual(self.servingPid(), first)
        self.assertTrue(pidAlive(first))

        yield self.dhcpd.apply(hostConfig(1, 2))
        second = self.servingPid()
        self.assertNotEqual(second, first)
        self.assertFalse(pidAlive(first))
        with open(self.dhcpd.confPath) as f:
            self.assertIn("fixed-address 10.99.0.11;", f.read())

        yield self.dhcpd.stopService()
        self.assertFalse(pidAlive(second))
        self.assertFalse(os.path.exists(self.dhcpd.pidPath))
        self.assertEqual((yield self.namespacePids()), set())
        yield self.host.run(["ip", "netns", "del", self.ns])
        listing = yield self.host.run(["ip", "netns", "list"])
        self.assertNotIn(self.ns.encode(), listing.out)
        self.assertFalse(os.path.exists("/run/netns/" + self.ns))

    @defer.inlineCallbacks
    def test_slicesSharingOneInterface(self):
        """
        Two subnets on one interface (MANAGED-NOVLAN's slices) served by one
        dhcpd in a shared-network: a client of the second slice gets its
        fixed address and that slice's router.
        """
        if not shutil.which("busybox"):
            raise unittest.SkipTest("needs busybox udhcpc")
        yield self.host.run(["ip", "-n", self.ns, "addr", "add", "10.98.0.33/27",
                             "dev", SERVER_IF])
        slices = [DhcpSubnet("10.99.0.0", "255.255.255.0", router="10.99.0.1"),
                  DhcpSubnet("10.98.0.32", "255.255.255.224", router="10.98.0.33")]
        yield self.dhcpd.apply(DhcpdConfig(
            slices, [DhcpHost("i-00000001", "d2:0d:00:00:00:99", "10.99.0.10"),
                     DhcpHost("i-00000002", CLIENT_MAC, "10.98.0.34")],
            sharedNetwork="eucad-novlan"))
        script = os.path.join(self.base, "lease.sh")
        with open(script, "w") as f:
            f.write('#!/bin/sh\n[ "$1" = bound ] && echo "bound $ip router $router"\nexit 0\n')
        os.chmod(script, 0o700)
        lease = yield self.inside.run(["busybox", "udhcpc", "-i", CLIENT_IF, "-n", "-q",
                                       "-t", "5", "-T", "1", "-s", script], timeout=20)
        self.assertIn(b"bound 10.98.0.34 router 10.98.0.33", lease.out)
