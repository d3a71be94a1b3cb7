"""Bucket operations, listings and limits through the resource tree, in memory."""

from urllib.parse import quote

from twisted.trial import unittest

from eucad.walrus.listing import listSorted
from tests.walrus.helpers import WalrusHarness


class BucketTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self, conf={"WALRUS_MAX_BUCKETS_PER_USER": "3"})

    def test_listBucketsShowsOwnBuckets(self):
        """ListBuckets lists the caller's buckets; an admin sees all of them."""
        self.walrus.createBucket("alices")
        self.walrus.createBucket("bobs", keys="bob")
        reply = self.walrus.request("GET", "/")
        self.assertEqual(reply.findall("Buckets/Bucket/Name"), ["alices"])
        self.assertEqual(reply.findall("Owner/ID"), ["alice"])
        admin = self.walrus.request("GET", "/", keys="admin")
        self.assertEqual(admin.findall("Buckets/Bucket/Name"), ["alices", "bobs"])

    def test_anonymousListBucketsDenied(self):
        """An unsigned ListBuckets is AccessDenied."""
        reply = self.walrus.request("GET", "/", keys=None)
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))

    def test_createConflicts(self):
        """Re-creating one's bucket and taking another's give the two 409 codes."""
        self.walrus.createBucket("taken")
        mine = self.walrus.request("PUT", "/taken")
        self.assertEqual((mine.code, mine.errorCode()), (409, "BucketAlreadyOwnedByYou"))
        theirs = self.walrus.request("PUT", "/taken", keys="bob")
        self.assertEqual((theirs.code, theirs.errorCode()), (409, "BucketAlreadyExists"))

    def test_invalidNames(self):
        """Too short, IP-shaped or badly charactered names are InvalidBucketName."""
        for name in ("ab", "192.168.1.1", "bad!name", "-dash", "a..b"):
            reply = self.walrus.request("PUT", "/" + quote(name))
            self.assertEqual(reply.errorCode(), "InvalidBucketName", name)

    def test_bucketCountLimit(self):
        """The fourth bucket of a user limited to three is TooManyBuckets."""
        for name in ("one1", "two2", "three3"):
            self.walrus.createBucket(name)
        reply = self.walrus.request("PUT", "/four4")
        self.assertEqual(reply.errorCode(), "TooManyBuckets")

    def test_locationConstraint(self):
        """A LocationConstraint given at creation is what GetBucketLocation answers."""
        body = (b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                b'<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>')
        self.assertEqual(self.walrus.request("PUT", "/located", body=body).code, 200)
        reply = self.walrus.request("GET", "/located?location")
        self.assertEqual(reply.xml().text, "eu-west-1")
        self.walrus.createBucket("plain")
        self.assertIsNone(self.walrus.request("GET", "/plain?location").xml().text)

    def test_headAndDelete(self):
        """HEAD finds a bucket, DELETE of a non-empty one is BucketNotEmpty, then works."""
        self.walrus.createBucket("headme")
        self.assertEqual(self.walrus.request("HEAD", "/headme").code, 200)
        self.assertEqual(self.walrus.request("HEAD", "/nothere").code, 404)
        self.walrus.put("headme", "k", b"v")
        reply = self.walrus.request("DELETE", "/headme")
        self.assertEqual((reply.code, reply.errorCode()), (409, "BucketNotEmpty"))
        self.walrus.request("DELETE", "/headme/k")
        self.assertEqual(self.walrus.request("DELETE", "/headme").code, 204)
        self.assertEqual(self.walrus.request("HEAD", "/headme").code, 404)

    def test_onlyOwnerDeletes(self):
        """Another user cannot delete a bucket."""
        self.walrus.createBucket("keepme")
        reply = self.walrus.request("DELETE", "/keepme", keys="bob")
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))

    def test_bucketSizeLimit(self):
        """A PUT that would grow a bucket past WALRUS_MAX_BUCKET_SIZE_MB is EntityTooLarge."""
        walrus = WalrusHarness(self, conf={"WALRUS_MAX_BUCKET_SIZE_MB": "1"})
        walrus.createBucket("small")
        walrus.put("small", "a", b"x" * 700000)
        reply = walrus.request("PUT", "/small/b", body=b"x" * 400000)
        self.assertEqual((reply.code, reply.errorCode()), (400, "EntityTooLarge"))
        walrus.put("small", "a", b"x" * 900000)
        self.assertEqual([p for p in walrus.blobFiles() if "/blobs/" in p].__len__(), 1)

    def test_unsupportedSubresources(self):
        """Unconfigured website reads as NoSuchWebsiteConfiguration; writing it is NotImplemented."""
        self.walrus.createBucket("subs")
        reply = self.walrus.request("GET", "/subs?website")
        self.assertEqual((reply.code, reply.errorCode()), (404, "NoSuchWebsiteConfiguration"))
        reply = self.walrus.request("PUT", "/subs?website", body=b"<x/>")
        self.assertEqual((reply.code, reply.errorCode()), (501, "NotImplemented"))
        reply = self.walrus.request("PATCH", "/subs")
        self.assertEqual((reply.code, reply.errorCode()), (405, "MethodNotAllowed"))

    def test_virtualHostStyle(self):
        """With WALRUS_DOMAIN set, Host bucket.domain addresses the bucket."""
        walrus = WalrusHarness(self, conf={"WALRUS_DOMAIN": "s3.cloud.test"})
        walrus.createBucket("vhost")
        reply = walrus.request("PUT", "/obj", body=b"vh", host="vhost.s3.cloud.test")
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(walrus.get("vhost", "obj").body, b"vh")
        listing = walrus.request("GET", "/", host="vhost.s3.cloud.test")
        self.assertEqual(listing.findall("Contents/Key"), ["obj"])

    def test_cnameStyleOnlyForExistingBuckets(self):
        """A Host that is a bucket's name addresses it; other names stay path style."""
        self.walrus.createBucket("files.example.org")
        self.walrus.put("files.example.org", "k", b"cname")
        self.assertEqual(self.walrus.request("GET", "/k", host="files.example.org").body, b"cname")
        reply = self.walrus.request("GET", "/files.example.org/k", host="other.example.org")
        self.assertEqual(reply.body, b"cname")


class ListingTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("listing")
        self.keys = ["a.txt", "photos/2006/jan/1.jpg", "photos/2006/feb/2.jpg",
                     "photos/2007/x.jpg", "photos/top.jpg", "z b+c%d", "ünï"]
        for key in self.keys:
            self.walrus.put("listing", key, key.encode())

    def test_v1PrefixDelimiter(self):
        """ListObjects rolls keys up to CommonPrefixes at the delimiter under a prefix."""
        reply = self.walrus.request("GET", "/listing?prefix=photos%2F&delimiter=%2F")
        self.assertEqual(reply.findall("Contents/Key"), ["photos/top.jpg"])
        self.assertEqual(reply.findall("CommonPrefixes/Prefix"), ["photos/2006/", "photos/2007/"])
        self.assertEqual(reply.findall("Contents/Size"), [str(len("photos/top.jpg"))])

    def test_v1MarkerPaging(self):
        """max-keys and marker page through every key exactly once."""
        seen = []
        marker = ""
        for _ in range(10):
            reply = self.walrus.request("GET", "/listing?max-keys=2&marker=" + quote(marker, safe=""))
            keys = reply.findall("Contents/Key")
            seen.extend(keys)
            if reply.findall("IsTruncated") == ["false"]:
                break
            marker = reply.findall("NextMarker")[0]
        self.assertEqual(seen, sorted(self.keys))

    def test_v2ContinuationWithDelimiter(self):
        """ListObjectsV2 pages with continuation tokens, counting prefixes as keys."""
        seen, prefixes = [], []
        token = None
        for _ in range(10):
            path = "/listing?list-type=2&delimiter=%2F&max-keys=1"
            if token:
                path += "&continuation-token=" + quote(token, safe="")
            reply = self.walrus.request("GET", path)
            seen.extend(reply.findall("Contents/Key"))
            prefixes.extend(reply.findall("CommonPrefixes/Prefix"))
            self.assertEqual(reply.findall("KeyCount"), ["1"])
            if reply.findall("IsTruncated") == ["false"]:
                break
            token = reply.findall("NextContinuationToken")[0]
        self.assertEqual(prefixes, ["photos/"])
        self.assertEqual(seen, ["a.txt", "z b+c%d", "ünï"])

    def test_v2StartAfterAndUrlEncoding(self):
        """start-after skips keys and encoding-type=url encodes the names."""
        reply = self.walrus.request("GET", "/listing?list-type=2&start-after=photos%2Ftop.jpg"
                                    "&encoding-type=url")
        self.assertEqual(reply.findall("Contents/Key"), ["z%20b%2Bc%25d", "%C3%BCn%C3%AF"])
        self.assertEqual(reply.findall("EncodingType"), ["url"])

    def test_maxKeysZeroAndInvalid(self):
        """max-keys=0 lists nothing; a negative max-keys is InvalidArgument."""
        reply = self.walrus.request("GET", "/listing?max-keys=0")
        self.assertEqual(reply.findall("Contents/Key"), [])
        reply = self.walrus.request("GET", "/listing?max-keys=-1")
        self.assertEqual(reply.errorCode(), "InvalidArgument")

    def test_listVersions(self):
        """ListObjectVersions answers every current object with VersionId null."""
        reply = self.walrus.request("GET", "/listing?versions&prefix=photos%2F2006")
        self.assertEqual(reply.findall("Version/Key"),
                         ["photos/2006/feb/2.jpg", "photos/2006/jan/1.jpg"])
        self.assertEqual(set(reply.findall("Version/VersionId")), {"null"})
        self.assertEqual(set(reply.findall("Version/IsLatest")), {"true"})

    def test_deleteObjects(self):
        """DeleteObjects removes the listed keys and reports each one."""
        body = ("<Delete><Object><Key>a.txt</Key></Object><Object><Key>z b+c%d</Key>"
                "</Object><Object><Key>missing</Key></Object></Delete>").encode()
        import base64
        import hashlib
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        reply = self.walrus.request("POST", "/listing?delete", body=body,
                                    headers={"Content-MD5": md5})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(sorted(reply.findall("Deleted/Key")), ["a.txt", "missing", "z b+c%d"])
        remaining = self.walrus.request("GET", "/listing").findall("Contents/Key")
        self.assertNotIn("a.txt", remaining)
        self.assertEqual(len(remaining), len(self.keys) - 2)


class ListSortedTests(unittest.TestCase):
    """The listing walk against a brute-force model, over a sorted list."""

    def model(self, keys, prefix, delimiter, after, maxKeys):
        entries, prefixes = [], []
        for key in sorted(keys):
            if not key.startswith(prefix) or (after and key <= after):
                continue
            if delimiter and delimiter in key[len(prefix):]:
                common = key[:key.index(delimiter, len(prefix)) + len(delimiter)]
                if common in prefixes or (after and common <= after):
                    continue
                item = ("P", common)
                prefixes.append(common)
            else:
                item = ("K", key)
            entries.append(item)
        return entries[:maxKeys], len(entries) > maxKeys

    def walk(self, keys, prefix, delimiter, after, maxKeys):
        ordered = sorted(keys)

        def fetch(lower, inclusive, limit):
            rows = [k for k in ordered if (k >= lower if inclusive else k > lower)
                    and k.startswith(prefix)]
            return rows[:limit]
        listing = listSorted(fetch, prefix, delimiter, after, maxKeys, lambda k: k)
        items = [("K", k) for k in listing.entries] + [("P", p) for p in listing.commonPrefixes]
        items.sort(key=lambda item: item[1])
        return items, listing.truncated

    def test_matchesModel(self):
        """Every prefix/delimiter/marker/max-keys combination matches the model."""
        keys = ["a", "a/b", "a/c/d", "a/c/e", "ab", "b/x", "b/y/z", "c", "c/", "c//d",
                "d-e-f", "d-e", "é/ü"]
        for prefix in ("", "a", "a/", "b/", "c", "d-"):
            for delimiter in ("", "/", "-", "//"):
                for after in ("", "a/c/", "a/c/d", "b", "c/"):
                    for maxKeys in (1, 2, 3, 1000):
                        expected = self.model(keys, prefix, delimiter, after, maxKeys)
                        got = self.walk(keys, prefix, delimiter, after, maxKeys)
                        self.assertEqual(got, (sorted(expected[0], key=lambda i: i[1]),
                                               expected[1]),
                                         (prefix, delimiter, after, maxKeys))
