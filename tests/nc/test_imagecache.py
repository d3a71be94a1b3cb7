"""Tests for eucad.nc.imagecache: fetching images once, whole and checked."""

import hashlib
import os

from treq.client import HTTPClient
from treq.testing import StubTreq
from twisted.internet import defer, protocol
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial import unittest
from twisted.web.client import (Agent, HTTPConnectionPool, PotentialDataLoss, ResponseDone,
                                ResponseFailed)
from twisted.web.resource import Resource

from eucad.nc.imagecache import (IMAGE_FILE, DigestMismatch, ImageCache,
                                 ImageFetchError, entryName, parseDigest)
from tests.heldthreads import HeldThreads, runNow


class ParseDigestTests(unittest.TestCase):
    """The digest forms an image record may carry."""

    def test_bareHexByLength(self):
        """Bare hex digests are told apart by their length."""
        self.assertEqual(parseDigest("ab" * 20), ("sha1", "ab" * 20))
        self.assertEqual(parseDigest("AB" * 32), ("sha256", "ab" * 32))
        self.assertEqual(parseDigest("0" * 32), ("md5", "0" * 32))

    def test_prefixed(self):
        """An algorithm prefix is honoured."""
        self.assertEqual(parseDigest("sha512:" + "1" * 128), ("sha512", "1" * 128))

    def test_none(self):
        """No digest is (None, None)."""
        self.assertEqual(parseDigest(None), (None, None))
        self.assertEqual(parseDigest(""), (None, None))

    def test_bad(self):
        """Non-hex, unknown algorithms and wrong lengths are refused."""
        for bad in ["xyz", "sha1:" + "a" * 64, "crc32:deadbeef", "abc", 12]:
            self.assertRaises(ValueError, parseDigest, bad)


class LocalFetchTests(unittest.TestCase):
    """Images whose location is a local path."""

    def setUp(self):
        self.base = os.path.abspath(self.mktemp())
        os.makedirs(self.base)
        self.cacheDir = os.path.join(self.base, "cache")
        self.source = os.path.join(self.base, "source.img")
        # 1 MiB of data, 4 MiB of zeros, then a tail: 5 MiB + 3 bytes.
        self.data = b"kernel bytes " * 80660 + b"\0" * (4 * 1024 * 1024 + 4) + b"end"
        with open(self.source, "wb") as f:
            f.write(self.data)

    def image(self, digest=None):
        return {"id": "eki-0000beef", "kind": "kernel", "location": self.source,
                "digest": digest}

    def cacheEntries(self):
        return sorted(os.listdir(self.cacheDir)) if os.path.isdir(self.cacheDir) else []

    @defer.inlineCallbacks
    def test_copiesIntoNamedEntry(self):
        """The image lands in <cache>/<id>-<digest>/image with the same bytes."""
        digest = hashlib.sha256(self.data).hexdigest()
        cache = ImageCache(self.cacheDir, runInThread=runNow)
        path = yield cache.fetch(self.image(digest))
        self.assertEqual(path, os.path.join(self.cacheDir, "eki-0000beef-" + digest,
                                            IMAGE_FILE))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), self.data)
        self.assertEqual(self.cacheEntries(), ["eki-0000beef-" + digest])

    @defer.inlineCallbacks
    def test_zeroRunsStaySparse(self):
        """Runs of zeros in the image are holes in the cached copy."""
        cache = ImageCache(self.cacheDir, runInThread=runNow)
        path = yield cache.fetch(self.image())
        self.assertEqual(os.path.getsize(path), len(self.data))
        # At most the first and the last MiB-sized chunks hold blocks.
        self.assertLessEqual(os.stat(path).st_blocks * 512, 2 * 1024 * 1024 + 65536)

    @defer.inlineCallbacks
    def test_cachedEntryIsReused(self):
        """A second fetch uses the cached entry even when the source is gone."""
        cache = ImageCache(self.cacheDir, runInThread=runNow)
        first = yield cache.fetch(self.image("sha1:" + hashlib.sha1(self.data).hexdigest()))
        os.unlink(self.source)
        second = yield cache.fetch(self.image("sha1:" + hashlib.sha1(self.data).hexdigest()))
        self.assertEqual(first, second)

    @defer.inlineCallbacks
    def test_withoutDigestKeyedByLocation(self):
        """Without a digest the entry is named after a hash of the location."""
        cache = ImageCache(self.cacheDir, runInThread=runNow)
        path = yield cache.fetch(self.image())
        name = entryName(self.image())
        self.assertTrue(name.startswith("eki-0000beef-loc"))
        self.assertEqual(path, os.path.join(self.cacheDir, name, IMAGE_FILE))

    @defer.inlineCallbacks
    def test_digestMismatchLeavesNothing(self):
        """A wrong digest fails the fetch and leaves no entry, partial or final."""
        cache = ImageCache(self.cacheDir, runInThread=runNow)
        failure = yield self.assertFailure(cache.fetch(self.image("0" * 64)),
                                           DigestMismatch)
        self.assertIn("expected " + "0" * 64, str(failure))
        self.assertEqual(self.cacheEntries(), [])

    @defer.inlineCallbacks
    def test_missingSource(self):
        """A source that does not exist is an ImageFetchError."""
        cache = ImageCache(self.cacheDir, runInThread=runNow)
        image = dict(self.image(), location=os.path.join(self.base, "nothing"))
        yield self.assertFailure(cache.fetch(image), ImageFetchError)
        self.assertEqual(self.cacheEntries(), [])

    @defer.inlineCallbacks
    def test_relativeLocationRefused(self):
        """A location that is neither absolute nor http(s) is refused."""
        cache = ImageCache(self.cacheDir, runInThread=runNow)
        yield self.assertFailure(cache.fetch(dict(self.image(), location="rel/x")),
                                 ImageFetchError)

    @defer.inlineCallbacks
    def test_concurrentFetchesShareOne(self):
        """Two fetches of one image while the first is running copy it once."""
        held = HeldThreads()
        cache = ImageCache(self.cacheDir, runInThread=held)
        first = cache.fetch(self.image())
        second = cache.fetch(self.image())
        # Only the first fetch asked for thread work: the existence check.
        self.assertEqual(len(held.calls), 1)
        self.assertNoResult(second)
        held.releaseAll()
        paths = yield defer.gatherResults([first, second])
        self.assertEqual(paths[0], paths[1])
        with open(paths[0], "rb") as f:
            self.assertEqual(f.read(), self.data)

    @defer.inlineCallbacks
    def test_concurrentFailureReachesAllAndIsRetried(self):
        """A failed shared fetch fails every waiter; a later fetch tries again."""
        held = HeldThreads()
        cache = ImageCache(self.cacheDir, runInThread=held)
        bad = self.image("0" * 64)
        first, second = cache.fetch(bad), cache.fetch(bad)
        held.releaseAll()
        yield self.assertFailure(first, DigestMismatch)
        yield self.assertFailure(second, DigestMismatch)
        third = cache.fetch(self.image())
        held.releaseAll()
        path = yield third
        self.assertTrue(os.path.isfile(path))

    @defer.inlineCallbacks
    def test_realThreads(self):
        """With the reactor's thread pool, parallel fetches agree and leave one entry."""
        cache = ImageCache(self.cacheDir)
        paths = yield defer.gatherResults([cache.fetch(self.image()) for _ in range(4)])
        self.assertEqual(len(set(paths)), 1)
        self.assertEqual(self.cacheEntries(), [entryName(self.image())])


class ImageBody(Resource):
    """Serves one body (or a status) at /bucket/image, counting requests."""

    isLeaf = True

    def __init__(self, body, code=200):
        Resource.__init__(self)
        self.body = body
        self.code = code
        self.requests = 0

    def render_GET(self, request):
        self.requests += 1
        request.setResponseCode(self.code)
        return self.body


class HttpFetchTests(unittest.TestCase):
    """Images whose location is an http(s) URL (a Walrus object)."""

    url = "http://walrus.example:8773/services/Walrus/bucket/image"

    def setUp(self):
        self.cacheDir = os.path.abspath(self.mktemp())
        self.data = os.urandom(300000) + b"\0" * 2000000

    def image(self, digest):
        return {"id": "emi-0000cafe", "kind": "machine", "location": self.url,
                "digest": digest}

    @defer.inlineCallbacks
    def test_downloadWithDigest(self):
        """The body is streamed into the entry and checked against the digest."""
        resource = ImageBody(self.data)
        cache = ImageCache(self.cacheDir, runInThread=runNow,
                           httpClient=StubTreq(resource))
        digest = hashlib.sha256(self.data).hexdigest()
        path = yield cache.fetch(self.image(digest))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), self.data)
        yield cache.fetch(self.image(digest))
        self.assertEqual(resource.requests, 1)

    @defer.inlineCallbacks
    def test_downloadDigestMismatch(self):
        """A body with the wrong digest leaves nothing in the cache."""
        cache = ImageCache(self.cacheDir, runInThread=runNow,
                           httpClient=StubTreq(ImageBody(self.data)))
        yield self.assertFailure(cache.fetch(self.image("1" * 40)), DigestMismatch)
        self.assertEqual(os.listdir(self.cacheDir), [])

    @defer.inlineCallbacks
    def test_httpError(self):
        """A non-200 answer is an ImageFetchError and makes no entry."""
        cache = ImageCache(self.cacheDir, runInThread=runNow,
                           httpClient=StubTreq(ImageBody(b"<Error/>", 404)))
        failure = yield self.assertFailure(cache.fetch(self.image(None)), ImageFetchError)
        self.assertIn("HTTP 404", str(failure))
        self.assertFalse(os.path.exists(self.cacheDir) and os.listdir(self.cacheDir))


class HeldResponse:
    """A 200 response whose body the test feeds through the protocol it was given."""

    code = 200

    def __init__(self):
        self.transport = StringTransport()
        self.protocol = None

    def deliverBody(self, protocol):
        self.protocol = protocol
        protocol.makeConnection(self.transport)


class HeldHttpClient:
    """Stands in for treq: every get waits until the test answers it."""

    def __init__(self):
        self.gets = []
        self.cancelled = []

    def get(self, url, **kwargs):
        d = defer.Deferred(lambda d: self.cancelled.append(url))
        self.gets.append((url, d))
        return d


class HttpStallTests(unittest.TestCase):
    """A Walrus that stops answering fails the fetch instead of holding it forever."""

    url = "http://walrus.example:8773/services/Walrus/bucket/image"

    def setUp(self):
        self.cacheDir = os.path.abspath(self.mktemp())
        self.clock = Clock()
        self.http = HeldHttpClient()
        self.cache = ImageCache(self.cacheDir, runInThread=runNow, httpClient=self.http,
                                clock=self.clock, responseTimeout=30, idleTimeout=20)

    def image(self, digest=None):
        return {"id": "emi-0000cafe", "kind": "machine", "location": self.url,
                "digest": digest}

    def answer(self):
        """Answer the last get with a 200 whose body the test feeds."""
        response = HeldResponse()
        self.http.gets[-1][1].callback(response)
        return response

    def entries(self):
        return os.listdir(self.cacheDir) if os.path.isdir(self.cacheDir) else []

    def test_noResponseTimesOut(self):
        """A server that never answers fails the fetch and every fetch sharing it; the next one retries."""
        first, second = self.cache.fetch(self.image()), self.cache.fetch(self.image())
        self.clock.advance(29)
        self.assertNoResult(first)
        self.clock.advance(1)
        self.assertIn("no response in 30 seconds",
                      str(self.failureResultOf(first, ImageFetchError).value))
        self.failureResultOf(second, ImageFetchError)
        self.assertEqual(self.http.cancelled, [self.url])
        self.cache.fetch(self.image())
        self.assertEqual(len(self.http.gets), 2)

    def test_stalledBodyTimesOut(self):
        """A body that stops arriving fails the fetch, stops the download and removes the partial entry."""
        d = self.cache.fetch(self.image())
        response = self.answer()
        for _ in range(3):
            self.clock.advance(19)
            response.protocol.dataReceived(b"x" * 1000)
        self.assertNoResult(d)
        self.assertEqual(len(self.entries()), 1)
        self.clock.advance(20)
        self.assertIn("no data for 20 seconds",
                      str(self.failureResultOf(d, ImageFetchError).value))
        self.assertEqual(response.transport.producerState, "stopped")
        self.assertEqual(self.entries(), [])
        response.protocol.connectionLost(Failure(ResponseFailed([Failure(ConnectionLost())])))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_completedBodyCancelsIdleTimer(self):
        """A body that completes leaves no idle timer behind."""
        d = self.cache.fetch(self.image())
        response = self.answer()
        response.protocol.dataReceived(b"image")
        response.protocol.connectionLost(Failure(ResponseDone()))
        self.assertTrue(os.path.isfile(self.successResultOf(d)))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_unknownLengthWithoutDigestRefused(self):
        """A body without Content-Length that ends by a close is not cached when no digest can check it."""
        d = self.cache.fetch(self.image())
        response = self.answer()
        response.protocol.dataReceived(b"maybe the whole image")
        response.protocol.connectionLost(Failure(PotentialDataLoss()))
        self.assertIn("no length and no digest",
                      str(self.failureResultOf(d, ImageFetchError).value))
        self.assertEqual(self.entries(), [])

    def test_unknownLengthWithDigestAccepted(self):
        """A body without Content-Length is cached when it matches the image's digest."""
        body = b"the whole image"
        d = self.cache.fetch(self.image(hashlib.sha256(body).hexdigest()))
        response = self.answer()
        response.protocol.dataReceived(body)
        response.protocol.connectionLost(Failure(PotentialDataLoss()))
        with open(self.successResultOf(d), "rb") as f:
            self.assertEqual(f.read(), body)

    def test_unknownLengthTruncatedFailsDigest(self):
        """A cut body without Content-Length fails its digest and is not cached."""
        body = b"the whole image"
        d = self.cache.fetch(self.image(hashlib.sha256(body).hexdigest()))
        response = self.answer()
        response.protocol.dataReceived(body[:5])
        response.protocol.connectionLost(Failure(PotentialDataLoss()))
        self.failureResultOf(d, DigestMismatch)
        self.assertEqual(self.entries(), [])


class StallingServer(protocol.Protocol):
    """Answers any request with headers and a little of a long body, then goes quiet."""

    def connectionMade(self):
        self.factory.connections.append(self)

    def dataReceived(self, data):
        if b"\r\n\r\n" in data:
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"
                                 + b"x" * 100)

    def connectionLost(self, reason):
        self.factory.lost.callback(None)


class RealStallTests(unittest.TestCase):
    """The idle timeout against a real, stalling HTTP server on 127.0.0.1."""

    @defer.inlineCallbacks
    def test_stalledServerConnectionClosed(self):
        """A server that stops mid-body fails the fetch and sees its connection closed."""
        from twisted.internet import reactor
        factory = protocol.Factory.forProtocol(StallingServer)
        factory.connections, factory.lost = [], defer.Deferred()
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        client = HTTPClient(Agent(reactor, pool=pool))
        cacheDir = os.path.abspath(self.mktemp())
        cache = ImageCache(cacheDir, httpClient=client, responseTimeout=5, idleTimeout=0.2)
        url = "http://127.0.0.1:%d/bucket/image" % (port.getHost().port,)
        image = {"id": "emi-0000cafe", "kind": "machine", "location": url, "digest": None}
        failure = yield self.assertFailure(cache.fetch(image), ImageFetchError)
        self.assertIn("no data for 0.2 seconds", str(failure))
        yield factory.lost
        self.assertEqual(os.listdir(cacheDir), [])
