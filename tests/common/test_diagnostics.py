"""``euca_conf --check``: each fault made on purpose, and the one line that names it."""

import os
import shutil
import socket

from twisted.trial import unittest

from eucad.common import diagnostics, euca_conf, trust
from eucad.common.config import EucaConf, Layout
from tests.commandline import run
from tests.common.test_pblink import sharedKeys


def listeningSocket(testcase):
    """A TCP socket listening on loopback (the kernel completes connections to it)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    testcase.addCleanup(server.close)
    return server.getsockname()[1]


def closedPort():
    """A loopback port nothing listens on."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


class CheckTests(unittest.TestCase):

    def setUp(self):
        self.prefix = os.path.abspath(self.mktemp())
        self.layout = Layout(self.prefix)
        shutil.copytree(sharedKeys("main").keys, self.layout.keys)
        self.confPath = self.layout.conf
        self.configure("CLOUD_LISTEN=127.0.0.1", "CC_LISTEN=127.0.0.1",
                       "NC_LISTEN=127.0.0.1", "WALRUS_LISTEN=127.0.0.1",
                       "CLOUD_PORT=%d" % listeningSocket(self),
                       "WALRUS_PORT=%d" % listeningSocket(self),
                       "CC_PORT=%d" % listeningSocket(self),
                       "NC_PORT=%d" % listeningSocket(self),
                       "CLUSTERS=zone1@127.0.0.1:%d" % listeningSocket(self),
                       "NODES=127.0.0.1:%d" % listeningSocket(self),
                       "VNET_MODE=MANAGED-NOVLAN", "VNET_DHCPDAEMON=/bin/true",
                       "VNET_BRIDGE=lo")

    def configure(self, *settings):
        code, _, err = run(euca_conf.main, ["-d", self.prefix] + list(settings)
                           + [self.confPath])
        self.assertEqual(code, 0, err)

    def check(self, component):
        """``(status, lines)`` of ``euca_conf --check component``."""
        code, out, err = run(euca_conf.main, ["--check", component, self.confPath])
        self.assertEqual(err, "")
        return code, out.splitlines()

    def test_healthyComponentsSayOk(self):
        """With daemons answering, keys in place and dhcpd present: one 'ok' line each."""
        for component in ("cloud", "walrus", "cc"):
            self.assertEqual(self.check(component), (0, ["%s: ok" % (component,)]))

    def test_daemonDown(self):
        """A daemon not answering on its port is named with the address dialled."""
        port = closedPort()
        self.configure("CC_PORT=%d" % port)
        code, lines = self.check("cc")
        self.assertEqual(code, 1)
        self.assertEqual(lines, ["cc: daemon down: eucalyptus-cc does not answer on "
                                 "127.0.0.1:%d (connection refused)" % (port,)])

    def test_walrusInTheCloudsProcess(self):
        """Walrus sharing the CLC's port is down when the CLC's port does not answer."""
        port = closedPort()
        self.configure("ENABLE_CLOUD=Y", "ENABLE_WALRUS=Y", "CLOUD_PORT=%d" % port,
                       "WALRUS_PORT=%d" % port)
        code, lines = self.check("walrus")
        self.assertEqual(lines, ["walrus: daemon down: eucalyptus-clc does not answer on "
                                 "127.0.0.1:%d (connection refused)" % (port,)])

    def test_nodeUnreachable(self):
        """A node of NODES that refuses the CC is named, the reachable one is not."""
        good, bad = listeningSocket(self), closedPort()
        self.configure("NODES=127.0.0.1:%d 127.0.0.1:%d" % (good, bad))
        code, lines = self.check("cc")
        self.assertEqual((code, lines), (1, [
            "cc: node unreachable: 127.0.0.1:%d (connection refused)" % (bad,)]))

    def test_clusterUnreachable(self):
        """A cluster of CLUSTERS that refuses the CLC is named."""
        port = closedPort()
        self.configure("CLUSTERS=zone9@127.0.0.1:%d" % (port,))
        self.assertEqual(self.check("cloud"), (1, [
            "cloud: cluster unreachable: zone9 at 127.0.0.1:%d (connection refused)"
            % (port,)]))

    def test_keysMissing(self):
        """A node whose key was never synced says which files are missing."""
        os.unlink(trust.keyPath(self.layout.keys, "node"))
        code, lines = self.check("nc")
        self.assertEqual(code, 1)
        self.assertIn("nc: keys not synced: node-pk.pem missing in %s" % (
            self.layout.keys,), lines)

    def test_keysOfAnotherCloud(self):
        """A cluster certificate and key from another cloud's CA are not synced keys."""
        stranger = sharedKeys("stranger").keys
        for name in ("cluster-cert.pem", "cluster-pk.pem"):
            shutil.copy(os.path.join(stranger, name), self.layout.keys)
        self.assertEqual(self.check("cc"), (1, [
            "cc: keys not synced: cluster-cert.pem is not signed by cacert.pem "
            "(keys of another cloud?)"]))

    def test_keyOfAnotherCertificate(self):
        """A key that does not match its certificate is named."""
        shutil.copy(trust.keyPath(self.layout.keys, "node"),
                    trust.keyPath(self.layout.keys, "cluster"))
        self.assertEqual(self.check("cc"), (1, [
            "cc: keys not synced: cluster-pk.pem does not belong to cluster-cert.pem"]))

    def test_dhcpdMissing(self):
        """A mode that serves DHCP without the dhcpd binary is named."""
        self.configure("VNET_DHCPDAEMON=/nonexistent/dhcpd")
        self.assertEqual(self.check("cc"), (1, [
            "cc: dhcpd missing: VNET_DHCPDAEMON '/nonexistent/dhcpd' is not an "
            "executable, and VNET_MODE=MANAGED-NOVLAN needs it "
            "(apt-get install isc-dhcp-server)"]))

    def test_dhcpdNotNeededInSystemMode(self):
        """SYSTEM mode runs no dhcpd, so a missing one is no fault."""
        self.configure("VNET_MODE=SYSTEM", "VNET_DHCPDAEMON=/nonexistent/dhcpd")
        self.assertEqual(self.check("cc"), (0, ["cc: ok"]))

    def test_bridgeMissing(self):
        """A VNET_BRIDGE that does not exist, or is no bridge, is named."""
        self.configure("VNET_BRIDGE=eucadnobr0")
        self.assertEqual(self.check("nc"), (1, [
            "nc: bridge missing: VNET_BRIDGE eucadnobr0 does not exist on this host"]))
        self.configure("VNET_BRIDGE=lo")
        self.assertEqual(self.check("nc"), (1, [
            "nc: bridge missing: VNET_BRIDGE lo is an interface but not a bridge"]))

    def test_bridgePresent(self):
        """A bridge as Linux lists it (a 'bridge' directory under its interface) passes."""
        sysClassNet = self.mktemp()
        os.makedirs(os.path.join(sysClassNet, "br0", "bridge"))
        conf = EucaConf.load(self.confPath)
        conf.set("VNET_BRIDGE", "br0")
        self.assertEqual(diagnostics.checkBridge(conf, sysClassNet=sysClassNet), [])

    def test_badComponent(self):
        """--check of something that is not a component is refused with one line."""
        code, out, err = run(euca_conf.main, ["--check", "dns", self.confPath])
        self.assertEqual(code, 2)
        self.assertEqual(len(err.splitlines()), 1)
        self.assertIn("--check", err)
