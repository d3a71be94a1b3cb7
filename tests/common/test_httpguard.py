"""The HTTP guard: header deadline, long URLs, bodies refused on Content-Length, the access log.

Each site is spoken to through its own channel on a StringTransport, with a
``task.Clock`` as the guard's clock: no socket, no reactor, no waiting.
"""

from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial import unittest
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.test.requesthelper import DummyRequest

from eucad.common import httpguard
from eucad.common.httpguard import RequestLimits, accessLogLine, guardSite

PEER = IPv4Address("TCP", "127.0.0.1", 40000)
HOST = IPv4Address("TCP", "127.0.0.1", 8773)


class Recorder(Resource):
    """Answers "ok" and remembers what it was asked, body included."""

    isLeaf = True

    def __init__(self):
        Resource.__init__(self)
        self.seen = []

    def render(self, request):
        request.content.seek(0)
        self.seen.append((request.method, request.uri, request.content.read()))
        return b"ok"


def reply(transport):
    """(status, headers dict, body) of the first answer written."""
    raw = transport.value()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(b" ")[1]), headers, body


class GuardedSiteMixin:

    def setUp(self):
        self.clock = task.Clock()
        self.resource = Recorder()
        self.limits = RequestLimits(bodyLimit=lambda method, target, headers: 1000,
                                    clock=self.clock, headerTimeout=20, lingerSeconds=5)
        self.site = guardSite(Site(self.resource), self.limits)
        self.channels = []

    def tearDown(self):
        for channel, transport in self.channels:
            if not transport.disconnected:
                channel.connectionLost(None)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def connect(self):
        channel = self.site.buildProtocol(PEER)
        transport = StringTransport(peerAddress=PEER, hostAddress=HOST)
        channel.makeConnection(transport)
        self.channels.append((channel, transport))
        return channel, transport


class HeaderDeadlineTests(GuardedSiteMixin, unittest.TestCase):

    def test_tricklingConnectionsAreCut(self):
        """200 connections sending one header line every 5 s are answered 408 and closed at the deadline."""
        connections = [self.connect() for _ in range(200)]
        for channel, _ in connections:
            channel.dataReceived(b"GET / HTTP/1.1\r\n")
        for second in range(5, 60, 5):
            self.clock.advance(5)
            for channel, transport in connections:
                if not transport.disconnecting:
                    channel.dataReceived(b"X-Trickle-%d: y\r\n" % (second,))
        for _, transport in connections:
            self.assertTrue(transport.disconnecting)
            self.assertEqual(reply(transport)[0], 408)
        self.assertEqual(self.resource.seen, [])

    def test_deadlineCountsFromTheConnection(self):
        """The deadline runs from the connection, not from each line: 19 s of lines, then cut at 20 s."""
        channel, transport = self.connect()
        channel.dataReceived(b"GET / HTTP/1.1\r\n")
        for _ in range(19):
            self.clock.advance(1)
            channel.dataReceived(b"X: y\r\n")
        self.assertFalse(transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(transport.disconnecting)

    def test_idleConnectionClosedWithoutAnswer(self):
        """A connection that sends nothing is closed at the deadline with no answer written."""
        _, transport = self.connect()
        self.clock.advance(20)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")

    def test_promptRequestIsServedAndDeadlineRestarts(self):
        """Headers in time reach the resource; the next request gets a fresh deadline after the answer."""
        channel, transport = self.connect()
        self.clock.advance(19)
        channel.dataReceived(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertEqual(reply(transport)[0], 200)
        self.assertEqual(self.resource.seen, [(b"GET", b"/a", b"")])
        self.clock.advance(19)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(transport.disconnecting)

    def test_slowBodyIsNotTheHeadersBusiness(self):
        """Once the headers are complete the deadline stops: a body may take longer."""
        channel, transport = self.connect()
        channel.dataReceived(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n")
        self.clock.advance(60)
        channel.dataReceived(b"0123456789")
        self.assertEqual(reply(transport)[0], 200)
        self.assertEqual(self.resource.seen, [(b"POST", b"/", b"0123456789")])


class LimitTests(GuardedSiteMixin, unittest.TestCase):

    def test_longUrlGets414(self):
        """A request line over 16 KiB is answered 414, not dropped."""
        channel, transport = self.connect()
        channel.dataReceived(b"GET /?" + b"a" * 20000 + b" HTTP/1.1\r\nHost: h\r\n\r\n")
        status, headers, body = reply(transport)
        self.assertEqual(status, 414)
        self.assertEqual(headers[b"connection"], b"close")
        self.assertEqual(int(headers[b"content-length"]), len(body))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.resource.seen, [])

    def test_urlJustUnderTheLimitServed(self):
        """A 16,000-byte URL with some kilobytes of headers is served, not refused."""
        channel, transport = self.connect()
        target = b"/?" + b"a" * 16000
        channel.dataReceived(b"GET " + target + b" HTTP/1.1\r\nHost: h\r\nX-Pad: "
                             + b"p" * 3000 + b"\r\n\r\n")
        self.assertEqual(reply(transport)[0], 200)
        self.assertEqual(self.resource.seen, [(b"GET", target, b"")])

    def test_longUrlArrivingInPieces(self):
        """A long request line sent in small pieces is refused as soon as it passes the limit."""
        channel, transport = self.connect()
        channel.dataReceived(b"GET /")
        for _ in range(20):
            if transport.disconnecting:
                break
            channel.dataReceived(b"b" * 1000)
        self.assertEqual(reply(transport)[0], 414)

    def test_bodyOverLimitRefusedUnread(self):
        """A declared body over the limit is refused from its headers: not read, no 100 Continue."""
        channel, transport = self.connect()
        channel.dataReceived(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000\r\n"
                             b"Expect: 100-continue\r\n\r\n")
        status, _, _ = reply(transport)
        self.assertEqual(status, 413)
        self.assertNotIn(b"100 Continue", transport.value())
        written = len(transport.value())
        channel.dataReceived(b"x" * 100000)
        self.assertEqual(len(transport.value()), written)
        self.assertEqual(self.resource.seen, [])

    def test_bodyAtLimitAccepted(self):
        """A body of exactly the limit reaches the resource."""
        channel, transport = self.connect()
        channel.dataReceived(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n"
                             + b"y" * 1000)
        self.assertEqual(reply(transport)[0], 200)
        self.assertEqual(len(self.resource.seen[0][2]), 1000)

    def test_chunkedBodyWhereLimitedNeedsLength(self):
        """A body of undeclared length (chunked) where a limit applies is answered 411."""
        channel, transport = self.connect()
        channel.dataReceived(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"5\r\nhello\r\n0\r\n\r\n")
        self.assertEqual(reply(transport)[0], 411)
        self.assertEqual(self.resource.seen, [])

    def test_noLimitNoRefusal(self):
        """Where bodyLimit says None, any declared length passes to the resource."""
        self.limits.bodyLimit = lambda method, target, headers: None
        channel, transport = self.connect()
        channel.dataReceived(b"PUT /k HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n"
                             + b"z" * 5000)
        self.assertEqual(reply(transport)[0], 200)

    def test_refusedTcpConnectionLingers(self):
        """On TCP the refusal shuts the write side, drains for lingerSeconds, then aborts."""
        from zope.interface import directlyProvides
        from twisted.internet.interfaces import ITCPTransport

        channel, transport = self.connect()
        events = []
        transport.loseWriteConnection = lambda: events.append("shut")
        transport.abortConnection = lambda: events.append("abort")
        transport.setTcpNoDelay = lambda on: None
        directlyProvides(transport, ITCPTransport)
        channel.dataReceived(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n")
        self.assertEqual(events, ["shut"])
        channel.dataReceived(b"q" * 4000)
        self.clock.advance(5)
        self.assertEqual(events, ["shut", "abort"])
        self.assertEqual(reply(transport)[0], 413)
        channel.connectionLost(None)


class AccessLogTests(unittest.TestCase):

    def test_noQueryString(self):
        """The access line keeps method, path, status, referrer path and agent, never a query string."""
        request = DummyRequest([b""])
        request.method = b"GET"
        request.uri = b"/services/Eucalyptus?Action=DescribeRegions&Signature=c2VjcmV0"
        request.clientproto = b"HTTP/1.1"
        request.code = 200
        request.sentLength = 42
        request.requestHeaders.setRawHeaders(b"referer", [b"http://x/y?X-Amz-Signature=abc"])
        request.requestHeaders.setRawHeaders(b"user-agent", [b'boto3 "quoted"'])
        line = accessLogLine("[03/Dec/2026:12:00:00 +0000]", request)
        self.assertNotIn("Signature", line)
        self.assertNotIn("?", line)
        self.assertIn('"GET /services/Eucalyptus HTTP/1.1" 200 42 "http://x/y"', line)
        self.assertIn(r'"boto3 \"quoted\""', line)

    def test_siteUsesIt(self):
        """A Site given accessLogLine logs SigV2 GETs without their signature."""
        import io
        site = guardSite(Site(Recorder(), logFormatter=accessLogLine),
                         RequestLimits(clock=task.Clock()))
        site.logFile = io.StringIO()
        channel = site.buildProtocol(PEER)
        transport = StringTransport(peerAddress=PEER, hostAddress=HOST)
        channel.makeConnection(transport)
        channel.dataReceived(b"GET /?Action=X&Signature=s3cr3t&AWSAccessKeyId=AK HTTP/1.1\r\n"
                             b"Host: h\r\n\r\n")
        channel.connectionLost(None)
        written = site.logFile.getvalue()
        self.assertIn('"GET / HTTP/1.1" 200', written)
        self.assertNotIn("s3cr3t", written)
        self.assertNotIn("AWSAccessKeyId", written)


class GuardedClassTests(unittest.TestCase):

    def test_oneClassPerChannel(self):
        """Guarding a channel class twice gives the same class; a Site's default becomes HTTPChannel."""
        from twisted.web.http import HTTPChannel
        first = httpguard.guardedChannelClass(HTTPChannel)
        self.assertIs(httpguard.guardedChannelClass(HTTPChannel), first)
        self.assertIs(httpguard.guardedChannelClass(first), first)
        self.assertIs(guardSite(Site(Recorder()), RequestLimits()).protocol, first)
