"""Walrus's limits: eucalyptus.conf's until the configuration page stores its own, read again after MAX_AGE."""

from twisted.internet.task import Clock
from twisted.trial import unittest

from eucad.common import cloudsettings
from eucad.common.db import Database
from eucad.walrus.livelimits import MAX_AGE, LiveLimits


class LiveLimitsTests(unittest.TestCase):
    def setUp(self):
        self.db = Database("sqlite:///" + self.mktemp() + ".db")
        self.addCleanup(lambda: self.db.engine.dispose())
        self.clock = Clock()
        conf = {"WALRUS_MAX_BUCKETS_PER_USER": "5", "WALRUS_MAX_BUCKET_SIZE_MB": "2"}
        self.limits = LiveLimits(self.db, conf, clock=self.clock.seconds)

    def store(self, **values):
        self.db.transact(cloudsettings.saveSettings, values)

    def test_confUntilStored(self):
        """Without rows, the conf's values; a stored row replaces its key only."""
        self.assertEqual((self.limits.maxBucketsPerUser, self.limits.maxBucketBytes),
                         (5, 2 * 1024 * 1024))
        self.store(WALRUS_MAX_BUCKETS_PER_USER="1")
        self.clock.advance(MAX_AGE)
        self.assertEqual((self.limits.maxBucketsPerUser, self.limits.maxBucketBytes),
                         (1, 2 * 1024 * 1024))

    def test_readAgainOnlyAfterMaxAge(self):
        """One read serves until it is MAX_AGE old; then a change is seen."""
        self.assertEqual(self.limits.maxBucketsPerUser, 5)
        self.store(WALRUS_MAX_BUCKETS_PER_USER="0")
        self.clock.advance(MAX_AGE / 2)
        self.assertEqual(self.limits.maxBucketsPerUser, 5)
        self.clock.advance(MAX_AGE / 2)
        self.assertEqual(self.limits.maxBucketsPerUser, 0)

    def test_badValuesRefusedTogether(self):
        """saveSettings names every bad field and stores none of them."""
        with self.assertRaises(cloudsettings.SettingError) as caught:
            self.store(WALRUS_MAX_BUCKETS_PER_USER="x", WALRUS_MAX_BUCKET_SIZE_MB="-3")
        self.assertEqual(len(str(caught.exception).splitlines()), 2)
        self.assertEqual(self.db.transact(cloudsettings.storedSettings), {})
