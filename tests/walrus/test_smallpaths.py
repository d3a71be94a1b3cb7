"""The small-request paths: group commit, plain-row queries, empty bodies, blob temp files, logs."""

import os
import time
from email.utils import formatdate

from sqlalchemy import select
from twisted.internet import defer
from twisted.internet.testing import StringTransport
from twisted.trial import unittest
from twisted.web.resource import Resource

from eucad.common.db import Database
from eucad.walrus import s3xml, wire
from eucad.walrus.auth import httpDateToEpoch
from eucad.walrus.blobs import TEMP_PREFIX, BlobDirectory
from eucad.walrus.body import BodySpool, EmptySpool, makeSpool
from eucad.walrus.bodyplan import BodyPlan
from eucad.walrus.errors import S3Error
from eucad.walrus.groupcommit import GroupCommit
from eucad.walrus.models import Bucket
from eucad.walrus.responses import httpDate
from eucad.walrus.rows import BUCKETS, PreparedLookup, bucketAndObject

from tests.walrus.helpers import WalrusHarness, md5hex


def _fields(row):
    if row is None:
        return None
    return {name: getattr(row, name) for name in row.__slots__}


class QueuedDatabase(Database):
    """A real SQLite Database whose ``run`` jobs wait until the test runs them."""

    def __init__(self, url):
        Database.__init__(self, url)
        self.jobs = []

    def run(self, fn, *args):
        d = defer.Deferred()
        self.jobs.append((fn, args, d))
        return d

    def runNext(self):
        fn, args, d = self.jobs.pop(0)
        try:
            result = self.transact(fn, *args)
        except Exception:
            d.errback()
        else:
            d.callback(result)


class GroupCommitTests(unittest.TestCase):
    def setUp(self):
        self.db = QueuedDatabase("sqlite:///" + os.path.join(self.mktemp() + ".db"))
        self.db.open()
        self.addCleanup(self.db.engine.dispose)
        self.db.transact(lambda s: s.add(Bucket(name="b", owner="u", acl={}, objectCount=0,
                                                bytesUsed=0)))
        self.commits = GroupCommit(self.db)

    def _count(self):
        with self.db.engine.connect() as connection:
            return connection.execute(select(BUCKETS.c.objectCount)).scalar()

    def _adder(self, amount):
        def job(connection):
            connection.execute(BUCKETS.update().values(
                objectCount=BUCKETS.c.objectCount + amount))
            return amount
        return job

    def test_waitingJobsShareOneTransaction(self):
        """Jobs submitted while a batch runs are committed together, in order, in one transaction."""
        first = self.commits.submit(self._adder(1))
        second = self.commits.submit(self._adder(2))
        third = self.commits.submit(self._adder(4))
        self.assertEqual(len(self.db.jobs), 1)
        self.db.runNext()
        self.assertEqual(self.successResultOf(first), 1)
        self.assertNoResult(second)
        self.assertEqual(len(self.db.jobs), 1)
        self.db.runNext()
        self.assertEqual((self.successResultOf(second), self.successResultOf(third)), (2, 4))
        self.assertEqual(self._count(), 7)
        self.assertEqual(self.db.jobs, [])

    def test_resultsFireOnlyOnceCommitted(self):
        """A job's Deferred has no result until its transaction has committed."""
        d = self.commits.submit(self._adder(3))
        self.assertNoResult(d)
        self.assertEqual(self._count(), 0)
        self.db.runNext()
        self.assertEqual(self._count(), 3)
        self.successResultOf(d)

    def test_s3ErrorFailsOnlyItsJob(self):
        """A job that refuses (S3Error, before writing) fails alone; its neighbours commit."""
        def refuse(connection):
            raise S3Error("AccessDenied")
        self.commits.submit(self._adder(1))
        good = self.commits.submit(self._adder(2))
        bad = self.commits.submit(refuse)
        alsoGood = self.commits.submit(self._adder(4))
        self.db.runNext()
        self.db.runNext()
        self.failureResultOf(bad, S3Error)
        self.assertEqual((self.successResultOf(good), self.successResultOf(alsoGood)), (2, 4))
        self.assertEqual(self._count(), 7)

    def test_brokenJobIsRetriedAloneAndSparesOthers(self):
        """An unexpected error rolls the batch back; each job then runs alone, so only the broken one fails."""
        def broken(connection):
            connection.execute(BUCKETS.update().values(objectCount=BUCKETS.c.objectCount + 100))
            raise RuntimeError("disk on fire")
        self.commits.submit(self._adder(1))
        good = self.commits.submit(self._adder(2))
        bad = self.commits.submit(broken)
        self.db.runNext()
        self.db.runNext()           # the shared transaction: rolled back
        self.assertEqual(self._count(), 1)
        self.db.runNext()           # good, alone
        self.db.runNext()           # broken, alone
        self.assertEqual(self.successResultOf(good), 2)
        self.failureResultOf(bad, RuntimeError)
        self.assertEqual(self._count(), 3)
        later = self.commits.submit(self._adder(8))
        self.db.runNext()
        self.assertEqual(self.successResultOf(later), 8)

    def test_batchOfNamedJobsRunsScopedToTheirBuckets(self):
        """
        A batch whose jobs all name their bucket runs through ``runScoped``
        with those buckets; one job without a bucket makes it a plain ``run``.
        """
        scopes = []

        def runScoped(buckets, fn, *args, keys=(), written=None):
            self.assertEqual(list(keys), [])
            scopes.append(set(buckets))
            return self.db.run(fn, *args)
        self.db.runScoped = runScoped
        first = self.commits.submit(self._adder(1), "b")
        self.commits.submit(self._adder(2), "b")
        self.commits.submit(self._adder(4), "c")
        self.db.runNext()
        self.db.runNext()
        self.assertEqual(scopes, [{"b"}, {"b", "c"}])
        self.successResultOf(first)
        self.commits.submit(self._adder(8), "b")
        self.commits.submit(self._adder(16), "b")
        self.commits.submit(self._adder(32))
        self.db.runNext()
        self.db.runNext()
        self.assertEqual(scopes, [{"b"}, {"b", "c"}, {"b"}])
        self.assertEqual(self._count(), 63)


    def test_keyedJobsAndTheRowsTheyWrote(self):
        """
        Jobs that name their key run scoped to those keys; what they wrote
        is given back for the object cache only for keys one job of the
        batch alone wrote, and did not refuse, in a batch not scoped to
        their whole bucket.
        """
        calls, given = [], []

        def runScoped(buckets, fn, *args, keys=(), written=None):
            calls.append((set(buckets), sorted(keys)))

            def committed(outcomes):
                given.append(written(outcomes) if written is not None else None)
                return outcomes
            return self.db.run(fn, *args).addCallback(committed)
        self.db.runScoped = runScoped

        def refuse(connection):
            raise S3Error("AccessDenied")

        def row(amount):
            return ("row of", amount)
        self.commits.submit(self._adder(1), "b", "x", written=row)
        self.commits.submit(self._adder(2), "b", "y", written=row)
        self.commits.submit(self._adder(4), "b", "y", written=row)
        refused = self.commits.submit(refuse, "b", "z", written=row)
        self.commits.submit(self._adder(8), "b", "w", written=row)
        self.commits.submit(self._adder(16), "b", "v")
        self.db.runNext()
        self.commits.submit(self._adder(32), "b", "u", written=row)
        self.commits.submit(self._adder(64), "b")
        self.db.runNext()
        self.failureResultOf(refused, S3Error)
        self.commits.submit(self._adder(128), "b", "t")
        self.db.runNext()
        self.db.runNext()
        self.assertEqual(calls, [
            (set(), [("b", "x")]),
            (set(), [("b", "v"), ("b", "w"), ("b", "y"), ("b", "y"), ("b", "z")]),
            ({"b"}, [("b", "u")]),
            (set(), [("b", "t")])])
        self.assertEqual(given, [[("b", "x", "row of", 1)], [("b", "w", "row of", 8)], [],
                                 None])
        self.assertEqual(self._count(), 255)


class PlainRowTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("rows")

    def _totals(self):
        with self.walrus.db.engine.connect() as connection:
            return tuple(connection.execute(select(BUCKETS.c.objectCount, BUCKETS.c.bytesUsed)
                                            .where(BUCKETS.c.name == "rows")).first())

    def test_bucketTotalsFollowPutsOverwritesAndDeletes(self):
        """Objects and bytes counted by SQL arithmetic match what was stored."""
        self.walrus.put("rows", "a", b"x" * 10)
        self.walrus.put("rows", "b", b"y" * 5)
        self.assertEqual(self._totals(), (2, 15))
        self.walrus.put("rows", "a", b"z" * 3)
        self.assertEqual(self._totals(), (2, 8))
        self.walrus.request("DELETE", "/rows/b")
        self.assertEqual(self._totals(), (1, 3))

    def test_lookupReadsSmallObjectsInTheSameJob(self):
        """lookupObject returns the bytes of an object up to readUpTo, and none above it."""
        self.walrus.put("rows", "small", b"0123456789")
        store = self.walrus.walrus.store
        bucket, obj, data = self.successResultOf(store.lookupObject("rows", "small", 10))
        self.assertEqual((bucket.name, bucket.owner, obj.key, obj.size, data),
                         ("rows", "alice", "small", 10, b"0123456789"))
        _, _, data = self.successResultOf(store.lookupObject("rows", "small", 9))
        self.assertIsNone(data)
        _, missing, data = self.successResultOf(store.lookupObject("rows", "none", 10))
        self.assertEqual((missing, data), (None, None))
        self.failureResultOf(store.lookupObject("nobucket", "small", 10), S3Error)

    def test_preparedLookupMatchesTheCoreQuery(self):
        """The raw-connection lookup gives the same rows, JSON decoded, as the SQLAlchemy one."""
        self.walrus.put("rows", "k", b"data", headers={"x-amz-meta-colour": "blue",
                                                       "Content-Type": "text/plain"})
        engine = self.walrus.db.engine
        lookup = PreparedLookup(engine)
        for bucketName, key in (("rows", "k"), ("rows", "missing"), ("nobucket", "k")):
            fast = lookup(bucketName, key)
            with engine.connect() as connection:
                slow = bucketAndObject(connection, bucketName, key)
            self.assertEqual([_fields(row) for row in fast], [_fields(row) for row in slow])
        bucket, obj = lookup("rows", "k")
        self.assertEqual((obj.meta, obj.headers["content-type"], bucket.acl["owner"]),
                         ({"colour": "blue"}, "text/plain", "alice"))
        self.assertEqual((obj.segments, obj.data), ([], b"data"))

    def test_rangeOfSmallObjectFromWholeRead(self):
        """A range of a small object is cut from the bytes read with the lookup."""
        self.walrus.put("rows", "r", b"abcdefghij")
        reply = self.walrus.get("rows", "r", headers={"Range": "bytes=2-4"})
        self.assertEqual((reply.code, reply.body), (206, b"cde"))
        reply = self.walrus.request("HEAD", "/rows/r")
        self.assertEqual((reply.code, reply.header("Content-Length"), reply.body),
                         (200, "10", b""))


class ListingXmlTests(unittest.TestCase):
    KEYS = ["<WalrusTailMark/>", "a&b<c>\"d'", "caf\u00e9/\u65e5\u672c", "plain", "x/1", "x/2"]

    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("xml")
        for key in self.KEYS:
            self.walrus.put("xml", key, b"v")

    def test_awkwardKeysRoundTripInEveryListing(self):
        """Keys needing escapes or UTF-8 come back exactly, in S3's namespace, in all three listings."""
        v1 = self.walrus.request("GET", "/xml")
        self.assertEqual(v1.findall("Contents/Key"), self.KEYS)
        self.assertEqual(v1.findall("Contents/Owner/ID"), ["alice"] * len(self.KEYS))
        v2 = self.walrus.request("GET", "/xml?list-type=2&delimiter=%2F")
        self.assertEqual(v2.findall("Contents/Key"), [self.KEYS[1], "plain"])
        self.assertEqual(v2.findall("CommonPrefixes/Prefix"),
                         ["<WalrusTailMark/", "caf\u00e9/", "x/"])
        self.assertEqual(v2.findall("Contents/Owner/ID"), [])
        self.assertEqual(v2.findall("Contents/StorageClass"), ["STANDARD"] * 2)
        owners = self.walrus.request("GET", "/xml?list-type=2&fetch-owner=true")
        self.assertEqual(owners.findall("Contents/Owner/DisplayName"), ["alice"] * len(self.KEYS))
        versions = self.walrus.request("GET", "/xml?versions")
        self.assertEqual(versions.findall("Version/Key"), self.KEYS)
        self.assertEqual(versions.findall("Version/VersionId"), ["null"] * len(self.KEYS))
        self.assertEqual(versions.findall("Version/ETag"), ['"%s"' % md5hex(b"v")] * len(self.KEYS))

    def test_urlEncodedListing(self):
        """encoding-type=url percent-encodes keys and prefixes in the rendered entries."""
        reply = self.walrus.request("GET", "/xml?list-type=2&delimiter=%2F&encoding-type=url")
        self.assertEqual(reply.findall("Contents/Key"), ["a%26b%3Cc%3E%22d%27", "plain"])
        self.assertEqual(reply.findall("CommonPrefixes/Prefix"),
                         ["%3CWalrusTailMark/", "caf%C3%A9/", "x/"])


    def test_escapedAsLxmlEscapes(self):
        """The listing's own escaping writes what lxml writes, and declines what lxml refuses."""
        from lxml import etree
        texts = ["plain", "a&b<c>d", "quote\"'", "cr\rlf\n\ttab", "]]>", "caf\u00e9 \U0001F600",
                 "\ud7ff\ue000\ufffd"]
        for text in texts:
            element = etree.Element("k")
            element.text = text
            expected = etree.tostring(element, encoding="UTF-8")[3:-4].decode("utf-8")
            self.assertEqual(s3xml.escapeText(text), expected, repr(text))
        for text in ["nul\x00", "bell\x07", "\x1f", "\ufffe", "\uffff", "lone\ud800"]:
            self.assertIsNone(s3xml.escapeText(text), repr(text))
            element = etree.Element("k")
            with self.assertRaises((ValueError, UnicodeEncodeError)):
                element.text = text
                etree.tostring(element, encoding="UTF-8")

    def test_carriageReturnInAKey(self):
        """A key holding a carriage return lists back exactly."""
        self.walrus.put("xml", "line\rbreak", b"v")
        reply = self.walrus.request("GET", "/xml?list-type=2&prefix=line")
        self.assertEqual(reply.findall("Contents/Key"), ["line\rbreak"])


class EmptySpoolTests(unittest.TestCase):
    def test_zeroLengthGetsTheEmptySpool(self):
        """A body declared empty is ready at once with the digests of nothing."""
        blobs = BlobDirectory(self.mktemp())
        plan = BodyPlan(sha256=True, algorithms=["CRC32"])
        spool = makeSpool(plan, blobs, None, None, 0)
        self.assertIsInstance(spool, EmptySpool)
        body = self.successResultOf(spool.finish())
        self.assertEqual((body.size, body.data, body.md5Hex), (0, b"", "d41d8cd98f00b204e9800998ecf8427e"))
        self.assertEqual(body.sha256Hex,
                         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        self.assertEqual(body.checksums, {"CRC32": "AAAAAA=="})
        again = self.successResultOf(makeSpool(plan, blobs, None, None, 0).finish())
        self.assertEqual(again.md5Hex, body.md5Hex)

    def test_framedOrUnknownBodiesKeepTheFullSpool(self):
        """An aws-chunked body declared empty still goes through the decoder (and fails there)."""
        blobs = BlobDirectory(self.mktemp())
        self.assertIsInstance(makeSpool(BodyPlan(framing="unsigned"), blobs, None, None, 0),
                              BodySpool)
        self.assertIsInstance(makeSpool(BodyPlan(), blobs, None, None, 5), BodySpool)


class BlobTempTests(unittest.TestCase):
    def setUp(self):
        self.blobs = BlobDirectory(self.mktemp())
        self.blobs.prepare()

    def test_tempFileLivesBesideItsBlob(self):
        """A temporary file is made in its blob's fan-out directory and renamed there."""
        handle, temp = self.blobs.createTemp()
        handle.write(b"data")
        self.blobs.finishTemp(handle)
        self.assertTrue(os.path.basename(temp).startswith(TEMP_PREFIX))
        self.assertEqual(self.blobs.temporaryFiles(), [temp])
        name = self.blobs.install(temp)
        self.assertEqual(os.path.dirname(self.blobs.path(name)), os.path.dirname(temp))
        self.assertFalse(os.path.exists(temp))
        with open(self.blobs.path(name), "rb") as f:
            self.assertEqual(f.read(), b"data")
        self.assertEqual(self.blobs.temporaryFiles(), [])

    def test_installRefusesOtherFiles(self):
        """Only a temporary file made by createTemp can become a blob."""
        stray = os.path.join(self.blobs.root, "stray")
        with open(stray, "wb") as f:
            f.write(b"x")
        self.assertRaises(ValueError, self.blobs.install, stray)
        elsewhere = os.path.join(self.blobs.root, TEMP_PREFIX + "0" * 32)
        os.rename(stray, elsewhere)
        self.assertRaises(ValueError, self.blobs.install, elsewhere)

    def test_sweepRemovesTempFilesInBothPlaces(self):
        """Start-up removes old temporary files beside blobs and in an older version's tmp/."""
        handle, temp = self.blobs.createTemp()
        handle.close()
        os.makedirs(self.blobs.tmp)
        legacy = os.path.join(self.blobs.tmp, TEMP_PREFIX + "1" * 32)
        open(legacy, "wb").close()
        kept = self.blobs.installBytes(b"kept")
        self.assertEqual(sorted(self.blobs.temporaryFiles()), sorted([temp, legacy]))
        removed = self.blobs.sweep(lambda: {kept}, time.time() + 1)
        self.assertEqual(removed, (2, 0))
        self.assertEqual(self.blobs.temporaryFiles(), [])
        self.assertTrue(os.path.exists(self.blobs.path(kept)))


class _Answer(Resource):
    isLeaf = True

    def render(self, request):
        return b"ok"


class AccessLogTests(unittest.TestCase):
    def _serve(self, accessLog):
        site = wire.makeSite(_Answer(), lambda headers, length, producer: EmptySpool(
            BodyPlan(), None, None))
        site.accessLog = accessLog
        site._logFile = _Lines()
        channel = site.buildProtocol(None)
        channel.makeConnection(StringTransport())
        channel.dataReceived(b"GET /b/k HTTP/1.1\r\nHost: x\r\n\r\n")
        channel.connectionLost(None)
        return site._logFile.lines

    def test_noAccessLinesByDefault(self):
        """Walrus's Site writes no line per request unless asked."""
        self.assertEqual(self._serve(False), [])

    def test_accessLinesWhenAsked(self):
        """With accessLog (LOGLEVEL DEBUG) each request gets its line."""
        lines = self._serve(True)
        self.assertEqual(len(lines), 1)
        self.assertIn('"GET /b/k HTTP/1.1" 200', lines[0])


class _Lines:
    def __init__(self):
        self.lines = []

    def write(self, line):
        self.lines.append(line)


class DateCacheTests(unittest.TestCase):
    def test_httpDateMatchesFormatdate(self):
        """The cached Last-Modified text equals email.utils.formatdate for any time."""
        for epoch in (0, 1.999, 1e9 + 0.5, 1795594595.25, 2 ** 31 + 0.75):
            self.assertEqual(httpDate(epoch), formatdate(epoch, usegmt=True))

    def test_requestDateParsedOrRefused(self):
        """A Date header parses (repeatedly) to its epoch; garbage is AccessDenied every time."""
        self.assertEqual(httpDateToEpoch("Thu, 01 Jan 1970 00:01:40 GMT"), 100.0)
        self.assertEqual(httpDateToEpoch("Thu, 01 Jan 1970 00:01:40 GMT"), 100.0)
        for _ in range(2):
            error = self.assertRaises(S3Error, httpDateToEpoch, "not a date")
            self.assertEqual(error.code, "AccessDenied")


class LostConnectionTests(unittest.TestCase):
    def test_noAnswerAfterTheConnectionIsLost(self):
        """A GET whose client left while its object was being looked up is not answered, and nothing fails."""
        from twisted.internet.error import ConnectionDone
        from twisted.python.failure import Failure

        from eucad.walrus.service import WalrusResource
        from tests.walrus.helpers import HOST
        harness = WalrusHarness(self)
        harness.createBucket("lost")
        harness.put("lost", "k", b"data")
        walrus = harness.walrus
        walrus.store.objectCache.invalidate()
        held = []

        def heldIo(fn, *args, **kwargs):
            d = defer.Deferred()
            held.append((fn, args, kwargs, d))
            return d
        walrus.store.runIo = heldIo
        site = wire.makeSite(WalrusResource(walrus), walrus.spoolFactory, gate=walrus)
        channel = site.buildProtocol(None)
        transport = StringTransport()
        channel.makeConnection(transport)
        headers = harness.sign("GET", "http://%s/lost/k" % (HOST,), {}, b"", harness.alice, "v2")
        channel.dataReceived(("GET /lost/k HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (HOST, "".join(
            "%s: %s\r\n" % item for item in headers.items()))).encode())
        self.assertEqual(len(held), 1)
        channel.connectionLost(Failure(ConnectionDone()))
        fn, args, kwargs, d = held[0]
        d.callback(fn(*args, **kwargs))
        self.assertEqual(transport.value(), b"")
        self.assertEqual(self.flushLoggedErrors(), [])
