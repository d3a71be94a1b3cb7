"""The twistd plugin's service tree, and the configuration it reads."""

import os

from twisted.internet import defer
from twisted.trial import unittest

from eucad.common.config import EucaConf
from eucad.common.db import Database
from eucad.common.listening import ListeningService
from eucad.walrus import tap
from eucad.walrus.app import IoPool, StoreStartup, limitsFromConf
from eucad.walrus.bucketmove import BucketDirectoryService
from eucad.walrus.lifecycleservice import LifecycleService


class TapTests(unittest.TestCase):
    def makeOptions(self, settings):
        prefix = os.path.abspath(self.mktemp())
        conf = EucaConf(os.path.join(prefix, "etc", "eucalyptus", "eucalyptus.conf"))
        for key, value in settings.items():
            conf.set(key, value)
        conf.save()
        options = tap.Options()
        options.parseOptions(["--prefix", prefix])
        return prefix, options

    def test_serviceTreeWithoutIo(self):
        """makeService builds log, database, I/O pool, bucket directory watch, sweep, lifecycle timer and port, touching no file."""
        prefix, options = self.makeOptions({"WALRUS_PORT": "18999",
                                            "WALRUS_LISTEN": "127.0.0.1"})
        before = sorted(os.listdir(prefix))
        root = tap.makeService(options)
        kinds = [type(child) for child in root]
        self.assertEqual(kinds[1:], [Database, IoPool, BucketDirectoryService, StoreStartup,
                                     LifecycleService, ListeningService])
        server = list(root)[-1]
        self.assertEqual(server.description, "tcp:18999:interface=127.0.0.1")
        self.assertTrue(list(root)[1].url.endswith("var/lib/eucalyptus/db/eucalyptus.db"))
        self.assertEqual(sorted(os.listdir(prefix)), before)
        self.assertEqual(root.walrus.blobs.root,
                         os.path.join(prefix, "var", "lib", "eucalyptus", "bukkits"))

    def test_limitsFromConfiguration(self):
        """Bucket count and size limits come from the conf, with Walrus's defaults."""
        _, options = self.makeOptions({"WALRUS_MAX_BUCKETS_PER_USER": "7",
                                       "WALRUS_MAX_BUCKET_SIZE_MB": "2"})
        limits = limitsFromConf(options.conf)
        self.assertEqual((limits.maxBucketsPerUser, limits.maxBucketBytes), (7, 2 * 1024 * 1024))
        _, plain = self.makeOptions({})
        defaults = limitsFromConf(plain.conf)
        self.assertEqual((defaults.maxBucketsPerUser, defaults.maxBucketBytes),
                         (5, 5120 * 1024 * 1024))

    def test_lifecycleIntervalFromConfiguration(self):
        """The lifecycle timer ticks every WALRUS_LIFECYCLE_SECONDS, an hour by default."""
        _, options = self.makeOptions({"WALRUS_LIFECYCLE_SECONDS": "42"})
        timers = [c for c in tap.makeService(options) if isinstance(c, LifecycleService)]
        self.assertEqual([timer.interval for timer in timers], [42.0])
        _, plain = self.makeOptions({})
        timers = [c for c in tap.makeService(plain) if isinstance(c, LifecycleService)]
        self.assertEqual([timer.interval for timer in timers], [3600.0])

    def test_dbUrlFromConfiguration(self):
        """DB_URL, when set, is the database Walrus shares with the CLC."""
        _, options = self.makeOptions({"DB_URL": "sqlite:////tmp/shared.db"})
        root = tap.makeService(options)
        self.assertEqual(list(root)[1].url, "sqlite:////tmp/shared.db")


class IoPoolTests(unittest.TestCase):
    def test_stopDoesNotBlockTheReactor(self):
        """stopService returns at once while a job still runs, and its Deferred fires when the pool is stopped."""
        import threading
        from twisted.internet import reactor
        pool = IoPool(2, reactor)
        pool.startService()
        release = threading.Event()
        job = pool.run(release.wait, 30)
        stopped = pool.stopService()
        self.assertNoResult(stopped)
        release.set()
        return defer.gatherResults([job, stopped])
