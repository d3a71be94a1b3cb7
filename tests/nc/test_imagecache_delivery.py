"""The node's image cache against the cloud's delivery port: waiting, sharing, LRU, start."""

import hashlib
import json
import os

from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial import unittest
from twisted.web.resource import Resource

from eucad.nc.imagecache import (IMAGE_FILE, RECORD_FILE, CacheFull, ImageCache,
                                 ImageFetchError, entryName)
from tests.heldthreads import HeldThreads, runNow

URL = "https://cloud.example:8776/images/"


class DeliveryPort(Resource):
    """Answers 503 (Retry-After) ``notReady`` times per image, then its bytes."""

    isLeaf = True

    def __init__(self, images, notReady=0):
        Resource.__init__(self)
        self.images = images
        self.notReady = notReady
        self.requests = []

    def render_GET(self, request):
        imageId = request.path.decode().rpartition("/")[2]
        self.requests.append(imageId)
        if self.requests.count(imageId) <= self.notReady:
            request.setResponseCode(503)
            request.setHeader(b"Retry-After", b"2")
            return b"still being decrypted\n"
        return self.images[imageId]


def ref(imageId, data):
    return {"id": imageId, "kind": "machine", "location": URL + imageId,
            "digest": "sha1:" + hashlib.sha1(data).hexdigest()}


class DeliveryFetchTests(unittest.TestCase):

    def setUp(self):
        self.cacheDir = os.path.abspath(self.mktemp())
        self.clock = Clock()
        self.images = {"emi-0000000%d" % i: os.urandom(1000) + b"%d" % i for i in range(4)}

    def cache(self, port, **kwargs):
        kwargs.setdefault("runInThread", runNow)
        return ImageCache(self.cacheDir, httpClient=StubTreq(port), clock=self.clock,
                          **kwargs)

    def test_waitsWhileTheImageIsPending(self):
        """503 with Retry-After is asked again after the wait, and the image then cached."""
        port = DeliveryPort(self.images, notReady=2)
        cache = self.cache(port)
        image = ref("emi-00000000", self.images["emi-00000000"])
        d = cache.fetch(image)
        self.assertNoResult(d)
        self.clock.advance(2)
        self.assertNoResult(d)
        self.clock.advance(2)
        path = self.successResultOf(d)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), self.images["emi-00000000"])
        self.assertEqual(len(port.requests), 3)

    def test_waitIsBounded(self):
        """An image that stays pending fails the fetch after readyTimeout, leaving nothing."""
        port = DeliveryPort(self.images, notReady=1000)
        cache = self.cache(port, readyTimeout=9)
        d = cache.fetch(ref("emi-00000000", self.images["emi-00000000"]))
        for _ in range(10):
            self.clock.advance(2)
        failure = self.failureResultOf(d, ImageFetchError)
        self.assertIn("still not ready", str(failure.value))
        self.assertLessEqual(len(port.requests), 6)
        self.assertEqual(os.listdir(self.cacheDir) if os.path.isdir(self.cacheDir) else [],
                         [])

    def test_tenLaunchesFetchOnce(self):
        """Ten concurrent fetches of one image make one request and share its path."""
        port = DeliveryPort(self.images)
        held = HeldThreads()
        cache = self.cache(port, runInThread=held)
        image = ref("emi-00000001", self.images["emi-00000001"])
        fetches = [cache.fetch(image) for _ in range(10)]
        held.releaseAll()
        paths = {self.successResultOf(d) for d in fetches}
        self.assertEqual(len(paths), 1)
        self.assertEqual(port.requests, ["emi-00000001"])
        self.assertEqual(cache.downloads, 1)

    @defer.inlineCallbacks
    def test_leastRecentlyUsedEvicted(self):
        """Past the capacity, the least recently used entry goes; a reused one stays."""
        port = DeliveryPort(self.images)
        size = len(self.images["emi-00000000"])
        cache = self.cache(port, capacity=int(2.5 * size))
        refs = [ref(imageId, data) for imageId, data in sorted(self.images.items())]
        first = yield cache.fetch(refs[0])
        yield cache.fetch(refs[1])
        os.utime(os.path.dirname(first), (1, 1))
        os.utime(os.path.join(self.cacheDir, entryName(refs[1])), (2, 2))
        yield cache.fetch(refs[0])  # used again: now the most recent
        yield cache.fetch(refs[2])
        self.assertEqual(sorted(os.listdir(self.cacheDir)),
                         sorted([entryName(refs[0]), entryName(refs[2])]))

    @defer.inlineCallbacks
    def test_imagesInUseAreKept(self):
        """An entry an instance uses is never evicted: a new image that cannot fit fails."""
        port = DeliveryPort(self.images)
        size = len(self.images["emi-00000000"])
        refs = [ref(imageId, data) for imageId, data in sorted(self.images.items())]
        cache = self.cache(port, capacity=int(1.5 * size),
                           inUse=lambda: {entryName(refs[0])})
        yield cache.fetch(refs[0])
        yield self.assertFailure(cache.fetch(refs[1]), CacheFull)
        self.assertEqual(os.listdir(self.cacheDir), [entryName(refs[0])])


class StartCheckTests(unittest.TestCase):

    def setUp(self):
        self.cacheDir = os.path.abspath(self.mktemp())
        os.makedirs(self.cacheDir)

    def entry(self, name, data, recordedSize):
        directory = os.path.join(self.cacheDir, name)
        os.makedirs(directory)
        with open(os.path.join(directory, IMAGE_FILE), "wb") as f:
            f.write(data)
        if recordedSize is not None:
            with open(os.path.join(directory, RECORD_FILE), "w") as f:
                json.dump({"size": recordedSize}, f)

    def test_startRemovesHalfWrittenAndDamagedEntries(self):
        """start keeps whole entries and removes partial, unrecorded and cut ones."""
        self.entry("emi-00000001-" + "a" * 40, b"whole", 5)
        self.entry("emi-00000002-" + "b" * 40, b"cut", 5)
        self.entry("emi-00000003-" + "c" * 40, b"no record", None)
        self.entry(".partial-emi-00000004-" + "d" * 40 + "-x", b"half", None)
        cache = ImageCache(self.cacheDir, runInThread=runNow, clock=Clock())
        kept = self.successResultOf(cache.start())
        self.assertEqual(list(kept), ["emi-00000001-" + "a" * 40])
        self.assertEqual(os.listdir(self.cacheDir), ["emi-00000001-" + "a" * 40])

    def test_fetchWaitsForTheCheck(self):
        """A fetch asked while start's check runs waits for it, so the check never
        removes that fetch's half-written files."""
        held = HeldThreads()
        data = b"image bytes"
        port = DeliveryPort({"emi-00000009": data})
        cache = ImageCache(self.cacheDir, runInThread=held, httpClient=StubTreq(port),
                           clock=Clock())
        checked = cache.start()
        fetched = cache.fetch(ref("emi-00000009", data))
        self.assertEqual([call[0].__name__ for call in held.calls], ["scanCache"])
        held.releaseAll()
        self.successResultOf(checked)
        self.assertTrue(os.path.isfile(self.successResultOf(fetched)))
        self.assertEqual(port.requests, ["emi-00000009"])
