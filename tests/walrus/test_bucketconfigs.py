"""The short-lived memory of bucket rows, policies, CORS rules and bucket existence."""

from twisted.internet import defer, task
from twisted.trial import unittest

from eucad.walrus.bucketconfigs import BucketConfigCache
from eucad.walrus.rows import BucketRow


class CountingStore:
    """A store that answers from a dict and counts the queries it gets."""

    def __init__(self):
        self.buckets = {}
        self.queries = 0

    def bucketExists(self, name):
        self.queries += 1
        return defer.succeed(name in self.buckets)

    def findBucketConfigs(self, name, kinds):
        self.queries += 1
        if name not in self.buckets:
            return defer.succeed((None, {}))
        return defer.succeed((BucketRow(name=name, owner="alice", acl={}), self.buckets[name]))


class BucketConfigCacheTests(unittest.TestCase):
    def setUp(self):
        self.store = CountingStore()
        self.clock = task.Clock()
        self.cache = BucketConfigCache(self.store, ttl=2.0, clock=self.clock.seconds)

    def test_existenceKeptBothWays(self):
        """A miss and a hit are each kept for ttl seconds; forget drops them at once."""
        self.assertFalse(self.successResultOf(self.cache.exists("www.example.org")))
        self.assertFalse(self.successResultOf(self.cache.exists("www.example.org")))
        self.assertEqual(self.store.queries, 1)
        self.store.buckets["www.example.org"] = {}
        self.cache.forget("www.example.org")
        self.assertTrue(self.successResultOf(self.cache.exists("www.example.org")))
        self.clock.advance(2.5)
        del self.store.buckets["www.example.org"]
        self.assertFalse(self.successResultOf(self.cache.exists("www.example.org")))
        self.assertEqual(self.store.queries, 3)

    def test_configsOfMissingBucketsNotKept(self):
        """A bucket's row and policy are kept; a missing bucket is asked again every time."""
        self.assertIsNone(self.successResultOf(self.cache.get("later")).bucket)
        self.store.buckets["later"] = {"policy": '{"Statement": [{"Effect": "Deny", '
                                                 '"Principal": "*", "Action": "s3:*", '
                                                 '"Resource": "*"}]}'}
        configs = self.successResultOf(self.cache.get("later"))
        self.assertEqual(configs.bucket.owner, "alice")
        self.assertEqual(len(configs.policy.statements), 1)
        self.successResultOf(self.cache.get("later"))
        self.assertEqual(self.store.queries, 2)
