"""The in-memory object rows of GET and HEAD (eucad.walrus.objectcache): served, and never stale."""

import hashlib
import time
import zlib
from base64 import b64encode

from sqlalchemy import text
from twisted.internet import defer, task
from twisted.trial import unittest

from eucad.walrus import rows
from eucad.walrus.inline import INLINE_MAX
from eucad.walrus.lifecycleservice import LifecycleService
from eucad.walrus.objectcache import ObjectCache, WatchedDatabase
from eucad.walrus.rows import BucketRow, ObjectRow
from eucad.walrus.uploadstore import MIN_PART_SIZE

from tests.walrus.helpers import WalrusHarness

PUBLIC_READ = {"x-amz-acl": "public-read"}


def md5Header(body):
    return {"Content-MD5": b64encode(hashlib.md5(body).digest()).decode()}



class _HeldDatabase:
    """A database whose ``run`` answers only when the test fires ``pending``."""

    def run(self, fn):
        self.pending = defer.Deferred()
        return self.pending


def _heldDatabase():
    """(cache, held database, the cache's WatchedDatabase over it)."""
    cache = ObjectCache()
    database = _HeldDatabase()
    return cache, database, WatchedDatabase(database, cache)

class ObjectCacheTests(unittest.TestCase):
    """The cache's own rules: generations, bounds."""

    def row(self, key, data=b""):
        return (BucketRow(name="b"), ObjectRow(key=key, size=len(data), data=data))

    def keep(self, cache, bucketName, key):
        """Keep an empty object's rows as a lookup of ``key`` starting now would."""
        cache.put(cache.snapshot(bucketName, key), bucketName, key, BucketRow(name=bucketName),
                  ObjectRow(key=key, size=0))

    def test_keptForOneGeneration(self):
        """An entry is served until the next invalidation, and never again after it."""
        cache = ObjectCache()
        bucket, obj = self.row("k", b"x")
        cache.put(cache.snapshot("b", "k"), "b", "k", bucket, obj)
        self.assertEqual(cache.get("b", "k"), (bucket, obj, b"x"))
        cache.invalidate()
        self.assertIsNone(cache.get("b", "k"))
        self.assertEqual(cache.entries, {})

    def test_lookupOverlappingATransactionIsNotKept(self):
        """What a lookup found is dropped if a transaction began or ended while it ran."""
        cache = ObjectCache()
        started = cache.snapshot("b", "k")
        cache.began()
        cache.ended()
        cache.put(started, "b", "k", *self.row("k"))
        self.assertIsNone(cache.get("b", "k"))

    def test_missingObjectsAndBucketsAreNotKept(self):
        """A lookup that found no object (or no bucket) leaves nothing behind."""
        cache = ObjectCache()
        cache.put(cache.snapshot("b", "k"), "b", "k", BucketRow(name="b"), None)
        cache.put(cache.snapshot("b", "k"), "b", "k", None, None)
        self.assertEqual(cache.entries, {})

    def test_boundedByEntriesAndBytes(self):
        """Past either bound the oldest entries go, and the byte count follows."""
        cache = ObjectCache(maxEntries=3, maxBytes=10)
        for key in "abc":
            cache.put(cache.snapshot("b", key), "b", key, *self.row(key, b"12"))
        cache.put(cache.snapshot("b", "d"), "b", "d", *self.row("d", b"12"))
        self.assertEqual(sorted(k for _, k in cache.entries), ["b", "c", "d"])
        cache.put(cache.snapshot("b", "e"), "b", "e", *self.row("e", b"123456"))
        self.assertEqual(sorted(k for _, k in cache.entries), ["c", "d", "e"])
        self.assertEqual(cache.bytes, 10)
        cache.put(cache.snapshot("b", "big"), "b", "big", *self.row("big", b"x" * 11))
        self.assertNotIn(("b", "big"), cache.entries)

    def test_watchedDatabaseInvalidatesAroundWritesOnly(self):
        """``run`` moves the generation on before and after; ``read`` leaves it alone."""
        cache = ObjectCache()
        seen = []

        class Database:
            def run(self, fn):
                seen.append(cache.generation)
                self.pending = defer.Deferred()
                return self.pending
        database = Database()
        watched = WatchedDatabase(database, cache)
        before = cache.generation
        d = watched.run(None)
        self.assertNotEqual(seen[0], before)
        during = cache.generation
        database.pending.callback("done")
        self.assertEqual(self.successResultOf(d), "done")
        self.assertNotEqual(cache.generation, during)
        after = cache.generation
        watched.read(None)
        self.assertEqual(cache.generation, after)

    def test_lookupEndingDuringATransactionIsNotKept(self):
        """A lookup that ends while a transaction is under way (begun before it) is not kept."""
        cache = ObjectCache()
        cache.began()
        started = cache.snapshot("b", "k")
        cache.put(started, "b", "k", *self.row("k"))
        self.assertEqual(cache.entries, {})
        cache.began(["b"])
        started = cache.snapshot("b", "k")
        cache.put(started, "b", "k", *self.row("k"))
        self.assertEqual(cache.entries, {})
        cache.ended(["b"])
        cache.ended()
        cache.put(cache.snapshot("b", "k"), "b", "k", *self.row("k"))
        self.assertIsNotNone(cache.get("b", "k"))

    def test_scopedTransactionLeavesOtherBuckets(self):
        """A transaction scoped to bucket A drops A's entries and keeps B's."""
        cache = ObjectCache()
        self.keep(cache, "A", "k")
        self.keep(cache, "B", "k")
        cache.began(["A"])
        self.assertIsNone(cache.get("A", "k"))
        self.assertIsNotNone(cache.get("B", "k"))
        cache.ended(["A"])
        self.assertIsNotNone(cache.get("B", "k"))
        cache.began()
        self.assertIsNone(cache.get("B", "k"))
        cache.ended()

    def test_lookupRacingAScopedTransaction(self):
        """
        A lookup in A that overlaps a transaction scoped to A is not kept;
        one in B, even ending while the A transaction is under way, is.
        """
        cache = ObjectCache()
        inA, inB = cache.snapshot("A", "k"), cache.snapshot("B", "k")
        cache.began(["A"])
        cache.put(inB, "B", "k", BucketRow(name="B"), ObjectRow(key="k", size=0))
        cache.ended(["A"])
        cache.put(inA, "A", "k", BucketRow(name="A"), ObjectRow(key="k", size=0))
        self.assertIsNone(cache.get("A", "k"))
        self.assertIsNotNone(cache.get("B", "k"))

    def test_bucketGenerationsAreBounded(self):
        """
        Past MAX_BUCKET_GENERATIONS buckets the table starts again, and the
        whole cache with it: no entry or lookup of before matches after.
        """
        from eucad.walrus import objectcache
        self.patch(objectcache, "MAX_BUCKET_GENERATIONS", 3)
        cache = ObjectCache()
        self.keep(cache, "A", "k")
        before = cache.snapshot("A", "k")
        for name in ("A", "B", "C", "D"):
            cache.began([name])
            cache.ended([name])
        self.assertLessEqual(len(cache.bucketGenerations), 3)
        self.assertNotIn("A", cache.bucketGenerations)
        self.assertIsNone(cache.get("A", "k"))
        cache.put(before, "A", "k", BucketRow(name="A"), ObjectRow(key="k", size=0))
        self.assertIsNone(cache.get("A", "k"))
        self.keep(cache, "A", "k")
        self.assertIsNotNone(cache.get("A", "k"))

    def test_watchedDatabaseScopedRun(self):
        """``runScoped`` moves on only its buckets' generations, before and after."""
        cache, database, watched = _heldDatabase()
        store = cache.generation
        d = watched.runScoped(["A"], None)
        self.assertEqual(cache.bucketWriting, {"A": 1})
        during = cache.snapshot("A")
        database.pending.callback("done")
        self.assertEqual(self.successResultOf(d), "done")
        self.assertNotEqual(cache.snapshot("A"), during)
        self.assertEqual(cache.bucketWriting, {})
        self.assertEqual(cache.generation, store)


    def test_keyScopedTransactionLeavesOtherKeys(self):
        """
        A transaction scoped to key k1 drops k1's entry only; the bucket's
        listings move on all the same, and another bucket's stay.
        """
        cache = ObjectCache()
        self.keep(cache, "A", "k1")
        self.keep(cache, "A", "k2")
        listingA, listingB = cache.snapshot("A"), cache.snapshot("B")
        cache.began((), [("A", "k1")])
        self.assertIsNone(cache.get("A", "k1"))
        self.assertIsNotNone(cache.get("A", "k2"))
        self.assertFalse(cache.unchangedSince(listingA, "A"))
        cache.ended((), [("A", "k1")])
        self.assertIsNotNone(cache.get("A", "k2"))
        self.assertFalse(cache.unchangedSince(listingA, "A"))
        self.assertTrue(cache.unchangedSince(listingB, "B"))
        cache.began(["A"])
        self.assertIsNone(cache.get("A", "k2"))
        cache.ended(["A"])

    def test_lookupRacingAKeyScopedTransaction(self):
        """
        A lookup of k1 overlapping a transaction of k1 (begun before it,
        during it, or under way when it ends) is not kept; one overlapping
        a transaction of k2 is.
        """
        cache = ObjectCache()
        started = cache.snapshot("A", "k1")
        cache.began((), [("A", "k2")])
        cache.ended((), [("A", "k2")])
        cache.put(started, "A", "k1", *self.row("k1"))
        self.assertIsNotNone(cache.get("A", "k1"))
        cache.invalidate()
        started = cache.snapshot("A", "k1")
        cache.began((), [("A", "k1")])
        cache.ended((), [("A", "k1")])
        cache.put(started, "A", "k1", *self.row("k1"))
        self.assertIsNone(cache.get("A", "k1"))
        cache.began((), [("A", "k1")])
        started = cache.snapshot("A", "k1")
        cache.put(started, "A", "k1", *self.row("k1"))
        self.assertIsNone(cache.get("A", "k1"))
        cache.ended((), [("A", "k1")])

    def test_keysSharingASlot(self):
        """Keys whose generations share a slot cost each other a miss, never a stale hit."""
        from eucad.walrus import objectcache
        self.patch(objectcache, "_SLOT_MASK", 0)
        cache = ObjectCache()
        self.keep(cache, "A", "k1")
        started = cache.snapshot("A", "k1")
        cache.began((), [("A", "k2")])
        self.assertIsNone(cache.get("A", "k1"))
        cache.ended((), [("A", "k2")])
        cache.put(started, "A", "k1", *self.row("k1"))
        self.assertIsNone(cache.get("A", "k1"))
        self.keep(cache, "A", "k1")
        self.assertIsNotNone(cache.get("A", "k1"))

    def test_bucketRowKeptWithoutTotals(self):
        """The bucket row kept has no totals, which any write of the bucket changes; the rest stays."""
        cache = ObjectCache()
        bucket = BucketRow(name="A", owner="alice", acl={"owner": "alice"}, objectCount=3,
                           bytesUsed=12, versioning="Enabled")
        cache.put(cache.snapshot("A", "k"), "A", "k", bucket, ObjectRow(key="k", size=0))
        kept = cache.get("A", "k")[0]
        self.assertEqual((kept.objectCount, kept.bytesUsed), (None, None))
        self.assertEqual((kept.name, kept.owner, kept.acl, kept.versioning),
                         ("A", "alice", {"owner": "alice"}, "Enabled"))
        self.assertEqual((bucket.objectCount, bucket.bytesUsed), (3, 12))

    def test_endedTellsWhichKeysWereWrittenAlone(self):
        """
        ``ended`` gives the generations of the keys no other transaction
        may have changed since ``began``: not those another transaction
        of the key, of the bucket or of the store overlapped.
        """
        cache = ObjectCache()
        keys = [("A", "k1"), ("A", "k2")]
        began = cache.began((), keys)
        fresh = cache.ended((), keys, began)
        self.assertEqual(sorted(fresh), keys)
        self.assertEqual(fresh[("A", "k1")], cache.snapshot("A", "k1"))
        began = cache.began((), keys)
        cache.began((), [("A", "k2")])
        cache.ended((), [("A", "k2")])
        self.assertEqual(sorted(cache.ended((), keys, began)), [("A", "k1")])
        other = cache.began((), [("A", "k1")])
        began = cache.began((), keys)
        cache.ended((), [("A", "k1")], other)
        self.assertEqual(sorted(cache.ended((), keys, began)), [("A", "k2")])
        for overlapping in (["A"], None):
            began = cache.began((), keys)
            cache.began(overlapping)
            self.assertEqual(cache.ended((), keys, began), {})
            cache.ended(overlapping)
            began = cache.began((), keys)
            cache.began(overlapping)
            cache.ended(overlapping)
            self.assertEqual(cache.ended((), keys, began), {})
        began = cache.began(["A"], keys)
        self.assertEqual(cache.ended(["A"], keys, began), {})

    def test_watchedDatabaseKeepsWhatACommitWrote(self):
        """
        ``runScoped(..., written=)`` keeps the rows a committed transaction
        wrote, in the generations after it; nothing if it failed, and a
        ``written`` that fails costs a miss, not the commit's answer.
        """
        cache, database, watched = _heldDatabase()
        bucket, obj = self.row("k", b"new")

        def written(result):
            return [("b", "k", bucket, obj)]
        d = watched.runScoped((), None, keys=[("b", "k")], written=written)
        self.assertIsNone(cache.get("b", "k"))
        database.pending.callback("done")
        self.assertEqual(self.successResultOf(d), "done")
        self.assertEqual(cache.get("b", "k")[1:], (obj, b"new"))
        cache.invalidate()
        d = watched.runScoped((), None, keys=[("b", "k")], written=written)
        database.pending.errback(RuntimeError("rolled back"))
        self.failureResultOf(d, RuntimeError)
        self.assertIsNone(cache.get("b", "k"))

        def broken(result):
            raise KeyError("k")
        d = watched.runScoped((), None, keys=[("b", "k")], written=broken)
        database.pending.callback("done")
        self.assertEqual(self.successResultOf(d), "done")
        self.assertIsNone(cache.get("b", "k"))
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)


class CachedReadTests(unittest.TestCase):
    """
    Through the resource tree: a GET is answered from memory, and every
    write path is seen by the very next GET or HEAD.
    """

    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("cache")
        self.store = self.walrus.walrus.store
        self.ioCalls = 0
        runIo = self.store.runIo

        def countingIo(fn, *args, **kwargs):
            self.ioCalls += 1
            return runIo(fn, *args, **kwargs)
        self.store.runIo = countingIo

    def cached(self, key, bucket="cache"):
        """
        GET ``key`` twice, checking the second came from the cache (without
        an I/O job if the object is small); its body.
        """
        first = self.walrus.get(bucket, key)
        self.assertEqual(first.code, 200, first.body)
        self.assertIsNotNone(self.store.objectCache.get(bucket, key))
        calls = self.ioCalls
        second = self.walrus.get(bucket, key)
        self.assertEqual(second.code, 200, second.body)
        if len(first.body) <= INLINE_MAX:
            self.assertEqual(self.ioCalls, calls, "a cached GET went to a thread")
        self.assertEqual(second.body, first.body)
        return second.body

    def test_hitNeedsNoThreadAndKeepsEveryAnswer(self):
        """A cached GET needs no I/O job and answers ranges, conditions and HEAD the same."""
        self.walrus.put("cache", "k", b"0123456789", headers={"Content-Type": "text/plain",
                                                          "x-amz-meta-colour": "blue"})
        self.assertEqual(self.cached("k"), b"0123456789")
        calls = self.ioCalls
        ranged = self.walrus.get("cache", "k", headers={"Range": "bytes=2-4"})
        self.assertEqual((ranged.code, ranged.body), (206, b"234"))
        etag = ranged.header(b"etag").decode()
        self.assertEqual(self.walrus.get("cache", "k", headers={"If-None-Match": etag}).code, 304)
        self.assertEqual(self.walrus.get("cache", "k", headers={"If-Match": '"x"'}).code, 412)
        head = self.walrus.request("HEAD", "/cache/k")
        self.assertEqual((head.code, head.header(b"content-length"),
                          head.header(b"x-amz-meta-colour")), (200, b"10", b"blue"))
        self.assertEqual(self.ioCalls, calls)

    def test_listingsKeepTheCache(self):
        """ListObjects (v1, v2), ListObjectVersions and ListMultipartUploads change nothing: the cache stays."""
        self.walrus.put("cache", "k", b"0123456789")
        self.cached("k")
        for query in ("", "?list-type=2", "?versions", "?uploads"):
            listed = self.walrus.request("GET", "/cache" + query)
            self.assertEqual(listed.code, 200, listed.body)
            self.assertIsNotNone(self.store.objectCache.get("cache", "k"), query)
        calls = self.ioCalls
        self.assertEqual(self.walrus.get("cache", "k").body, b"0123456789")
        self.assertEqual(self.ioCalls, calls)

    def heldLookup(self, bucket, key):
        """
        A lookup of ``key`` whose query runs now but whose answer is held:
        (its Deferred, a callable that delivers the answer).  What the
        cache kept (a PUT's own row) is forgotten first.
        """
        self.store.objectCache.invalidate()
        pending = defer.Deferred()
        found = []
        original = self.store.runIo

        def slowIo(fn, *args, **kwargs):
            found.append(fn(*args, **kwargs))
            return pending
        self.store.runIo = slowIo
        lookup = self.store.lookupObject(bucket, key, 1024)
        self.store.runIo = original
        return lookup, lambda: pending.callback(found[0])

    def test_lookupRacingAWriteIsNotKept(self):
        """
        A lookup that read the old row before a PUT committed, and ended
        after, is not kept: the cache keeps the PUT's row.
        """
        self.walrus.put("cache", "k", b"old")
        lookup, release = self.heldLookup("cache", "k")
        self.walrus.put("cache", "k", b"new")
        release()
        self.assertEqual(self.successResultOf(lookup)[2], b"old")
        self.assertEqual(self.store.objectCache.get("cache", "k")[2], b"new")
        self.assertEqual(self.walrus.get("cache", "k").body, b"new")

    def test_writesToOneBucketKeepAnothersEntries(self):
        """
        A PUT and a DELETE in one bucket are seen by its next GET, and leave
        another bucket's cached objects in the cache (served without a thread).
        """
        self.walrus.createBucket("other")
        self.walrus.put("other", "k", b"kept")
        self.cached("k", bucket="other")
        self.walrus.put("cache", "k", b"one")
        self.assertEqual(self.cached("k"), b"one")
        for write in (lambda: self.walrus.put("cache", "k", b"two"),
                      lambda: self.walrus.put("cache", "new", b"x"),
                      lambda: self.walrus.request("DELETE", "/cache/new")):
            write()
            self.assertIsNotNone(self.store.objectCache.get("other", "k"))
            calls = self.ioCalls
            self.assertEqual(self.walrus.get("other", "k").body, b"kept")
            self.assertEqual(self.ioCalls, calls, "a GET in the other bucket went to a thread")
        self.assertEqual(self.walrus.get("cache", "k").body, b"two")
        self.assertEqual(self.walrus.get("cache", "new").errorCode(), "NoSuchKey")

    def test_lookupRacingAWriteToAnotherBucketIsKept(self):
        """A lookup in one bucket that overlaps a PUT to another is kept."""
        self.walrus.createBucket("other")
        self.walrus.put("other", "k", b"kept")
        lookup, release = self.heldLookup("other", "k")
        self.walrus.put("cache", "k", b"new")
        release()
        self.assertEqual(self.successResultOf(lookup)[2], b"kept")
        self.assertIsNotNone(self.store.objectCache.get("other", "k"))

    def test_largeObjectsKeepTheirRowsOnly(self):
        """An object over INLINE_MAX is read from its file each time; only its row is kept."""
        data = b"B" * (128 * 1024)
        self.walrus.put("cache", "big", data)
        self.assertEqual(self.walrus.get("cache", "big").body, data)
        self.assertIsNone(self.store.objectCache.get("cache", "big")[2])
        calls = self.ioCalls
        self.assertEqual(self.walrus.get("cache", "big").body, data)
        self.assertEqual(self.ioCalls, calls + 1)
        self.assertEqual(self.store.objectCache.bytes, 0)
        self.assertEqual(self.walrus.request("HEAD", "/cache/big").code, 200)
        self.assertEqual(self.ioCalls, calls + 1)

    def test_putAndOverwrite(self):
        """A PUT over a cached object is read back at once, inline or in a blob."""
        self.walrus.put("cache", "k", b"one")
        self.cached("k")
        self.walrus.put("cache", "k", b"two")
        self.assertEqual(self.cached("k"), b"two")
        large = b"L" * (100 * 1024)
        self.walrus.put("cache", "k", large)
        self.assertEqual(self.cached("k"), large)

    def test_delete(self):
        """DeleteObject and DeleteObjects are seen by the next GET."""
        for key in ("a", "b"):
            self.walrus.put("cache", key, b"x")
            self.cached(key)
        self.assertEqual(self.walrus.request("DELETE", "/cache/a").code, 204)
        self.assertEqual(self.walrus.get("cache", "a").errorCode(), "NoSuchKey")
        body = b"<Delete><Object><Key>b</Key></Object></Delete>"
        reply = self.walrus.request("POST", "/cache?delete", body=body, headers=md5Header(body))
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.get("cache", "b").errorCode(), "NoSuchKey")

    def test_copyOnto(self):
        """A CopyObject onto a cached key, and one that replaces its metadata, are seen."""
        self.walrus.put("cache", "source", b"copied")
        self.walrus.put("cache", "k", b"original")
        self.cached("k")
        reply = self.walrus.request("PUT", "/cache/k", headers={"x-amz-copy-source": "/cache/source"})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.cached("k"), b"copied")
        reply = self.walrus.request("PUT", "/cache/k", headers={
            "x-amz-copy-source": "/cache/k", "x-amz-metadata-directive": "REPLACE",
            "x-amz-meta-new": "yes"})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.request("HEAD", "/cache/k").header(b"x-amz-meta-new"), b"yes")

    def test_multipartCompletion(self):
        """A completed multipart upload replaces the cached object."""
        self.walrus.put("cache", "k", b"small")
        self.cached("k")
        uploadId = self.walrus.request("POST", "/cache/k?uploads").findall("UploadId")[0]
        parts = [b"a" * MIN_PART_SIZE, b"b" * 10]
        etags = []
        for number, data in enumerate(parts, 1):
            reply = self.walrus.request("PUT", "/cache/k?partNumber=%d&uploadId=%s"
                                        % (number, uploadId), body=data)
            self.assertEqual(reply.code, 200, reply.body)
            etags.append(reply.header(b"etag").decode())
        body = ("<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(
            "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (n, e)
            for n, e in enumerate(etags, 1))).encode()
        reply = self.walrus.request("POST", "/cache/k?uploadId=" + uploadId, body=body)
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.get("cache", "k").body, b"".join(parts))

    def test_objectAclGrantAndRevoke(self):
        """Making a cached object private again refuses the next anonymous GET."""
        self.walrus.put("cache", "k", b"x", headers=PUBLIC_READ)
        self.assertEqual(self.walrus.get("cache", "k", keys=None).code, 200)
        self.assertIsNotNone(self.store.objectCache.get("cache", "k"))
        reply = self.walrus.request("PUT", "/cache/k?acl", headers={"x-amz-acl": "private"})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.get("cache", "k", keys=None).code, 403)
        reply = self.walrus.request("PUT", "/cache/k?acl", headers=PUBLIC_READ)
        self.assertEqual(self.walrus.get("cache", "k", keys=None).code, 200)

    def test_bucketPolicyDenial(self):
        """A bucket policy that denies GetObject refuses the next GET of a cached object."""
        self.walrus.put("cache", "k", b"x", headers=PUBLIC_READ)
        self.assertEqual(self.walrus.get("cache", "k", keys="bob").code, 200)
        policy = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", '
                  '"Principal": "*", "Action": "s3:GetObject", '
                  '"Resource": "arn:aws:s3:::cache/*"}]}').encode()
        reply = self.walrus.request("PUT", "/cache?policy", body=policy)
        self.assertEqual(reply.code, 204, reply.body)
        self.assertEqual(self.walrus.get("cache", "k", keys="bob").code, 403)

    def test_tagging(self):
        """Putting and deleting an object's tags changes the next HEAD's tag count."""
        self.walrus.put("cache", "k", b"x")
        self.cached("k")
        body = (b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag>"
                b"<Tag><Key>b</Key><Value>2</Value></Tag></TagSet></Tagging>")
        reply = self.walrus.request("PUT", "/cache/k?tagging", body=body, headers=md5Header(body))
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.request("HEAD", "/cache/k").header(b"x-amz-tagging-count"),
                         b"2")
        self.cached("k")
        self.assertEqual(self.walrus.request("DELETE", "/cache/k?tagging").code, 204)
        self.assertIsNone(self.walrus.request("HEAD", "/cache/k").header(b"x-amz-tagging-count"))

    def test_versioning(self):
        """Versions, delete markers and suspension are seen by the next GET."""
        self.walrus.put("cache", "k", b"before")
        self.cached("k")
        body = (b"<VersioningConfiguration><Status>Enabled</Status>"
                b"</VersioningConfiguration>")
        self.assertEqual(self.walrus.request("PUT", "/cache?versioning", body=body).code, 200)
        self.assertEqual(self.walrus.get("cache", "k").header(b"x-amz-version-id"), b"null")
        first = self.walrus.put("cache", "k", b"v1").header(b"x-amz-version-id")
        self.assertEqual(self.walrus.get("cache", "k").header(b"x-amz-version-id"), first)
        self.cached("k")
        self.assertEqual(self.walrus.request("DELETE", "/cache/k").code, 204)
        self.assertEqual(self.walrus.get("cache", "k").code, 404)
        self.walrus.put("cache", "k", b"v2")
        self.cached("k")
        reply = self.walrus.request("DELETE", "/cache/k?versionId=" + self.walrus.get(
            "cache", "k").header(b"x-amz-version-id").decode())
        self.assertEqual(reply.code, 204)
        self.assertEqual(self.walrus.get("cache", "k").code, 404)
        body = (b"<VersioningConfiguration><Status>Suspended</Status>"
                b"</VersioningConfiguration>")
        self.assertEqual(self.walrus.request("PUT", "/cache?versioning", body=body).code, 200)
        self.walrus.put("cache", "k", b"null again")
        self.assertEqual(self.cached("k"), b"null again")
        self.assertEqual(self.walrus.get("cache", "k").header(b"x-amz-version-id"), b"null")

    def test_versionReadsKeepTheCache(self):
        """
        Reads of versions change nothing: a GET by versionId, a GET of a key
        whose latest version is a delete marker, and an ACL read by
        versionId leave another key's cached entry in place.
        """
        body = (b"<VersioningConfiguration><Status>Enabled</Status>"
                b"</VersioningConfiguration>")
        self.assertEqual(self.walrus.request("PUT", "/cache?versioning", body=body).code, 200)
        self.walrus.put("cache", "kept", b"stays cached")
        old = self.walrus.put("cache", "k", b"v1").header(b"x-amz-version-id").decode()
        self.walrus.put("cache", "k", b"v2")
        self.walrus.put("cache", "gone", b"soon a delete marker")
        self.assertEqual(self.walrus.request("DELETE", "/cache/gone").code, 204)
        self.cached("kept")
        reads = (("GET", "/cache/k?versionId=" + old, 200),
                 ("GET", "/cache/k?acl&versionId=" + old, 200),
                 ("GET", "/cache/gone", 404),
                 ("HEAD", "/cache/gone", 404))
        for method, path, code in reads:
            self.assertEqual(self.walrus.request(method, path).code, code, path)
            self.assertIsNotNone(self.store.objectCache.get("cache", "kept"), path)
        calls = self.ioCalls
        self.assertEqual(self.walrus.get("cache", "kept").body, b"stays cached")
        self.assertEqual(self.ioCalls, calls)

    def test_bucketDeletedAndMadeAgain(self):
        """A bucket deleted and made again does not serve the old bucket's objects."""
        self.walrus.put("cache", "k", b"x")
        self.cached("k")
        self.assertEqual(self.walrus.request("DELETE", "/cache/k").code, 204)
        self.assertEqual(self.walrus.request("DELETE", "/cache").code, 204)
        self.assertEqual(self.walrus.get("cache", "k").errorCode(), "NoSuchBucket")
        self.walrus.createBucket("cache", keys="bob")
        self.assertEqual(self.walrus.get("cache", "k", keys="bob").errorCode(), "NoSuchKey")

    def test_lifecycleExpiration(self):
        """An object the lifecycle timer expires is gone for the next GET."""
        body = (b"<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix></Prefix></Filter>"
                b"<Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
                b"</LifecycleConfiguration>")
        reply = self.walrus.request("PUT", "/cache?lifecycle", body=body, headers=md5Header(body))
        self.assertEqual(reply.code, 200, reply.body)
        self.walrus.put("cache", "k", b"x")
        self.cached("k")
        clock = task.Clock()
        clock.advance(time.time())
        service = LifecycleService(self.store, 3600, clock)
        service.startService()
        self.addCleanup(service.stopService)
        for _ in range(3 * 24):
            clock.advance(3600)
        self.assertEqual(self.walrus.get("cache", "k").errorCode(), "NoSuchKey")

    def test_putOfOneKeyKeepsAnothersEntry(self):
        """
        A PUT and a DELETE of one key leave the cached entry of another key
        of the same bucket in place: its next GET needs no lookup.
        """
        self.walrus.put("cache", "a", b"kept")
        self.cached("a")
        for write in (lambda: self.walrus.put("cache", "b", b"one"),
                      lambda: self.walrus.put("cache", "b", b"two"),
                      lambda: self.walrus.request("DELETE", "/cache/b")):
            write()
            calls = self.ioCalls
            self.assertEqual(self.walrus.get("cache", "a").body, b"kept")
            self.assertEqual(self.ioCalls, calls, "a GET of another key went to a thread")
        self.assertEqual(self.walrus.get("cache", "b").errorCode(), "NoSuchKey")

    def test_getAfterPutIsServedFromTheCache(self):
        """The GET right after a PUT (new key or overwrite) answers its bytes with no lookup."""
        for data in (b"first", b"second", b"x" * INLINE_MAX):
            self.walrus.put("cache", "k", data, headers={"Content-Type": "text/plain"})
            calls = self.ioCalls
            reply = self.walrus.get("cache", "k")
            self.assertEqual((reply.code, reply.body), (200, data))
            self.assertEqual(reply.header(b"content-type"), b"text/plain")
            self.assertEqual(self.ioCalls, calls, "the GET after a PUT went to a thread")

    def test_writtenRowIsWhatTheDatabaseHolds(self):
        """
        The row a PUT leaves in the cache is the one a lookup would find
        (every column, inline or in a blob, versioned or not); its bucket
        row lacks only the totals.
        """
        self.walrus.createBucket("versioned")
        body = (b"<VersioningConfiguration><Status>Enabled</Status>"
                b"</VersioningConfiguration>")
        self.assertEqual(self.walrus.request("PUT", "/versioned?versioning", body=body).code,
                         200)
        for bucketName in ("cache", "versioned"):
            for data in (b"small", b"L" * (INLINE_MAX + 1)):
                headers = {"Content-Type": "text/plain", "x-amz-meta-colour": "blue",
                           "x-amz-tagging": "a=1&b=2", "x-amz-acl": "public-read",
                           "Cache-Control": "no-cache", "x-amz-checksum-crc32": b64encode(
                               zlib.crc32(data).to_bytes(4, "big")).decode()}
                self.walrus.put(bucketName, "k", data, headers=headers)
                bucket, obj, _ = self.store.objectCache.get(bucketName, "k")
                self.store.objectCache.invalidate()
                found, stored, _ = self.successResultOf(
                    self.store.lookupObject(bucketName, "k", 0))
                for name in rows.OBJECT_FIELDS:
                    self.assertEqual(getattr(obj, name), getattr(stored, name),
                                     (bucketName, len(data), name))
                for name in rows.BUCKET_FIELDS:
                    expected = (None if name in ("objectCount", "bytesUsed")
                                else getattr(found, name))
                    self.assertEqual(getattr(bucket, name), expected, name)
        with self.walrus.db.engine.connect() as connection:
            self.assertEqual(connection.execute(text(
                "SELECT objectCount FROM walrus_buckets WHERE name = 'cache'")).scalar(), 1)

    def test_versionedWritesAreServedAndNeverStale(self):
        """
        In a versioned bucket, each PUT is served by the next GET from the
        cache with its version id; deletes (a marker, a version by id) are
        seen at once.
        """
        body = (b"<VersioningConfiguration><Status>Enabled</Status>"
                b"</VersioningConfiguration>")
        self.assertEqual(self.walrus.request("PUT", "/cache?versioning", body=body).code, 200)
        versions = {}
        for data in (b"one", b"two"):
            versions[data] = self.walrus.put("cache", "k", data).header(b"x-amz-version-id")
            calls = self.ioCalls
            reply = self.walrus.get("cache", "k")
            self.assertEqual((reply.body, reply.header(b"x-amz-version-id")),
                             (data, versions[data]))
            self.assertEqual(self.ioCalls, calls)
        older = self.walrus.request("GET", "/cache/k?versionId=" + versions[b"one"].decode())
        self.assertEqual(older.body, b"one")
        removed = self.walrus.request("DELETE", "/cache/k")
        self.assertEqual(removed.code, 204)
        self.assertEqual(self.walrus.get("cache", "k").code, 404)
        marker = removed.header(b"x-amz-version-id").decode()
        self.assertEqual(self.walrus.request("DELETE", "/cache/k?versionId=" + marker).code, 204)
        self.assertEqual(self.cached("k"), b"two")
        self.assertEqual(self.walrus.request(
            "DELETE", "/cache/k?versionId=" + versions[b"two"].decode()).code, 204)
        self.assertEqual(self.cached("k"), b"one")
        self.assertEqual(self.walrus.get("cache", "k").header(b"x-amz-version-id"),
                         versions[b"one"])

    def test_lookupRacingAWriteToAnotherKeyIsKept(self):
        """A lookup of one key that overlaps a PUT of another key of its bucket is kept."""
        self.walrus.put("cache", "a", b"kept")
        lookup, release = self.heldLookup("cache", "a")
        self.walrus.put("cache", "b", b"new")
        release()
        self.assertEqual(self.successResultOf(lookup)[2], b"kept")
        self.assertEqual(self.store.objectCache.get("cache", "a")[2], b"kept")
        self.assertEqual(self.store.objectCache.get("cache", "b")[2], b"new")

    def test_listingAfterAPutSeesTheKey(self):
        """A PUT of a new key shows in the next listing, though other keys' entries stay."""
        self.walrus.put("cache", "a", b"x")
        self.cached("a")
        listed = self.walrus.request("GET", "/cache?list-type=2")
        self.assertEqual(listed.findall("Contents/Key"), ["a"])
        self.walrus.put("cache", "b", b"y")
        listed = self.walrus.request("GET", "/cache?list-type=2")
        self.assertEqual(listed.findall("Contents/Key"), ["a", "b"])
        self.assertIsNotNone(self.store.objectCache.get("cache", "a"))
        self.assertEqual(self.walrus.request("DELETE", "/cache/b").code, 204)
        listed = self.walrus.request("GET", "/cache?list-type=2")
        self.assertEqual(listed.findall("Contents/Key"), ["a"])
