"""The PB links: calls, errors and records in memory (iosim); who is refused over real TLS."""

import os

from twisted.internet import defer, endpoints, protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.testing import MemoryReactorClock
from twisted.test.iosim import ConnectionCompleter
from twisted.trial import unittest
from zope.interface import implementer

from eucad.common import pblink, trust
from eucad.common.config import Layout
from eucad.common.errors import CloudError
from eucad.common.interfaces import INode
from eucad.common.links import ClusterLink, ClusterRoot, NodeLink, NodeRoot
from eucad.common.netpolicy import (AddressAssociation, IngressRule, NetworkPolicy,
                                    SecurityGroupPolicy)
from eucad.common.records import (Change, ConsoleOutput, FloodPeers, InstanceReport,
                                  NodeResources, RunSpec, Termination)
from tests.cc.helpers import nodeSpec

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
        return NodeResources(cpu=2, ram=1024, disk=10, freeCpu=2, freeRam=1024,
                             freeDisk=10, hypervisor="qemu")

    def runInstance(self, spec):
        self.calls.append(("runInstance", spec))
        if spec.keyName == "refuse":
            raise CloudError("InvalidParameterValue", "bad instance id")
        return defer.succeed(InstanceReport.ofSpec(spec, "pending", 1000))

    def describeInstances(self):
        raise RuntimeError("disk on fire")

    def terminateInstance(self, instanceId):
        return Termination(instanceId, "running", "terminated")

    def waitForChange(self, generation, timeout):
        return Change(1, [])

    def rebootInstance(self, instanceId):
        self.calls.append(("rebootInstance", instanceId))
        return InstanceReport.ofSpec(nodeSpec(1), "running", 1000)

    def getConsoleOutput(self, instanceId):
        return ConsoleOutput(instanceId=instanceId, timestamp=1000.5, output="Ym9vdGVk")

    def setFloodPeers(self, floodPeers):
        self.calls.append(("setFloodPeers", floodPeers))


def forged(record, **fields):
    """``record`` with ``fields`` set past its checks, as a broken peer would send it."""
    for name, value in fields.items():
        object.__setattr__(record, name, value)
    return record


class InMemoryLinkTests(unittest.TestCase):
    """A NodeLink and a LinkServer serving a NodeRoot, paired by iosim on a memory reactor."""

    def setUp(self):
        self.reactor = MemoryReactorClock()
        self.node = EchoNode()
        self.server = pblink.LinkServer(
            NodeRoot(self.node), 4321, "127.0.0.1", None,
            endpoint=TCP4ServerEndpoint(self.reactor, 4321))
        self.server.startService()
        self.addCleanup(self.server.stopService)
        self.client = NodeLink("127.0.0.1", 4321, None, reactor=self.reactor,
                               endpoint=TCP4ClientEndpoint(self.reactor, "127.0.0.1", 4321))
        self.client.startService()
        self.addCleanup(self.stopClient)
        self.pump = ConnectionCompleter(self.reactor).succeedOnce()
        self.assertTrue(self.client.connected)

    def stopClient(self):
        stopped = self.client.stopService()
        self.pump.flush()
        self.successResultOf(stopped)

    def answer(self, d):
        """The result of a call once the pump has carried it both ways."""
        self.pump.flush()
        return self.successResultOf(d)

    def failure(self, d):
        self.pump.flush()
        return self.failureResultOf(d, CloudError).value

    def test_recordsCrossTheLink(self):
        """A RunSpec reaches the node as an equal RunSpec; its InstanceReport comes back as one."""
        spec = nodeSpec(1)
        report = self.answer(self.client.runInstance(spec))
        [(_, received)] = [c for c in self.node.calls if c[0] == "runInstance"]
        self.assertIsInstance(received, RunSpec)
        self.assertEqual(received, spec)
        self.assertIsNot(received, spec)
        self.assertEqual(report, InstanceReport.ofSpec(spec, "pending", 1000))
        resources = self.answer(self.client.describeResource())
        self.assertEqual(resources.hypervisor, "qemu")

    def test_userDataAndKeyDataCross(self):
        """User data and key data travel in the spec to the node."""
        spec = nodeSpec(1).replace(userData="aGVsbG8=", keyData="ssh-rsa AAAA k")
        self.answer(self.client.runInstance(spec))
        [(_, received)] = [c for c in self.node.calls if c[0] == "runInstance"]
        self.assertEqual((received.userData, received.keyData), ("aGVsbG8=", "ssh-rsa AAAA k"))

    def test_cloudErrorKeepsItsCode(self):
        """A CloudError raised by the node reaches the caller with its code."""
        error = self.failure(self.client.runInstance(nodeSpec(1).replace(keyName="refuse")))
        self.assertEqual((error.code, error.message),
                         ("InvalidParameterValue", "bad instance id"))

    def test_unexpectedErrorIsInternalError(self):
        """Any other exception becomes InternalError, not a remote traceback."""
        error = self.failure(self.client.describeInstances())
        self.assertEqual((error.code, error.status), ("InternalError", 500))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_malformedRecordRefusedAtTheBoundary(self):
        """A RunSpec whose field was broken past its checks is refused while PB unpacks it; the node never sees it."""
        spec = forged(nodeSpec(1), owner="../../etc")
        error = self.failure(self.client.runInstance(spec))
        self.assertEqual(error.code, "InvalidParameterValue")
        self.assertIn("owner", error.message)
        spec = forged(nodeSpec(2), vmType=forged(nodeSpec(2).vmType, cpu=0))
        error = self.failure(self.client.runInstance(spec))
        self.assertEqual(error.code, "InvalidParameterValue")
        self.assertIn("vmType.cpu", error.message)
        self.assertEqual(self.node.calls, [])

    def test_argumentOfTheWrongKindRefused(self):
        """A plain dict where a RunSpec belongs is refused by the root."""
        error = self.failure(self.client.runInstance(nodeSpec(1).toDict()))
        self.assertEqual(error.code, "InvalidParameterValue")
        self.assertEqual(self.node.calls, [])

    def test_answerOfTheWrongKindRefused(self):
        """A node that answers a dict where an InstanceReport belongs gives the caller an InternalError."""
        self.node.runInstance = lambda spec: {"instanceId": spec.instanceId}
        error = self.failure(self.client.runInstance(nodeSpec(1)))
        self.assertEqual(error.code, "InternalError")

    def test_terminationsAndChangesCross(self):
        """Terminations and long-poll answers cross as their records."""
        self.assertEqual(self.answer(self.client.terminateInstance("i-00000001")).toDict(),
                         {"instanceId": "i-00000001", "previousState": "running",
                          "state": "terminated"})
        self.assertEqual(self.answer(self.client.waitForChange(None, 5)).toDict(),
                         {"generation": 1, "instances": []})

    def test_rebootAndConsoleCross(self):
        """A reboot reaches the node and answers its InstanceReport; a console answers its ConsoleOutput."""
        report = self.answer(self.client.rebootInstance("i-00000001"))
        self.assertEqual((report.instanceId, report.state), ("i-00000001", "running"))
        self.assertIn(("rebootInstance", "i-00000001"), self.node.calls)
        console = self.answer(self.client.getConsoleOutput("i-00000001"))
        self.assertEqual(console, ConsoleOutput(instanceId="i-00000001", timestamp=1000.5,
                                                output="Ym9vdGVk"))
        error = self.failure(self.client.rebootInstance(["i-00000001"]))
        self.assertEqual(error.code, "InvalidParameterValue")

    def test_floodPeersCrossAsARecord(self):
        """A FloodPeers reaches the node as an equal record; a forged one is refused while PB unpacks it."""
        peers = FloodPeers({10: ["10.77.0.1", "10.77.0.3"]})
        self.assertIsNone(self.answer(self.client.setFloodPeers(peers)))
        [(_, received)] = [c for c in self.node.calls if c[0] == "setFloodPeers"]
        self.assertEqual(received, peers)
        self.assertEqual(received.peers, {10: ("10.77.0.1", "10.77.0.3")})
        error = self.failure(self.client.setFloodPeers(
            forged(FloodPeers({}), peers={10: ["10.77.0.1; reboot"]})))
        self.assertEqual(error.code, "InvalidParameterValue")
        self.assertIn("peers[10]", error.message)
        error = self.failure(self.client.setFloodPeers(
            forged(FloodPeers({}), peers={1 << 24: []})))
        self.assertEqual(error.code, "InvalidParameterValue")
        self.assertEqual(len([c for c in self.node.calls if c[0] == "setFloodPeers"]), 1)
        error = self.failure(self.client.setFloodPeers({10: ["10.77.0.1"]}))
        self.assertEqual(error.code, "InvalidParameterValue")

    def test_onlyRemoteOperationsAreCallable(self):
        """A call the root does not publish is refused as InvalidAction."""
        error = self.failure(self.client.callRemote("__init__"))
        self.assertEqual(error.code, "InvalidAction")
        self.flushLoggedErrors()

    def test_timeoutStaysATimeout(self):
        """A call cancelled by the caller's timeout fails as a timeout, not InternalError."""
        self.node.describeResource = lambda: defer.Deferred()
        d = self.client.describeResource()
        d.addTimeout(5, self.reactor)
        self.pump.flush()
        self.reactor.advance(5)
        self.failureResultOf(d, defer.TimeoutError)

    def test_callInFlightFailsWhenTheLinkDrops(self):
        """A call whose connection drops before the answer fails with Unavailable at once."""
        self.node.describeResource = lambda: defer.Deferred()
        d = self.client.describeResource()
        self.pump.flush()
        self.client.disconnect()
        error = self.failure(d)
        self.assertEqual(error.code, "Unavailable")
        self.assertFalse(self.client.connected)

    def test_disconnectedCallFailsAtOnce(self):
        """A call while the link is down fails with Unavailable instead of hanging."""
        self.client.disconnect()
        self.pump.flush()
        failure = self.failureResultOf(self.client.describeResource(), CloudError)
        self.assertEqual(failure.value.code, "Unavailable")

    def test_reconnects(self):
        """After the connection drops the client dials again and calls go through."""
        self.client.disconnect()
        self.pump.flush()
        # The retry policy waits up to a few seconds (with jitter).
        self.reactor.advance(10)
        self.pump = ConnectionCompleter(self.reactor).succeedOnce()
        self.assertTrue(self.client.connected)
        self.assertEqual(self.answer(self.client.describeResource()).cpu, 2)


class LinkServerTests(unittest.TestCase):

    def test_portInUseFailsAtStart(self):
        """A port that cannot be bound fails startService at once."""
        class Refusing:
            def listen(self, factory):
                return defer.fail(OSError("address in use"))
        server = pblink.LinkServer(NodeRoot(EchoNode()), 1, "127.0.0.1", None,
                                   endpoint=Refusing())
        self.assertRaises(OSError, server.startService)
        self.assertFalse(server.running)

    def test_rootNeedsTheInterface(self):
        """A root refuses an object that does not provide the link's interface."""
        self.assertRaises(TypeError, NodeRoot, object())


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


class TLSLinkTests(unittest.TestCase):
    """The certificate checks, on real TLS sockets."""

    def setUp(self):
        self.layout = sharedKeys("main")
        self.node = EchoNode()
        server = trust.Credentials.load(self.layout, "node")
        self.server = pblink.LinkServer(NodeRoot(self.node), 0, "127.0.0.1",
                                        server.serverOptions(acceptRole="cluster"))
        self.server.startService()
        self.addCleanup(self.server.stopService)
        self.port = self.server.listeningPort.getHost().port

    def client(self, role="cluster", host="127.0.0.1", layout=None, expectRole="node"):
        creds = trust.Credentials.load(layout or self.layout, role)
        client = NodeLink(host, self.port, creds.clientOptions(host, expectRole=expectRole))
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
        """A cluster-role client calls the node over TLS and gets its records back."""
        client = self.client()
        yield client.whenConnected()
        self.assertTrue(INode.providedBy(client))
        report = yield client.runInstance(nodeSpec(1))
        self.assertEqual((report.instanceId, report.state), ("i-00000001", "pending"))
        resource = yield client.describeResource()
        self.assertEqual(resource["hypervisor"], "qemu")

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


class ClusterPolicyLinkTests(unittest.TestCase):
    """The network policy crossing a ClusterLink to a ClusterRoot, paired by iosim."""

    def setUp(self):
        from eucad.testing.fakecluster import FakeCluster
        self.reactor = MemoryReactorClock()
        self.cluster = FakeCluster()
        self.server = pblink.LinkServer(
            ClusterRoot(self.cluster), 4322, "127.0.0.1", None,
            endpoint=TCP4ServerEndpoint(self.reactor, 4322))
        self.server.startService()
        self.addCleanup(self.server.stopService)
        self.client = ClusterLink("127.0.0.1", 4322, None, reactor=self.reactor,
                                  endpoint=TCP4ClientEndpoint(self.reactor, "127.0.0.1", 4322))
        self.client.startService()
        self.pump = ConnectionCompleter(self.reactor).succeedOnce()
        self.addCleanup(self.stopClient)

    def stopClient(self):
        stopped = self.client.stopService()
        self.pump.flush()
        self.successResultOf(stopped)

    def test_policyCrossesAsRecords(self):
        """A NetworkPolicy reaches the cluster as an equal NetworkPolicy of typed records."""
        policy = NetworkPolicy(
            [SecurityGroupPolicy("alice", "web", [IngressRule("tcp", 80, 80, cidr="0.0.0.0/0")])],
            [AddressAssociation("192.0.2.10", "10.100.0.2", "i-00000001")])
        d = self.client.applyNetworkPolicy(policy)
        self.pump.flush()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.cluster.policy, policy)
        self.assertIsNot(self.cluster.policy, policy)
        self.assertEqual(self.client.connectionCount, 1)

    def test_clusterSettingsCrossAsARecord(self):
        """ClusterSettings reach the cluster as an equal, checked ClusterSettings; anything else is refused before sending."""
        from eucad.common.clustersettings import ClusterSettings
        settings = ClusterSettings(dnsServers=("192.0.2.53", "198.51.100.7"))
        d = self.client.applyClusterSettings(settings)
        self.pump.flush()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.cluster.settings, settings)
        self.assertIsNot(self.cluster.settings, settings)
        refused = self.client.applyClusterSettings({"dnsServers": ["192.0.2.53"]})
        self.assertEqual(self.failureResultOf(refused, CloudError).value.code,
                         "InvalidParameterValue")
        self.assertEqual(self.cluster.settingsReceived, [settings])

    def test_anythingElseRefusedBeforeSending(self):
        """The facade refuses a policy that is not a NetworkPolicy without calling the cluster."""
        d = self.client.applyNetworkPolicy({"groups": []})
        self.assertEqual(self.failureResultOf(d, CloudError).value.code,
                         "InvalidParameterValue")
        self.assertEqual(self.cluster.calls, [])
