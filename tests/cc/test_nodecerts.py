"""The verbose listing's certs[cc=...,nc=...] over real mutual-TLS links.

A CC dials a node whose certificate is not from the cloud's CA, and a node
that does not accept the CC's certificate; each refusal must show as
``false`` on the side whose certificate did not check out.
"""

import os

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from eucad.cc.nodes import NodeRegistry
from eucad.common import certstatus, pblink, trust
from eucad.common.links import NodeLink, NodeRoot
from eucad.testing.fakenode import FakeNode
from tests.common.test_pblink import sharedKeys

#: Bounded wait for a refused handshake to end the connection.
WAIT_STEPS = 100


def credentials(role, certFrom, caFrom):
    """``role``'s certificate from one key set, trusting another's CA."""
    keys = certFrom.keys
    return trust.Credentials(role, trust.loadCert(trust.certPath(keys, role)),
                             trust.loadKey(trust.keyPath(keys, role)),
                             trust.loadCert(os.path.join(caFrom.keys, trust.CA_CERT)))


class NodeCertificateTests(unittest.TestCase):

    def setUp(self):
        self.ours = sharedKeys("main")
        self.stranger = sharedKeys("stranger")

    def certs(self, entry):
        """(cc, nc) as the entry's NodeStatus reports them."""
        described = entry.describe()
        return (described.ccCertOk, described.ncCertOk)

    def serve(self, nodeCredentials):
        server = pblink.LinkServer(NodeRoot(FakeNode()), 0, "127.0.0.1",
                                   nodeCredentials.serverOptions(acceptRole="cluster"))
        server.startService()
        self.addCleanup(server.stopService)
        return server.listeningPort.getHost().port

    @defer.inlineCallbacks
    def pollThrough(self, clusterCredentials, port):
        """Dial the node, wait until the link broke, poll once; the entry."""
        client = NodeLink("127.0.0.1", port,
                          clusterCredentials.clientOptions("127.0.0.1", "node"))
        client.startService()
        self.addCleanup(client.stopService)
        for _ in range(WAIT_STEPS):
            if client.lastDisconnectReason is not None:
                break
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.assertIsNotNone(client.lastDisconnectReason, "the link never broke")
        registry = NodeRegistry([("127.0.0.1", port, client)], clock=reactor)
        yield registry.poll()
        return registry.entries[0]

    @defer.inlineCallbacks
    def test_nodeCertificateFromAnotherCA(self):
        """A node whose certificate the CA did not sign reads nc=false, cc=true."""
        port = self.serve(credentials("node", self.stranger, self.ours))
        entry = yield self.pollThrough(credentials("cluster", self.ours, self.ours), port)
        self.assertEqual(entry.describe()["state"], "down")
        self.assertEqual(self.certs(entry), (True, False))

    @defer.inlineCallbacks
    def test_nodeServingAnotherRolesCertificate(self):
        """A node presenting the cloud CA's certificate of another role reads nc=false."""
        port = self.serve(credentials("cloud", self.ours, self.ours))
        entry = yield self.pollThrough(credentials("cluster", self.ours, self.ours), port)
        self.assertEqual(self.certs(entry), (True, False))

    @defer.inlineCallbacks
    def test_clusterCertificateRefusedByNode(self):
        """A node that refuses the CC's certificate reads cc=false, nc=true."""
        port = self.serve(credentials("node", self.ours, self.ours))
        entry = yield self.pollThrough(credentials("cluster", self.stranger, self.ours),
                                       port)
        self.assertEqual(entry.describe()["state"], "down")
        self.assertEqual(self.certs(entry), (False, True))

    @defer.inlineCallbacks
    def test_goodCertificatesAreTrue(self):
        """Over a link both sides accept, the node is up with both true."""
        port = self.serve(credentials("node", self.ours, self.ours))
        client = NodeLink("127.0.0.1", port, credentials(
            "cluster", self.ours, self.ours).clientOptions("127.0.0.1", "node"))
        client.startService()
        self.addCleanup(client.stopService)
        yield client.whenConnected()
        registry = NodeRegistry([("127.0.0.1", port, client)], clock=reactor)
        yield registry.poll()
        described = registry.entries[0].describe()
        self.assertEqual(described.state, "up")
        self.assertEqual(self.certs(registry.entries[0]), (True, True))


class VerdictTests(unittest.TestCase):

    def test_notACertificateMatter(self):
        """A refused TCP connection or no reason at all says nothing about certificates."""
        self.assertIsNone(certstatus.certificateVerdict(None))
        self.assertIsNone(certstatus.certificateVerdict(ConnectionRefusedError()))
