"""The CLC's image services built from a real install's configuration and keys."""

import os

from twisted.trial import unittest

from eucad.clc import imageservices
from eucad.common import trust
from eucad.common.config import EucaConf, Layout
from eucad.walrus.imagecache import ImageCache
from eucad.walrus.imagecache.httpparts import S3PartOpener
from tests.clc.helpers import makeDatabase
from tests.walrus.imagecache.test_cache import QueuedThreads


class ImageServicesTests(unittest.TestCase):

    def setUp(self):
        self.layout = Layout(self.mktemp())
        os.makedirs(self.layout.keys)
        trust.setup(self.layout.keys, ["127.0.0.1"])
        os.makedirs(os.path.dirname(self.layout.conf))
        self.conf = EucaConf(self.layout.conf)
        self.conf.set("CLOUD_HOST", "10.1.2.3")
        self.conf.set("WALRUS_PORT", "8779")
        self.conf.set("WALRUS_IMAGE_CACHE_MB", "12")

    def test_fromConfiguration(self):
        """Walrus's URL, the cache's place and cap come from eucalyptus.conf."""
        self.assertEqual(imageservices.walrusUrl(self.conf),
                         "http://10.1.2.3:8779/services/Walrus")
        self.assertEqual(imageservices.cacheCapacity(self.conf), 12 * 1024 * 1024)
        self.conf.set("WALRUS_IMAGE_CACHE_MB", "lots")
        self.assertRaises(ValueError, imageservices.cacheCapacity, self.conf)

    def test_startLoadsCloudKey(self):
        """Nothing is read until the service starts; then the cache directory exists
        (0700), the checker holds the cloud's key, and pending images (none
        here) are resumed."""
        threads = QueuedThreads()
        services = imageservices.ImageServices(self.conf, self.layout,
                                               db=makeDatabase(self),
                                               certificatesFor=lambda name: [],
                                               runInThread=threads,
                                               makeImageCache=ImageCache,
                                               makePartOpener=S3PartOpener)
        self.assertIsNone(services.checker)
        d = services.startService()
        threads.runAll()
        self.successResultOf(d)
        directory = imageservices.cacheDirectory(self.layout)
        self.assertEqual(os.stat(directory).st_mode & 0o777, 0o700)
        self.assertIsNotNone(services.checker.cloudKey)
        self.assertEqual(services.cache.directory, directory)
        self.assertEqual(services.checker.source.walrusUrl,
                         "http://10.1.2.3:8779/services/Walrus")
