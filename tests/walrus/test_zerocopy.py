"""Large GET bodies sent with sendfile (eucad.walrus.zerocopy), over real loopback sockets."""

import http.client
import io
import os
import socket
import ssl as stdssl
import time
import types

from twisted.internet import defer, reactor, ssl, task, threads
from twisted.internet.interfaces import ISystemHandle, ITCPTransport
from twisted.internet.testing import StringTransport
from twisted.trial import unittest
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site
from zope.interface import implementer

from eucad.walrus import zerocopy
from eucad.walrus.app import IoPool
from tests.listening import listenClosingConnections
from tests.walrus.live import LiveWalrus

MiB = 1024 * 1024


class SegmentsResource(Resource):
    """
    Answers ``GET /?start=S&length=L`` with those bytes of its segment
    files, through ``zerocopy.stream``; keeps, per request, whether sendfile
    was usable, the request, its segment files and the stream's outcome.
    """

    isLeaf = True

    def __init__(self, paths, runIo):
        Resource.__init__(self)
        self.paths = paths
        self.runIo = runIo
        self.served = []

    def render_GET(self, request):
        start = int(request.args[b"start"][0])
        length = int(request.args[b"length"][0])
        segments = [(open(path, "rb", buffering=0), os.path.getsize(path))
                    for path in self.paths]
        request.setHeader(b"content-length", b"%d" % (length,))
        outcome = defer.Deferred()
        self.served.append(dict(request=request, segments=segments, outcome=outcome,
                                sendfile=zerocopy.usable(request, length, reactor)))

        def sent(_):
            if request.channel is not None:  # the client may leave once it has it all
                request.finish()
            outcome.callback(None)

        zerocopy.stream(request, segments, start, length, self.runIo).addCallbacks(
            sent, outcome.errback)
        return NOT_DONE_YET


def socketsAndFiles(directory):
    """
    What this process has open of sockets and of files under ``directory``
    (other descriptors come and go with threads and clients of other tests).
    """
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            name = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue  # the listing's own descriptor
        if name.startswith("socket:") or name.startswith(directory + os.sep):
            names.append(name)
    return sorted(names)


def rawGet(port, start, length, receiveBuffer=None, readUpTo=None, pause=0):
    """
    (headers, body) of a GET over a plain socket, reading in 64 KiB pieces
    (sleeping ``pause`` between them); with ``readUpTo`` it closes the
    connection once that many body bytes arrived (with an RST: unread data).
    """
    sock = socket.socket()
    try:
        if receiveBuffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receiveBuffer)
        sock.settimeout(60)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /?start=%d&length=%d HTTP/1.1\r\nHost: test\r\n\r\n"
                     % (start, length))
        received = b""
        while b"\r\n\r\n" not in received:
            piece = sock.recv(65536)
            if not piece:
                raise AssertionError("the connection ended in the headers")
            received += piece
        head, body = received.split(b"\r\n\r\n", 1)
        pieces = [body]
        got = len(body)
        while got < length and (readUpTo is None or got < readUpTo):
            if pause:
                time.sleep(pause)
            piece = sock.recv(65536)
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        return head, b"".join(pieces)
    finally:
        sock.close()


class SendfileTests(unittest.TestCase):
    """A real Site on 127.0.0.1 streaming segment files to real clients."""

    def setUp(self):
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)
        self.io = IoPool(4)
        self.io.startService()
        self.addCleanup(self.io.stopService)

    def listen(self, sizes):
        """Listen with segment files of ``sizes``; return their concatenated bytes."""
        paths, data = [], []
        for number, size in enumerate(sizes):
            path = os.path.join(self.dir, "segment-%d" % (number,))
            content = os.urandom(size)
            with open(path, "wb") as f:
                f.write(content)
            paths.append(path)
            data.append(content)
        self.resource = SegmentsResource(paths, self.io.run)
        self.port = listenClosingConnections(self, Site(self.resource)).getHost().port
        return b"".join(data)

    def get(self, start, length):
        def fetch():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                connection.request("GET", "/?start=%d&length=%d" % (start, length))
                response = connection.getresponse()
                return response.status, response.read()
            finally:
                connection.close()
        return threads.deferToThread(fetch)

    @defer.inlineCallbacks
    def waitForDescriptors(self, expected):
        """Wait (10 s at most) until the sockets and segment files open are ``expected``."""
        for _ in range(200):
            if socketsAndFiles(self.dir) == expected:
                break
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.assertEqual(socketsAndFiles(self.dir), expected)

    @defer.inlineCallbacks
    def test_wholeBodyArrivesExactly(self):
        """A 12 MiB body goes out with sendfile and arrives byte for byte, counted in sentLength."""
        data = self.listen([12 * MiB + 17])
        status, body = yield self.get(0, len(data))
        self.assertEqual(status, 200)
        self.assertEqual(body, data)
        served = self.resource.served[0]
        yield served["outcome"]
        self.assertTrue(served["sendfile"])
        self.assertEqual(served["request"].sentLength, len(data))
        self.assertTrue(all(handle.closed for handle, _size in served["segments"]))

    @defer.inlineCallbacks
    def test_range(self):
        """A range in the middle of the file is sent from its offset, exactly."""
        data = self.listen([5 * MiB])
        status, body = yield self.get(123457, 3 * MiB + 5)
        self.assertEqual(status, 200)
        self.assertEqual(body, data[123457:123457 + 3 * MiB + 5])
        self.assertTrue(self.resource.served[0]["sendfile"])

    @defer.inlineCallbacks
    def test_severalSegments(self):
        """A range across three segment files is sent from each in turn."""
        data = self.listen([MiB + 3, 2 * MiB, 700001])
        start, length = MiB - 100, 2 * MiB + 300000
        status, body = yield self.get(start, length)
        self.assertEqual(body, data[start:start + length])
        status, body = yield self.get(0, len(data))
        self.assertEqual(body, data)
        self.assertEqual([served["sendfile"] for served in self.resource.served], [True, True])

    @defer.inlineCallbacks
    def test_slowReader(self):
        """A client with a small receive buffer, reading slowly, still gets every byte."""
        data = self.listen([8 * MiB])
        head, body = yield threads.deferToThread(rawGet, self.port, 0, len(data),
                                                 receiveBuffer=8192, pause=0.001)
        self.assertIn(b" 200 ", head.split(b"\r\n")[0])
        self.assertEqual(body, data)
        served = self.resource.served[0]
        yield served["outcome"]
        self.assertTrue(served["sendfile"])

    @defer.inlineCallbacks
    def test_clientGoesAway(self):
        """A client that leaves midway stops the sending, and no descriptor is left open."""
        data = self.listen([64 * MiB])
        before = socketsAndFiles(self.dir)
        head, body = yield threads.deferToThread(rawGet, self.port, 0, len(data),
                                                 receiveBuffer=65536, readUpTo=MiB)
        self.assertLess(len(body), len(data))
        served = self.resource.served[0]
        self.assertTrue(served["sendfile"])
        yield self.assertFailure(served["outcome"], defer.CancelledError)
        self.assertLess(served["request"].sentLength, len(data))
        self.assertTrue(all(handle.closed for handle, _size in served["segments"]))
        yield self.waitForDescriptors(before)

    @defer.inlineCallbacks
    def test_tlsFallsBack(self):
        """Over TLS the bytes must be encrypted: they go through SegmentProducer, intact."""
        data = self.listen([2 * MiB])
        certificate = ssl.KeyPair.generate().selfSignedCert(1, CN="127.0.0.1")
        port = reactor.listenSSL(0, Site(self.resource), certificate.options(),
                                 interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        context = stdssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = stdssl.CERT_NONE

        def fetch():
            connection = http.client.HTTPSConnection(
                "127.0.0.1", port.getHost().port, context=context, timeout=60)
            try:
                connection.request("GET", "/?start=5&length=%d" % (len(data) - 5,))
                return connection.getresponse().read()
            finally:
                connection.close()
        body = yield threads.deferToThread(fetch)
        self.assertEqual(body, data[5:])
        self.assertFalse(self.resource.served[0]["sendfile"])

    def test_memoryTransportFallsBack(self):
        """An in-memory transport has no socket: SegmentProducer writes the body to it."""
        data = self.listen([MiB])

        def inline(f, *args):
            return defer.maybeDeferred(f, *args)
        self.resource.runIo = inline
        transport = StringTransport()
        channel = Site(self.resource).buildProtocol(None)
        channel.makeConnection(transport)
        channel.dataReceived(b"GET /?start=0&length=%d HTTP/1.1\r\nHost: test\r\n\r\n"
                             % (len(data),))
        self.assertFalse(self.resource.served[0]["sendfile"])
        self.assertTrue(transport.value().endswith(b"\r\n\r\n" + data))
        channel.connectionLost(None)

    def test_smallBodiesKeepTheProducer(self):
        """Below SENDFILE_MIN, or with no Content-Length, sendfile is not used."""
        request = plainTcpRequest(self, zerocopy.SENDFILE_MIN - 1)
        self.assertFalse(zerocopy.usable(request, zerocopy.SENDFILE_MIN - 1, reactor))
        request = plainTcpRequest(self, zerocopy.SENDFILE_MIN)
        self.assertTrue(zerocopy.usable(request, zerocopy.SENDFILE_MIN, reactor))
        request.responseHeaders.removeHeader(b"content-length")
        self.assertFalse(zerocopy.usable(request, zerocopy.SENDFILE_MIN, reactor))


def plainTcpRequest(testcase, length):
    """Just what ``usable`` asks of a GET with ``length`` bytes on a plain TCP connection."""
    sock = socket.socket()
    testcase.addCleanup(sock.close)

    @implementer(ITCPTransport, ISystemHandle)
    class Transport:
        def getHandle(self):
            return sock
    return types.SimpleNamespace(
        method=b"GET", code=200, transport=Transport(),
        responseHeaders=Headers({b"content-length": [b"%d" % (length,)]}))


class Boto3DownloadTests(unittest.TestCase):
    """A real Walrus on 127.0.0.1 sends large objects to boto3 with sendfile."""

    timeout = 240

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()
        self.senders = []
        senders = self.senders

        class CountedSender(zerocopy.SocketSender):
            def beginProducing(self, request):
                senders.append(self)
                return super().beginProducing(request)
        self.patch(zerocopy, "SocketSender", CountedSender)

    @defer.inlineCallbacks
    def test_download(self):
        """A 9 MiB object and a 12 MiB multipart one come back whole and in ranges."""
        from boto3.s3.transfer import TransferConfig
        plain, parted = os.urandom(9 * MiB + 1), os.urandom(12 * MiB + 3)
        client = self.live.s3Client()

        def run():
            client.create_bucket(Bucket="big")
            client.put_object(Bucket="big", Key="plain", Body=plain)
            client.upload_fileobj(io.BytesIO(parted), "big", "parted", Config=TransferConfig(
                multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, use_threads=False))
            answers = [client.get_object(Bucket="big", Key=key)["Body"].read()
                       for key in ("plain", "parted")]
            ranged = client.get_object(Bucket="big", Key="parted",
                                       Range="bytes=%d-%d" % (5 * MiB - 10, 10 * MiB + 10))
            answers.append(ranged["Body"].read())
            return answers
        whole, multi, ranged = yield self.live.inThread(run)
        self.assertEqual(whole, plain)
        self.assertEqual(multi, parted)
        self.assertEqual(ranged, parted[5 * MiB - 10:10 * MiB + 11])
        self.assertEqual(len(self.senders), 3)
        self.assertEqual([len(sender.segments) for sender in self.senders], [1, 3, 3])
