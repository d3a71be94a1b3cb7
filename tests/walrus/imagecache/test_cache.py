"""Walrus's image cache: decrypt once, LRU within its cap, survive restarts, fail cleanly."""

import os
import threading

from twisted.internet import defer, reactor
from twisted.python.threadpool import ThreadPool
from twisted.trial import unittest

from eucad.bundle import writer
from eucad.walrus.imagecache import ImageCache, ImageCacheError
from tests.bundle.helpers import keyPair


class QueuedThreads:
    """A ``runInThread`` whose work waits until the test runs it."""

    def __init__(self):
        self.pending = []

    def __call__(self, f, *args):
        d = defer.Deferred()
        self.pending.append((f, args, d))
        return d

    def runAll(self):
        while self.pending:
            f, args, d = self.pending.pop(0)
            try:
                result = f(*args)
            except Exception:
                d.errback()
            else:
                d.callback(result)


class ImageCacheTests(unittest.TestCase):

    def setUp(self):
        self.userKey, self.userCert = keyPair("alice")
        self.cloudKey, self.cloudCert = keyPair("cloud")
        self.bundles = self.mktemp()
        os.makedirs(self.bundles)
        self.cacheDir = os.path.join(self.mktemp(), "cache")
        self.threads = QueuedThreads()
        self.opened = []

    def bundle(self, name, size):
        path = os.path.join(self.bundles, name)
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        manifestPath, _ = writer.bundleImage(path, self.bundles, self.userCert,
                                             self.userKey, self.cloudCert,
                                             partSize=16 * 1024)
        with open(manifestPath, "rb") as f:
            return f.read(), path

    def openPart(self, name):
        self.opened.append(name)
        return open(os.path.join(self.bundles, name), "rb")

    def makeCache(self, capacity=10 * 1024 * 1024):
        cache = ImageCache(self.cacheDir, capacity, self.cloudKey, self.threads)
        d = cache.start()
        self.threads.runAll()
        self.successResultOf(d)
        return cache

    def fetch(self, cache, manifest):
        d = cache.fetch(manifest, self.openPart)
        self.threads.runAll()
        return d

    def image(self, d):
        """The ``CachedImage`` of a successful fetch (its file closed at the end)."""
        opened = self.successResultOf(d)
        self.addCleanup(opened.file.close)
        return opened.image

    def assertSameFile(self, cachedPath, originalPath):
        with open(cachedPath, "rb") as a, open(originalPath, "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_decryptsOnceForConcurrentRequests(self):
        """Two fetches of one bundle, the second while the first runs, decrypt once."""
        cache = self.makeCache()
        manifest, original = self.bundle("one.img", 100 * 1024)
        first = cache.fetch(manifest, self.openPart)
        second = cache.fetch(manifest, self.openPart)
        self.threads.runAll()
        a, b = self.image(first), self.image(second)
        self.assertEqual(a, b)
        self.assertEqual(cache.decryptions, 1)
        self.assertEqual(len(self.opened), len(set(self.opened)))
        self.assertSameFile(a.path, original)
        self.assertEqual(a.size, 100 * 1024)

    def test_cachedFetchReadsNothing(self):
        """A cached image is returned without reading a part again."""
        cache = self.makeCache()
        manifest, _ = self.bundle("one.img", 40 * 1024)
        self.image(self.fetch(cache, manifest))
        self.opened.clear()
        self.image(self.fetch(cache, manifest))
        self.assertEqual((self.opened, cache.decryptions), ([], 1))

    def test_fileModes(self):
        """The cache directory is 0700 and its images 0600."""
        cache = self.makeCache()
        manifest, _ = self.bundle("one.img", 1024)
        image = self.image(self.fetch(cache, manifest))
        self.assertEqual(os.stat(self.cacheDir).st_mode & 0o777, 0o700)
        self.assertEqual(os.stat(image.path).st_mode & 0o777, 0o600)

    def test_survivesRestart(self):
        """A new cache over the same directory knows the images decrypted before."""
        cache = self.makeCache()
        manifest, _ = self.bundle("one.img", 30 * 1024)
        image = self.image(self.fetch(cache, manifest))
        again = self.makeCache()
        self.assertEqual(again.cached(manifest), image)

    def test_restartRemovesHalfDoneFiles(self):
        """Partial files and entries missing a half are deleted at start."""
        cache = self.makeCache()
        manifest, _ = self.bundle("one.img", 30 * 1024)
        image = self.image(self.fetch(cache, manifest))
        partial = os.path.join(self.cacheDir, "a" * 40 + ".partial")
        orphan = os.path.join(self.cacheDir, "b" * 40 + ".img")
        for path in (partial, orphan):
            with open(path, "wb") as f:
                f.write(b"junk")
        os.remove(image.path[:-4] + ".json")
        again = self.makeCache()
        self.assertIsNone(again.cached(manifest))
        self.assertEqual(os.listdir(self.cacheDir), [])

    def test_leastRecentlyUsedEvicted(self):
        """Past the cap, the least recently used image goes; the one just used stays."""
        cache = self.makeCache(capacity=250 * 1024)
        a, _ = self.bundle("a.img", 100 * 1024)
        b, _ = self.bundle("b.img", 100 * 1024)
        c, _ = self.bundle("c.img", 100 * 1024)
        imageA = self.image(self.fetch(cache, a))
        imageB = self.image(self.fetch(cache, b))
        self.image(self.fetch(cache, a))
        self.image(self.fetch(cache, c))
        self.assertIsNone(cache.cached(b))
        self.assertFalse(os.path.exists(imageB.path))
        self.assertTrue(os.path.exists(imageA.path))
        self.assertIsNotNone(cache.cached(c))

    def test_refetchAfterEviction(self):
        """An image evicted and fetched again at once is whole on disk afterwards:
        the eviction's deletion never removes the new copy."""
        cache = self.makeCache(capacity=150 * 1024)
        a, original = self.bundle("a.img", 100 * 1024)
        b, _ = self.bundle("b.img", 100 * 1024)
        self.image(self.fetch(cache, a))
        evicting = cache.fetch(b, self.openPart)
        again = cache.fetch(a, self.openPart)
        self.threads.runAll()
        self.image(evicting)
        opened = self.successResultOf(again)
        self.addCleanup(opened.file.close)
        with open(original, "rb") as f:
            self.assertEqual(opened.file.read(), f.read())

    def test_smallerCapacityEvictsAtOnce(self):
        """A smaller capacity evicts the least recently used images at once (files gone), and the new limit governs what comes next."""
        cache = self.makeCache(capacity=500 * 1024)
        a, _ = self.bundle("a.img", 100 * 1024)
        b, _ = self.bundle("b.img", 100 * 1024)
        c, _ = self.bundle("c.img", 100 * 1024)
        imageA = self.image(self.fetch(cache, a))
        imageB = self.image(self.fetch(cache, b))
        imageC = self.image(self.fetch(cache, c))
        self.image(self.fetch(cache, a))
        d = cache.setCapacity(150 * 1024)
        self.threads.runAll()
        self.assertEqual(sorted(self.successResultOf(d)),
                         sorted(os.path.basename(p)[:-4] for p in (imageB.path, imageC.path)))
        self.assertEqual((cache.capacity, cache.used), (150 * 1024, 100 * 1024))
        self.assertEqual([os.path.exists(i.path) for i in (imageA, imageB, imageC)],
                         [True, False, False])
        self.assertEqual(sorted(os.listdir(self.cacheDir)),
                         sorted(os.path.basename(imageA.path[:-4]) + suffix
                                for suffix in (".img", ".json")))
        # The next image does not fit beside A any more: A goes.
        self.image(self.fetch(cache, b))
        self.assertIsNone(cache.cached(a))
        self.assertEqual(self.successResultOf(self._settled(cache.setCapacity(1024 * 1024))),
                         [])

    def _settled(self, d):
        self.threads.runAll()
        return d

    def test_capacityMustBePositive(self):
        """A capacity that is not a positive number of bytes is refused and changes nothing."""
        cache = self.makeCache(capacity=500 * 1024)
        for bad in (0, -1, "10", 1.5, True):
            self.assertRaises(ValueError, cache.setCapacity, bad)
        self.assertEqual(cache.capacity, 500 * 1024)

    def test_largerThanCache(self):
        """An image larger than the whole cache fails with the reason."""
        cache = self.makeCache(capacity=10 * 1024)
        manifest, _ = self.bundle("big.img", 20 * 1024)
        failure = self.failureResultOf(self.fetch(cache, manifest), ImageCacheError)
        self.assertIn("larger than the whole image cache", str(failure.value))

    def test_corruptPartLeavesNothing(self):
        """A corrupt part fails every waiter with the reason and leaves no file."""
        cache = self.makeCache()
        manifest, _ = self.bundle("one.img", 100 * 1024)
        with open(os.path.join(self.bundles, "one.img.part.02"), "r+b") as f:
            f.write(b"damage")
        first = cache.fetch(manifest, self.openPart)
        second = cache.fetch(manifest, self.openPart)
        self.threads.runAll()
        for d in (first, second):
            failure = self.failureResultOf(d, ImageCacheError)
            self.assertIn("one.img.part.02 is corrupt", str(failure.value))
        self.assertEqual(os.listdir(self.cacheDir), [])
        self.assertIsNone(cache.cached(manifest))

    def test_missingPart(self):
        """A missing part fails with its name."""
        cache = self.makeCache()
        manifest, _ = self.bundle("one.img", 40 * 1024)
        os.remove(os.path.join(self.bundles, "one.img.part.01"))
        failure = self.failureResultOf(self.fetch(cache, manifest), ImageCacheError)
        self.assertIn("one.img.part.01", str(failure.value))

    def test_wrongCloudKey(self):
        """A bundle encrypted to another certificate fails with that reason."""
        cache = self.makeCache()
        cache.cloudKey = keyPair("bob")[0]
        manifest, _ = self.bundle("one.img", 1024)
        failure = self.failureResultOf(self.fetch(cache, manifest), ImageCacheError)
        self.assertIn("not encrypted to this certificate", str(failure.value))

    def test_unreadableManifest(self):
        """A manifest that is not XML fails with the parser's reason."""
        cache = self.makeCache()
        failure = self.failureResultOf(self.fetch(cache, b"garbage"), ImageCacheError)
        self.assertIn("not well-formed", str(failure.value))


class ThreadPoolTests(unittest.TestCase):

    @defer.inlineCallbacks
    def test_decryptsInWorkerThread(self):
        """With a real thread pool the parts are read off the reactor thread."""
        userKey, userCert = keyPair("alice")
        cloudKey, cloudCert = keyPair("cloud")
        bundles = self.mktemp()
        os.makedirs(bundles)
        path = os.path.join(bundles, "t.img")
        with open(path, "wb") as f:
            f.write(os.urandom(64 * 1024))
        manifestPath, _ = writer.bundleImage(path, bundles, userCert, userKey, cloudCert)
        pool = ThreadPool(1, 2)
        pool.start()
        self.addCleanup(pool.stop)
        cache = ImageCache.withThreadPool(self.mktemp(), 1 << 20, cloudKey, reactor, pool)
        yield cache.start()
        threadsSeen = []

        def openPart(name):
            threadsSeen.append(threading.current_thread())
            return open(os.path.join(bundles, name), "rb")
        with open(manifestPath, "rb") as f:
            opened = yield cache.fetch(f.read(), openPart)
        opened.file.close()
        self.assertNotIn(threading.main_thread(), threadsSeen)
        self.assertEqual(opened.image.size, 64 * 1024)
