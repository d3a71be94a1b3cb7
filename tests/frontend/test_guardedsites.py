"""The HTTP guard on the three real Sites: the CLC's, Walrus's and the shared front door.

Each Site is the one its daemon's tap builds (not started: refusals come
before any resource runs); it is spoken to through its own channel on a
StringTransport with a ``task.Clock`` as the guard's clock.  What is
checked is the answer a client sees: the status and the error in the API's
own format (EC2 ``<Response><Errors>``, S3 ``<Error>``).
"""

import io
import os

from lxml import etree
from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from eucad.clc import tap as clcTap
from eucad.common.config import EucaConf, Layout
from eucad.frontend import tap as frontTap
from eucad.walrus import tap as walrusTap

PEER = IPv4Address("TCP", "127.0.0.1", 40000)
HOST = IPv4Address("TCP", "127.0.0.1", 8773)
FORM = b"application/x-www-form-urlencoded"
TEN_MB = 10 * 1024 * 1024


def siteOf(testcase, tapModule, **settings):
    prefix = os.path.abspath(testcase.mktemp())
    conf = EucaConf.load(Layout(prefix).conf)
    for key, value in settings.items():
        conf.set(key, value)
    conf.save()
    options = tapModule.Options()
    options.parseOptions(["--prefix", prefix])
    site = list(tapModule.makeService(options))[-1].factory
    clock = task.Clock()
    site.httpLimits.clock = clock
    return site, clock


class Answer:

    def __init__(self, transport):
        raw = transport.value()
        head, _, self.body = raw.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])
        self.raw = raw

    def ec2Code(self):
        root = etree.fromstring(self.body)
        assert root.tag == "Response", self.body
        return root.findtext("Errors/Error/Code")

    def s3Code(self):
        root = etree.fromstring(self.body)
        assert root.tag == "Error", self.body
        return root.findtext("Code")


class SiteTestMixin:

    def talk(self, data):
        channel = self.site.buildProtocol(PEER)
        transport = StringTransport(peerAddress=PEER, hostAddress=HOST)
        channel.makeConnection(transport)
        self.addCleanup(lambda: transport.disconnected or channel.connectionLost(None))
        channel.dataReceived(data)
        return channel, transport

    def longUrl(self, path):
        return self.talk(b"GET " + path + b"?x=" + b"a" * 20000 + b" HTTP/1.1\r\nHost: h\r\n\r\n")

    def bigForm(self, path=b"/"):
        return self.talk(b"POST " + path + b" HTTP/1.1\r\nHost: h\r\nContent-Type: " + FORM
                         + b"\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n" % TEN_MB
                         + b"Action=DescribeRegions&Padding=")

    def trickle(self, start):
        """Send ``start`` then a header line every 5 s for a minute; the answer."""
        channel, transport = self.talk(start)
        for _ in range(12):
            if transport.disconnecting:
                break
            self.clock.advance(5)
            if not transport.disconnecting:
                channel.dataReceived(b"X-Slow: y\r\n")
        self.assertTrue(transport.disconnecting)
        return Answer(transport)


def passesToSpool(test):
    """The lengths Walrus's spool factory was asked for by a 10 MB PUT's headers."""
    asked = []

    def spool(headers, length, transport):
        asked.append(length)
        return io.BytesIO()
    test.site.walrusSpoolFactory = spool
    # The guard alone: Walrus's own admission of a body (which refuses this
    # anonymous PUT before reading it) is tested in tests/walrus/test_admission.py.
    test.site.walrusGate = None
    _, transport = test.talk(b"PUT /bucket/key HTTP/1.1\r\nHost: h\r\n"
                             b"Content-Length: %d\r\n\r\n" % TEN_MB)
    test.assertEqual(transport.value(), b"")
    test.assertFalse(transport.disconnecting)
    return asked


class ClcSiteTests(SiteTestMixin, unittest.TestCase):

    def setUp(self):
        self.site, self.clock = siteOf(self, clcTap, CLOUD_PORT="0")

    def test_longUrlIsEc2Error414(self):
        """A 20 KB URL gets 414 with an EC2 error, not a dropped connection."""
        answer = Answer(self.longUrl(b"/services/Eucalyptus")[1])
        self.assertEqual((answer.status, answer.ec2Code()), (414, "InvalidParameterValue"))

    def test_bigFormRefusedOnContentLength(self):
        """A 10 MB form is refused from its Content-Length with EC2's error; no 100 Continue."""
        _, transport = self.bigForm(b"/services/Eucalyptus")
        answer = Answer(transport)
        self.assertEqual((answer.status, answer.ec2Code()), (400, "InvalidParameterValue"))
        self.assertIn(b"too large", answer.body)
        self.assertNotIn(b"100 Continue", answer.raw)

    def test_slowHeadersCut(self):
        """Headers trickling in past the deadline get EC2's error and the connection closes."""
        answer = self.trickle(b"GET /services/Eucalyptus?Action=DescribeRegions HTTP/1.1\r\n")
        self.assertEqual(answer.status, 408)
        self.assertEqual(answer.ec2Code(), "InvalidRequest")


class WalrusSiteTests(SiteTestMixin, unittest.TestCase):

    def setUp(self):
        self.site, self.clock = siteOf(self, walrusTap, WALRUS_PORT="0")

    def test_longUrlIsS3Error414(self):
        """A 20 KB URL gets 414 with S3's InvalidURI error."""
        answer = Answer(self.longUrl(b"/bucket/key")[1])
        self.assertEqual((answer.status, answer.s3Code()), (414, "InvalidURI"))

    def test_slowHeadersCut(self):
        """Headers trickling in past the deadline get S3's RequestTimeout."""
        answer = self.trickle(b"PUT /bucket/key HTTP/1.1\r\n")
        self.assertEqual(answer.s3Code(), "RequestTimeout")

    def test_largePutNotRefusedHere(self):
        """Walrus's bodies are Walrus's business: a 10 MB PUT's headers pass the guard to its spool."""
        self.assertEqual(passesToSpool(self), [TEN_MB])


class SharedSiteTests(SiteTestMixin, unittest.TestCase):

    def setUp(self):
        self.site, self.clock = siteOf(
            self, frontTap, ENABLE_CLOUD="Y", ENABLE_WALRUS="Y", CLOUD_PORT="0",
            WALRUS_PORT="0", CLOUD_LISTEN="127.0.0.1", WALRUS_LISTEN="127.0.0.1")

    def test_longUrlAnsweredInTheRightFormat(self):
        """A long EC2 URL gets EC2's error, a long S3 one S3's, both 414."""
        ec2 = Answer(self.longUrl(b"/services/Eucalyptus")[1])
        self.assertEqual((ec2.status, ec2.ec2Code()), (414, "InvalidParameterValue"))
        s3 = Answer(self.longUrl(b"/bucket/key")[1])
        self.assertEqual((s3.status, s3.s3Code()), (414, "InvalidURI"))
        walrus = Answer(self.longUrl(b"/services/Walrus/bucket")[1])
        self.assertEqual(walrus.s3Code(), "InvalidURI")

    def test_bigFormAtRootRefusedAsEc2(self):
        """A 10 MB form at the shared root is EC2's shape: refused from its length, EC2's error."""
        answer = Answer(self.bigForm(b"/")[1])
        self.assertEqual((answer.status, answer.ec2Code()), (400, "InvalidParameterValue"))
        self.assertNotIn(b"100 Continue", answer.raw)

    def test_bigPutPasses(self):
        """A 10 MB S3 PUT at the shared root passes the guard to Walrus's spool."""
        self.assertEqual(passesToSpool(self), [TEN_MB])


class RealSocketTests(unittest.TestCase):
    """The CLC's Site on a real TCP port: refusals reach a client that is still sending."""

    timeout = 60

    def setUp(self):
        from twisted.internet import reactor

        from eucad.common.listening import ListeningService
        site, _ = siteOf(self, clcTap, CLOUD_PORT="0")
        site.httpLimits.clock = reactor
        site.httpLimits.lingerSeconds = 0.5
        self.service = ListeningService("tcp:0:interface=127.0.0.1", site, reactor=reactor)
        self.service.startService()
        self.addCleanup(self.service.stopService)
        self.port = self.service.port.getHost().port

    def settled(self, answer):
        """``answer``, once the server has had time to see the connection end."""
        from twisted.internet import reactor, task
        return task.deferLater(reactor, 1.0, lambda: answer)

    def exchange(self, head, bodyBytes=0):
        """Send ``head`` and up to ``bodyBytes`` of body (as far as the server takes it); the answer."""
        import socket as sockets
        with sockets.create_connection(("127.0.0.1", self.port), 10) as s:
            s.sendall(head)
            sent = 0
            try:
                while sent < bodyBytes:
                    sent += s.send(b"x" * 65536)
            except OSError:
                pass
            answer = b""
            try:
                while True:
                    data = s.recv(65536)
                    if not data:
                        break
                    answer += data
            except OSError:
                pass
        return answer

    def test_bigBodyAnsweredWhileSending(self):
        """A client sending a 10 MB form reads EC2's refusal, not a reset."""
        from twisted.internet import threads
        head = (b"POST /services/Eucalyptus HTTP/1.1\r\nHost: h\r\nContent-Type: " + FORM
                + b"\r\nContent-Length: %d\r\n\r\n" % TEN_MB)
        d = threads.deferToThread(self.exchange, head, TEN_MB).addCallback(self.settled)

        def check(answer):
            self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer[:200])
            self.assertIn(b"<Code>InvalidParameterValue</Code>", answer)
        return d.addCallback(check)

    def test_longUrl(self):
        """A 20 KB URL over a real socket gets a 414 with EC2's error."""
        from twisted.internet import threads
        d = threads.deferToThread(self.exchange, b"GET /?" + b"a" * 20000
                                  + b" HTTP/1.1\r\nHost: h\r\n\r\n")
        d.addCallback(self.settled)

        def check(answer):
            self.assertTrue(answer.startswith(b"HTTP/1.1 414 "), answer[:200])
            self.assertIn(b"<Response><Errors>", answer)
        return d.addCallback(check)
