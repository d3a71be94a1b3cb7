"""The PB links over mutual TLS: calls, errors, and who is refused."""

import os

from twisted.internet import defer, endpoints, protocol, reactor
from twisted.trial import unittest
from zope.interface import implementer

from eucad.common import pblink, trust
from eucad.common.config import Layout
from eucad.common.errors import CloudError
from eucad.common.interfaces import INode

_KEYS = {}


def sharedKeys(name):
    """One generated key set per name for the whole test module (RSA is slow)."""
    if name not in _KEYS:
        import tempfile
        layout = Layout(tempfile.mkdtemp(prefix="eucad-keys-"))
        trust.setup(layout.keys)
        _KEYS[name] = layout
    return _KEYS[name]


@implementer(INode)
class EchoNode:
    """A node that answers from memory, to see what crosses the link."""

    def __init__(self):
        self.calls = []

    def describeResource(self):
        self.calls.append("describeResource")
        return {"cpu": 2, "ram": 1024, "disk": 10, "freeCpu": 2, "freeRam": 1024,
                "freeDisk": 10, "hypervisor": "qemu"}

    def runInstance(self, spec):
        self.calls.append(("runInstance", spec))
        if spec.get("instanceId") == "i-bad":
            raise CloudError("InvalidParameterValue", "bad instance id")
        return defer.succeed(dict(spec, state="pending"))

    def describeInstances(self):
        raise RuntimeError("disk on fire")

    def terminateInstance(self, instanceId):
        return {"instanceId": instanceId, "previousState": "running",
                "state": "terminated"}


class HandshakeProbe(protocol.Protocol):
    """
    Says "accepted" when the PB server speaks first (it does so only once TLS
    let us in: with TLS 1.3 the client's handshake ends before the server
    has judged the client's certificate) or "lost" when the connection dies.
    """

    def __init__(self):
        self.result = defer.Deferred()
        self.lost = defer.Deferred()

    def dataReceived(self, data):
        if not self.result.called:
            self.result.callback("accepted")

    def connectionLost(self, reason):
        if not self.result.called:
            self.result.callback("lost")
        self.lost.callback(None)

    def close(self):
        if not self.lost.called:
            self.transport.abortConnection()
        return self.lost


class LinkTests(unittest.TestCase):

    def setUp(self):
        self.layout = sharedKeys("main")
        self.node = EchoNode()
        server = trust.Credentials.load(self.layout, "node")
        self.server = pblink.LinkServer(self.node, INode, 0, "127.0.0.1",
                                        server.serverOptions(acceptRole="cluster"))
        self.server.startService()
        self.addCleanup(self.server.stopService)
        self.port = self.server._waitingForPort.result.getHost().port

    def client(self, role="cluster", host="127.0.0.1", layout=None, expectRole="node"):
        creds = trust.Credentials.load(layout or self.layout, role)
        client = pblink.LinkClient(INode, host, self.port,
                                   creds.clientOptions(host, expectRole=expectRole))
        client.startService()
        self.addCleanup(client.stopService)
        return client

    def probe(self, role="cluster", host="127.0.0.1", layout=None, expectRole="node"):
        creds = trust.Credentials.load(layout or self.layout, role)
        endpoint = endpoints.SSL4ClientEndpoint(
            reactor, host, self.port, creds.clientOptions(host, expectRole=expectRole))
        probe = HandshakeProbe()
        d = endpoints.connectProtocol(endpoint, probe)

        def connected(p):
            self.addCleanup(p.close)
            return p.result
        return d.addCallback(connected)

    @defer.inlineCallbacks
    def test_callCrossesTheLink(self):
        """A cluster-role client calls the node's method and gets its answer."""
        client = self.client()
        yield client.whenConnected()
        self.assertTrue(INode.providedBy(client))
        answer = yield client.runInstance({"instanceId": "i-12345678", "n": [1, 2]})
        self.assertEqual(answer, {"instanceId": "i-12345678", "n": [1, 2],
                                  "state": "pending"})
        resource = yield client.describeResource()
        self.assertEqual(resource["hypervisor"], "qemu")

    @defer.inlineCallbacks
    def test_cloudErrorKeepsItsCode(self):
        """A CloudError raised by the node reaches the caller with its code."""
        client = self.client()
        yield client.whenConnected()
        error = yield self.assertFailure(client.runInstance({"instanceId": "i-bad"}),
                                         CloudError)
        self.assertEqual(error.code, "InvalidParameterValue")
        self.assertEqual(error.message, "bad instance id")

    @defer.inlineCallbacks
    def test_unexpectedErrorIsInternalError(self):
        """Any other exception becomes InternalError, not a remote traceback."""
        client = self.client()
        yield client.whenConnected()
        error = yield self.assertFailure(client.describeInstances(), CloudError)
        self.assertEqual(error.code, "InternalError")
        self.assertEqual(error.status, 500)
        self.flushLoggedErrors(RuntimeError)

    @defer.inlineCallbacks
    def test_timeoutStaysATimeout(self):
        """A call cancelled by the caller's timeout fails as a timeout, not InternalError."""
        self.node.describeResource = lambda: defer.Deferred()
        client = self.client()
        yield client.whenConnected()
        d = client.describeResource()
        d.addTimeout(0.2, reactor)
        yield self.assertFailure(d, defer.TimeoutError)

    def test_disconnectedCallFailsAtOnce(self):
        """A call before the link is up fails with Unavailable instead of hanging."""
        client = pblink.LinkClient(INode, "127.0.0.1", 1, trust.Credentials.load(
            self.layout, "cluster").clientOptions("127.0.0.1", "node"))
        d = client.describeResource()
        failure = self.failureResultOf(d, CloudError)
        self.assertEqual(failure.value.code, "Unavailable")

    @defer.inlineCallbacks
    def test_onlyInterfaceMethodsAreCallable(self):
        """Remote calls outside the interface are refused."""
        client = self.client()
        yield client.whenConnected()
        d = client._root.callRemote("__init__")
        error = yield self.assertFailure(d.addErrback(pblink.rebuildCloudError), CloudError)
        self.assertEqual(error.code, "InvalidAction")

    @defer.inlineCallbacks
    def test_goodPeerHandshakes(self):
        """The probe itself completes a handshake with the right credentials."""
        result = yield self.probe()
        self.assertEqual(result, "accepted")

    @defer.inlineCallbacks
    def test_wrongRoleIsRefused(self):
        """A certificate from the cloud CA but of the wrong role is refused."""
        result = yield self.probe(role="cloud")
        self.assertEqual(result, "lost")

    @defer.inlineCallbacks
    def test_otherCAIsRefused(self):
        """A cluster certificate from another CA is refused."""
        result = yield self.probe(layout=sharedKeys("stranger"))
        self.assertEqual(result, "lost")

    @defer.inlineCallbacks
    def test_serverOfWrongRoleIsRefusedByClient(self):
        """The client refuses a server whose role is not the one it expects."""
        result = yield self.probe(expectRole="cluster")
        self.assertEqual(result, "lost")

    @defer.inlineCallbacks
    def test_hostnameIsChecked(self):
        """The client refuses a server certificate that does not name the host dialled."""
        creds = trust.Credentials.load(self.layout, "cluster")
        endpoint = endpoints.SSL4ClientEndpoint(
            reactor, "127.0.0.1", self.port,
            creds.clientOptions("node.example.invalid", expectRole="node"))
        probe = HandshakeProbe()
        p = yield endpoints.connectProtocol(endpoint, probe)
        self.addCleanup(p.close)
        result = yield probe.result
        self.assertEqual(result, "lost")


class LazyCredentialsTests(unittest.TestCase):

    def test_nothingIsReadUntilTLSAsks(self):
        """Lazy options read the keys at the first handshake, once, not when made."""
        loads = []

        def load(layout, role):
            loads.append(role)
            return trust.Credentials.load(layout, role)
        lazy = trust.LazyCredentials(sharedKeys("main"), "cluster", load=load)
        server = lazy.serverOptions(acceptRole="cloud")
        client = lazy.clientOptions("127.0.0.1", expectRole="node")
        self.assertEqual(loads, [])
        server.getContext()
        server.getContext()
        client.clientConnectionForTLS(None)
        self.assertEqual(loads, ["cluster"])


class TrustFilesTests(unittest.TestCase):

    def test_setupWritesGuideNamesWithPrivateKeys(self):
        """Setup writes the CA and each role's cert and key, keys readable by root only."""
        layout = sharedKeys("main")
        for role in trust.ROLES:
            cert = trust.loadCert(trust.certPath(layout.keys, role))
            self.assertEqual(trust.roleOf(cert), role)
            mode = os.stat(trust.keyPath(layout.keys, role)).st_mode & 0o777
            self.assertEqual(mode, 0o600)

    def test_setupKeepsExistingKeys(self):
        """Running setup twice does not replace certificates nodes already have."""
        layout = sharedKeys("main")
        before = open(trust.certPath(layout.keys, "node"), "rb").read()
        trust.setup(layout.keys)
        self.assertEqual(open(trust.certPath(layout.keys, "node"), "rb").read(), before)
