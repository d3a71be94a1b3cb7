"""The metadata service on a real port, over the real database service.

Clients bind their own source addresses on loopback (all of 127.0.0.0/8
is local), so each request really arrives from a different instance's
address, as requests from VMs do behind the front end's DNAT.
"""

from treq.client import HTTPClient
from twisted.internet import defer, endpoints, protocol, reactor, task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial import unittest
from twisted.web.client import Agent, HTTPConnectionPool

from eucad.clc.metadata.service import (SERVICE_NAME, MetadataRequest, makeMetadataServer,
                                        makeMetadataSite)
from eucad.clc.metadata.namespace import NamespacedTCPServer
from eucad.clc.metadata.resource import MetadataResource
from eucad.common.config import EucaConf
from eucad.common.db import Database
from tests.clc.metadata.fixtures import addImage, addInstance
from tests.listening import listenClosingConnections


class ListeningTests(unittest.TestCase):
    """Requests over TCP from several source addresses."""

    def setUp(self):
        self.db = Database("sqlite:///" + self.mktemp() + ".db", reactor=reactor)
        self.db.startService()
        self.addCleanup(self.db.stopService)
        addImage(self.db)
        port = listenClosingConnections(self, makeMetadataSite(self.db))
        self.port = port.getHost().port
        self.base = "http://127.0.0.1:%d" % (self.port,)

    @defer.inlineCallbacks
    def getFrom(self, source, path):
        pool = HTTPConnectionPool(reactor, persistent=False)
        client = HTTPClient(Agent(reactor, bindAddress=(source, 0), pool=pool))
        response = yield client.get(self.base + path)
        body = yield response.content()
        return response.code, body.decode()

    @defer.inlineCallbacks
    def test_eachAddressSeesItsOwn(self):
        """Two instances each get their own id and user data; a stranger gets 404."""
        first = addInstance(self.db, "127.0.0.2", userData=b"#!/bin/sh\necho first\n")
        second = addInstance(self.db, "127.0.0.3", userData=b"#!/bin/sh\necho second\n")
        for source, instanceId, marker in (("127.0.0.2", first, "first"),
                                           ("127.0.0.3", second, "second")):
            answer = yield self.getFrom(source, "/latest/meta-data/instance-id")
            self.assertEqual(answer, (200, instanceId))
            answer = yield self.getFrom(source, "/latest/user-data")
            self.assertEqual(answer, (200, "#!/bin/sh\necho %s\n" % (marker,)))
            answer = yield self.getFrom(source, "/latest/meta-data/local-ipv4")
            self.assertEqual(answer, (200, source))
        answer = yield self.getFrom("127.0.0.4", "/latest/meta-data/instance-id")
        self.assertEqual(answer[0], 404)

    @defer.inlineCallbacks
    def test_halfClosedRequestAnswered(self):
        """
        A guest that closes its sending side after the request, as
        ``printf 'GET ...' | nc 169.254.169.254 80`` does, still gets its
        answer (twisted.web alone dropped it: the lookup was still under way).
        """
        instanceId = addInstance(self.db, "127.0.0.2")
        ended = defer.Deferred()

        class HalfClosingGuest(protocol.Protocol):
            def connectionMade(self):
                self.received = []
                self.transport.write(b"GET /latest/meta-data/instance-id HTTP/1.0\r\n\r\n")
                self.transport.loseWriteConnection()

            def dataReceived(self, data):
                self.received.append(data)

            def connectionLost(self, reason):
                ended.callback(b"".join(self.received))
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.port,
                                                bindAddress=("127.0.0.2", 0))
        yield endpoint.connect(protocol.Factory.forProtocol(HalfClosingGuest))
        answer = yield ended
        self.assertTrue(answer.startswith(b"HTTP/1.0 200 "), answer)
        self.assertTrue(answer.endswith(b"\r\n\r\n" + instanceId.encode()), answer)

    @defer.inlineCallbacks
    def test_bodyRefusedFromItsHeaders(self):
        """A POST declaring a body is refused (413) from its headers; no request reaches the resource."""
        addInstance(self.db, "127.0.0.2")
        reached = []
        original = MetadataRequest.requestReceived

        def spy(request, command, path, version):
            reached.append(path)
            return original(request, command, path, version)
        self.patch(MetadataRequest, "requestReceived", spy)
        pool = HTTPConnectionPool(reactor, persistent=False)
        client = HTTPClient(Agent(reactor, bindAddress=("127.0.0.2", 0), pool=pool))
        response = yield client.post(self.base + "/latest/meta-data/instance-id",
                                     data=b"x" * (1 << 20))
        yield response.content()
        self.assertEqual(response.code, 413)
        self.assertEqual(reached, [])


class GuardTests(unittest.TestCase):
    """The site faces the VMs: it keeps the shared HTTP guard's limits (on a task.Clock)."""

    def setUp(self):
        self.clock = task.Clock()
        self.site = makeMetadataSite(Database("sqlite://"), clock=self.clock)
        self.connections = []

    def tearDown(self):
        for channel, transport in self.connections:
            if not transport.disconnected:
                channel.connectionLost(None)

    def connect(self):
        peer = IPv4Address("TCP", "10.77.0.101", 40000)
        channel = self.site.buildProtocol(peer)
        transport = StringTransport(peerAddress=peer,
                                    hostAddress=IPv4Address("TCP", "169.254.169.254", 80))
        channel.makeConnection(transport)
        self.connections.append((channel, transport))
        return channel, transport

    def test_tricklingGuestCutOff(self):
        """A guest sending a header line every 5 s is answered 408 and cut off at the 20 s deadline."""
        channel, transport = self.connect()
        channel.dataReceived(b"GET /latest/meta-data/ HTTP/1.1\r\n")
        for second in range(5, 20, 5):
            self.clock.advance(5)
            channel.dataReceived(b"X-Trickle-%d: y\r\n" % (second,))
        self.assertFalse(transport.disconnecting)
        self.clock.advance(5)
        self.assertTrue(transport.disconnecting)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 408 "))

    def test_longRequestLine(self):
        """A request line over 16 KiB is answered 414 and the connection closed."""
        channel, transport = self.connect()
        channel.dataReceived(b"GET /latest/meta-data/" + b"a" * 20000)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 414 "))
        self.assertTrue(transport.disconnecting)

    def test_chunkedBodyRefused(self):
        """A chunked body (no declared length) is refused 411 before any chunk is read."""
        channel, transport = self.connect()
        channel.dataReceived(b"PUT /latest/user-data HTTP/1.1\r\nHost: x\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 411 "))


class TapHookTests(unittest.TestCase):
    """What the CLC's tap adds: a named TCP service from eucalyptus.conf."""

    def test_fromConf(self):
        """METADATA_PORT and METADATA_LISTEN choose the port; the site serves the resource."""
        conf = EucaConf(self.mktemp())
        conf.set("METADATA_PORT", "9777")
        conf.set("METADATA_LISTEN", "10.1.2.3")
        db = Database("sqlite:///" + self.mktemp() + ".db")
        server = makeMetadataServer(conf, db)
        self.assertEqual(server.name, SERVICE_NAME)
        self.assertEqual(server.args[0], 9777)
        self.assertIsInstance(server.args[1].resource, MetadataResource)
        self.assertIs(server.args[1].resource.db, db)
        self.assertEqual(server.kwargs["interface"], "10.1.2.3")

    def test_defaults(self):
        """By default the service listens on every address, port 8777."""
        server = makeMetadataServer(EucaConf(self.mktemp()), Database("sqlite://"))
        self.assertEqual((server.args[0], server.kwargs["interface"]), (8777, "0.0.0.0"))

    def test_namespaced(self):
        """With METADATA_NETNS the service binds inside that namespace when started."""
        conf = EucaConf(self.mktemp())
        conf.set("METADATA_NETNS", "eucad-fe")
        conf.set("METADATA_LISTEN", "169.254.169.254")
        conf.set("METADATA_PORT", "80")
        server = makeMetadataServer(conf, Database("sqlite://"))
        self.assertIsInstance(server, NamespacedTCPServer)
        self.assertEqual((server.name, server.namespace, server.host, server.portNumber),
                         (SERVICE_NAME, "eucad-fe", "169.254.169.254", 80))
