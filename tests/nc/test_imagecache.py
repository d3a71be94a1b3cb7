"""Tests for eucad.nc.imagecache: fetching images once, whole and checked."""

import hashlib
import os

from treq.testing import StubTreq
from twisted.internet import defer
from twisted.trial import unittest
from twisted.web.resource import Resource

from eucad.nc.imagecache import (IMAGE_FILE, DigestMismatch, ImageCache,
                                 ImageFetchError, entryName, parseDigest)


def runNow(function, *args):
    """A runInThread that runs at once (the tests own the only thread)."""
    return defer.maybeDeferred(function, *args)


class HeldThreads:
    """A runInThread whose calls wait until the test releases them."""

    def __init__(self):
        self.calls = []

    def __call__(self, function, *args):
        d = defer.Deferred()
        self.calls.append((function, args, d))
        return d

    def releaseAll(self):
        """Run every waiting call (and those they queue), in order."""
        while self.calls:
            function, args, d = self.calls.pop(0)
            try:
                result = function(*args)
            except Exception:
                d.errback()
            else:
                d.callback(result)


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
