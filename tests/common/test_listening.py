"""strports listeners for the taps: descriptions from the conf, binding at start."""

import os
import socket

from twisted.internet import defer, reactor
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory
from twisted.trial import unittest

from eucad.clc import tap as clcTap
from eucad.common.config import EucaConf, Layout
from eucad.common.listening import ListeningService, tcpDescription


class DescriptionTests(unittest.TestCase):

    def test_fromConf(self):
        """A conf's port and address make a tcp description; an IPv6 address is quoted."""
        self.assertEqual(tcpDescription("8773", "127.0.0.1"), "tcp:8773:interface=127.0.0.1")
        self.assertEqual(tcpDescription(8773, ""), "tcp:8773")
        self.assertEqual(tcpDescription(8773, "::1"), r"tcp:8773:interface=\:\:1")

    def options(self, argv=(), **settings):
        prefix = os.path.abspath(self.mktemp())
        conf = EucaConf.load(Layout(prefix).conf)
        for key, value in settings.items():
            conf.set(key, value)
        conf.save()
        options = clcTap.Options()
        options.parseOptions(["--prefix", prefix] + list(argv))
        return options

    def test_tapDefaultsToTheConf(self):
        """Without --port the CLC listens on CLOUD_LISTEN:CLOUD_PORT."""
        root = clcTap.makeService(self.options(CLOUD_PORT="9999", CLOUD_LISTEN="127.0.0.2"))
        self.assertEqual(list(root)[-1].description, "tcp:9999:interface=127.0.0.2")

    def test_portOptionOverrides(self):
        """--port takes any strports description instead of the conf's port."""
        root = clcTap.makeService(self.options(["--port", "unix:/tmp/x.sock"],
                                               CLOUD_PORT="9999"))
        self.assertEqual(list(root)[-1].description, "unix:/tmp/x.sock")


class ListeningServiceTests(unittest.TestCase):

    def test_bindsOnStartAndStops(self):
        """Nothing is bound until start; the port is open while running and closed after stop."""
        service = ListeningService("tcp:0:interface=127.0.0.1", Factory(), reactor=reactor)
        self.assertIsNone(service.port)
        service.startService()
        port = service.port.getHost().port
        socket.create_connection(("127.0.0.1", port), 2).close()
        d = defer.maybeDeferred(service.stopService)

        def closed(_):
            self.assertIsNone(service.port)
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))  # free again
        return d.addCallback(closed)

    def test_portInUseFailsTheStart(self):
        """A port that cannot be bound fails the start with the reason, as TCPServer did."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            service = ListeningService("tcp:%d:interface=127.0.0.1" % (port,), Factory(),
                                       reactor=reactor)
            self.assertRaises(CannotListenError, service.privilegedStartService)
            self.assertIsNone(service.port)


class LinkPortTests(unittest.TestCase):

    timeout = 60

    @defer.inlineCallbacks
    def test_ccLinkOnAStrportsDescription(self):
        """eucalyptus-cc --port tcp:PORT serves the CLC's link there, still over mutual TLS."""
        from eucad.cc import tap as ccTap
        from eucad.common import trust
        from eucad.common.links import ClusterLink
        from eucad.common.listening import MutualTlsEndpoint

        prefix = os.path.abspath(self.mktemp())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        options = ccTap.Options()
        EucaConf.load(Layout(prefix).conf).save()
        options.parseOptions(["--prefix", prefix, "--port", "tcp:%d:interface=127.0.0.1" % port])
        trust.setup(options.layout.keys)
        root = ccTap.makeService(options)
        self.assertIsInstance(list(root)[-1].endpoint, MutualTlsEndpoint)
        root.startService()
        self.addCleanup(root.stopService)
        cloud = trust.Credentials.load(options.layout, "cloud")
        client = ClusterLink("127.0.0.1", port,
                             cloud.clientOptions("127.0.0.1", expectRole="cluster"))
        client.startService()
        self.addCleanup(client.stopService)
        yield client.whenConnected()
        resources = yield client.describeResources()
        self.assertEqual(resources["nodes"], [])
