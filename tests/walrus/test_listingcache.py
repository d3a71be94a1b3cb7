"""Pages of ListObjects kept in memory (eucad.walrus.listingcache): served, checked, never stale."""

from twisted.internet import defer
from twisted.trial import unittest

from eucad.walrus.listing import Listing
from eucad.walrus.listingcache import ListingCache
from eucad.walrus.objectcache import ObjectCache
from eucad.walrus.rows import BucketRow

from tests.walrus.helpers import WalrusHarness


def listingOf(*keys):
    listing = Listing()
    listing.entries = [(key, 1, "e", 0.0, "o") for key in keys]
    return listing


class ListingCacheTests(unittest.TestCase):
    """The cache's own rules: one generation, bounds."""

    def test_keptForOneGeneration(self):
        """A page is served until the object cache's next invalidation, never after."""
        objects = ObjectCache()
        cache = ListingCache(objects)
        bucket, listing = BucketRow(name="b"), listingOf("a")
        cache.put(cache.snapshot("b"), ("b", "page"), bucket, listing)
        self.assertEqual(cache.get(("b", "page")), (bucket, listing))
        objects.invalidate()
        self.assertIsNone(cache.get(("b", "page")))
        self.assertEqual((cache.pages, cache.rows), ({}, 0))

    def test_queryOverlappingATransactionIsNotKept(self):
        """What a query found is dropped if a transaction began or ended while it ran."""
        objects = ObjectCache()
        cache = ListingCache(objects)
        started = cache.snapshot("b")
        objects.invalidate()
        cache.put(started, ("b", "page"), BucketRow(name="b"), listingOf("a"))
        self.assertEqual(cache.pages, {})

    def test_boundedByPagesAndRows(self):
        """Past either bound the oldest pages go, and the row count follows."""
        cache = ListingCache(ObjectCache(), maxPages=2, maxRows=5)
        bucket = BucketRow(name="b")
        cache.put(cache.snapshot("b"), ("b", 1), bucket, listingOf("a", "b"))
        cache.put(cache.snapshot("b"), ("b", 2), bucket, listingOf("c"))
        cache.put(cache.snapshot("b"), ("b", 3), bucket, listingOf("d"))
        self.assertEqual(sorted(cache.pages), [("b", 2), ("b", 3)])
        cache.put(cache.snapshot("b"), ("b", 4), bucket, listingOf("e", "f", "g", "h"))
        self.assertEqual((sorted(cache.pages), cache.rows), ([("b", 3), ("b", 4)], 5))
        cache.put(cache.snapshot("b"), ("b", 5), bucket, listingOf(*"abcdef"))
        self.assertNotIn(("b", 5), cache.pages)


class CachedListingTests(unittest.TestCase):
    """ListObjects through Walrus with the cache: a repeat needs no query, and every change shows."""

    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("lst")
        self.store = self.walrus.walrus.store
        self.queries = 0
        database = self.store.database.database
        run = database.run

        def countingRun(fn, *args, **kwargs):
            self.queries += 1
            return run(fn, *args, **kwargs)
        database.run = countingRun

    def keys(self, query="?list-type=2", keys="alice"):
        reply = self.walrus.request("GET", "/lst" + query, keys=keys)
        self.assertEqual(reply.code, 200, reply.body)
        return reply.findall("Contents/Key")

    def listedTwice(self, query="?list-type=2"):
        """The keys listed, checking that the second listing made no query."""
        first = self.keys(query)
        queries = self.queries
        second = self.keys(query)
        self.assertEqual(self.queries, queries, "a repeated listing queried the database")
        self.assertEqual(second, first)
        return second

    def test_repeatNeedsNoQuery(self):
        """The same page listed again comes from memory, for v1 and v2 and each page of a walk."""
        for key in ("a", "b", "c"):
            self.walrus.put("lst", key, b"x")
        self.assertEqual(self.listedTwice(), ["a", "b", "c"])
        self.assertEqual(self.listedTwice("?max-keys=2"), ["a", "b"])
        self.assertEqual(self.listedTwice("?list-type=2&start-after=a"), ["b", "c"])

    def test_everyWriteShows(self):
        """A PUT, an overwrite, a DELETE, a copy and DeleteObjects each show in the next listing."""
        self.walrus.put("lst", "a", b"x")
        self.assertEqual(self.listedTwice(), ["a"])
        self.walrus.put("lst", "b", b"x")
        self.assertEqual(self.listedTwice(), ["a", "b"])
        self.walrus.put("lst", "a", b"longer")
        reply = self.walrus.request("GET", "/lst?list-type=2")
        self.assertEqual(reply.findall("Contents/Size"), ["6", "1"])
        self.assertEqual(self.walrus.request("DELETE", "/lst/b").code, 204)
        self.assertEqual(self.listedTwice(), ["a"])
        copied = self.walrus.request("PUT", "/lst/c", headers={"x-amz-copy-source": "/lst/a"})
        self.assertEqual(copied.code, 200, copied.body)
        self.assertEqual(self.listedTwice(), ["a", "c"])
        body = (b"<Delete><Object><Key>a</Key></Object><Object><Key>c</Key></Object></Delete>")
        import hashlib
        from base64 import b64encode
        reply = self.walrus.request("POST", "/lst?delete", body=body, headers={
            "Content-MD5": b64encode(hashlib.md5(body).digest()).decode()})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.keys(), [])

    def test_writeToAnotherBucketKeepsThePage(self):
        """A PUT to another bucket leaves this bucket's kept page in place; a PUT here does not."""
        self.walrus.createBucket("other")
        self.walrus.put("lst", "a", b"x")
        self.listedTwice()
        self.walrus.put("other", "z", b"x")
        queries = self.queries
        self.assertEqual(self.keys(), ["a"])
        self.assertEqual(self.queries, queries)
        self.walrus.put("lst", "b", b"x")
        self.assertEqual(self.keys(), ["a", "b"])

    def test_everyCallerIsChecked(self):
        """A page kept for its owner is not shown to a caller the bucket's ACL refuses."""
        self.walrus.put("lst", "a", b"x")
        self.listedTwice()
        self.assertEqual(len(self.store.listingCache.pages), 1)
        refused = self.walrus.request("GET", "/lst?list-type=2", keys="bob")
        self.assertEqual(refused.errorCode(), "AccessDenied")
        anonymous = self.walrus.request("GET", "/lst?list-type=2", keys=None)
        self.assertEqual(anonymous.errorCode(), "AccessDenied")
        self.assertEqual(len(self.store.listingCache.pages), 1)
        acl = self.walrus.request("PUT", "/lst?acl", headers={"x-amz-acl": "public-read"})
        self.assertEqual(acl.code, 200, acl.body)
        self.assertEqual(self.keys(keys=None), ["a"])

    def test_queryRacingAWriteIsNotKept(self):
        """A listing that read the rows before a PUT committed, and ended after, is not kept."""
        self.walrus.put("lst", "a", b"x")
        database = self.store.database.database
        counting = database.run
        pending = defer.Deferred()
        found = []

        def slowRun(fn, *args, **kwargs):
            found.append(self.successResultOf(counting(fn, *args, **kwargs)))
            return pending
        database.run = slowRun
        listed = self.store.listObjects("lst", "", "", "", 1000, lambda bucket: None)
        database.run = counting
        self.walrus.put("lst", "b", b"x")
        pending.callback(found[0])
        self.assertEqual([row[0] for row in self.successResultOf(listed)[1].entries], ["a"])
        self.assertEqual(self.store.listingCache.pages, {})
        self.assertEqual(self.keys(), ["a", "b"])
