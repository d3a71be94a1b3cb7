"""Object operations through the resource tree, in memory (StubTreq)."""

import base64
import hashlib
import os
import zlib

from twisted.trial import unittest

from tests.walrus.helpers import WalrusHarness, md5hex


class PutGetTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("photos")

    def test_roundTripWithMetadataAndContentHeaders(self):
        """A PUT's body, x-amz-meta-* and Content-*/Cache-Control/Expires come back on GET."""
        data = os.urandom(5000)
        headers = {"Content-Type": "image/png", "Content-Disposition": "attachment",
                   "Content-Language": "fr", "Cache-Control": "max-age=60",
                   "Expires": "Thu, 01 Dec 2094 16:00:00 GMT",
                   "Content-Encoding": "identity", "x-amz-meta-Color": "blue"}
        put = self.walrus.put("photos", "cat.png", data, headers=headers)
        self.assertEqual(put.header("ETag"), '"%s"' % md5hex(data))
        got = self.walrus.get("photos", "cat.png")
        self.assertEqual(got.code, 200)
        self.assertEqual(got.body, data)
        for name, value in headers.items():
            self.assertEqual(got.header(name.lower() if name.startswith("x-amz") else name), value)

    def test_headObject(self):
        """HEAD answers the object's length and ETag without a body."""
        data = b"x" * 1234
        self.walrus.put("photos", "h", data)
        head = self.walrus.request("HEAD", "/photos/h")
        self.assertEqual((head.code, head.body), (200, b""))
        self.assertEqual(head.header("Content-Length"), "1234")
        self.assertEqual(head.header("ETag"), '"%s"' % md5hex(data))

    def test_largeBodyStreamsThroughFiles(self):
        """A body above the in-memory limit is spooled to disk and read back whole."""
        data = os.urandom(3 * 1024 * 1024 + 17)
        self.walrus.put("photos", "big", data)
        got = self.walrus.get("photos", "big")
        self.assertEqual(hashlib.sha256(got.body).digest(), hashlib.sha256(data).digest())
        self.assertEqual(self.walrus.walrus.blobs.temporaryFiles(), [])

    def test_awkwardKeysAreNeverPaths(self):
        """Keys with .., /, %, spaces, unicode and 1024 bytes round-trip and name no file."""
        keys = ["../../etc/passwd", "a/b/../c", "100% sure", "sp ace/+plus", "ünï/cödé",
                "/leading", "k" * 1024, "dir/"]
        for index, key in enumerate(keys):
            self.walrus.put("photos", key, b"v%d" % index)
        for index, key in enumerate(keys):
            self.assertEqual(self.walrus.get("photos", key).body, b"v%d" % index)
        listed = self.walrus.request("GET", "/photos?list-type=2").findall("Contents/Key")
        self.assertEqual(sorted(listed), sorted(keys))
        for path in self.walrus.blobFiles():
            self.assertRegex(os.path.basename(path), "^[0-9a-f]{32}$")
        self.assertFalse(os.path.exists(os.path.join(self.walrus.root, "etc")))

    def test_tooLongKey(self):
        """A key of 1025 bytes is KeyTooLongError."""
        reply = self.walrus.request("PUT", "/photos/" + "k" * 1025, body=b"x")
        self.assertEqual((reply.code, reply.errorCode()), (400, "KeyTooLongError"))

    def test_overwriteReplacesDataAndFreesOldBlob(self):
        """A second PUT of a key replaces its data and leaves one blob file."""
        old, new = b"old" * 30000, b"new" * 30000   # larger than eucad.walrus.inline keeps
        self.walrus.put("photos", "k", old)
        self.walrus.put("photos", "k", new)
        self.assertEqual(self.walrus.get("photos", "k").body, new)
        blobs = [p for p in self.walrus.blobFiles() if "/blobs/" in p]
        self.assertEqual(len(blobs), 1)

    def test_noSuchKeyAndNoSuchBucket(self):
        """Missing keys and buckets answer 404 with S3's codes."""
        self.assertEqual(self.walrus.get("photos", "nope").errorCode(), "NoSuchKey")
        reply = self.walrus.get("nobucket", "k")
        self.assertEqual((reply.code, reply.errorCode()), (404, "NoSuchBucket"))

    def test_deleteObject(self):
        """DELETE removes the key and its blob; deleting again still answers 204."""
        self.walrus.put("photos", "gone", b"data")
        self.assertEqual(self.walrus.request("DELETE", "/photos/gone").code, 204)
        self.assertEqual(self.walrus.get("photos", "gone").code, 404)
        self.assertEqual(self.walrus.request("DELETE", "/photos/gone").code, 204)
        self.assertEqual([p for p in self.walrus.blobFiles() if "/blobs/" in p], [])

    def test_servicePrefixPathStyle(self):
        """The same object is reachable under /services/Walrus and at the root."""
        self.walrus.put("photos", "p", b"prefix")
        self.assertEqual(self.walrus.request("GET", "/services/Walrus/photos/p").body, b"prefix")


class DigestTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("sums")

    def test_contentMd5Verified(self):
        """A right Content-MD5 is accepted, a wrong one is BadDigest, a malformed one InvalidDigest."""
        good = base64.b64encode(hashlib.md5(b"abc").digest()).decode()
        self.walrus.put("sums", "ok", b"abc", headers={"Content-MD5": good})
        bad = base64.b64encode(hashlib.md5(b"abd").digest()).decode()
        reply = self.walrus.request("PUT", "/sums/bad", body=b"abc", headers={"Content-MD5": bad})
        self.assertEqual((reply.code, reply.errorCode()), (400, "BadDigest"))
        reply = self.walrus.request("PUT", "/sums/bad", body=b"abc",
                                    headers={"Content-MD5": "not base64!"})
        self.assertEqual(reply.errorCode(), "InvalidDigest")
        self.assertEqual(self.walrus.get("sums", "bad").code, 404)

    def test_flexibleChecksumsVerifiedAndReturned(self):
        """x-amz-checksum-crc32/sha256 are checked, kept, and answered with checksum mode."""
        data = b"checksum me"
        crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
        self.walrus.put("sums", "c", data, headers={"x-amz-checksum-crc32": crc,
                                                     "x-amz-checksum-sha256": sha})
        got = self.walrus.get("sums", "c", headers={"x-amz-checksum-mode": "ENABLED"})
        self.assertEqual(got.header("x-amz-checksum-crc32"), crc)
        self.assertEqual(got.header("x-amz-checksum-sha256"), sha)
        self.assertIsNone(self.walrus.get("sums", "c").header("x-amz-checksum-crc32"))
        reply = self.walrus.request("PUT", "/sums/d", body=data,
                                    headers={"x-amz-checksum-crc32": "AAAAAA=="})
        self.assertEqual(reply.errorCode(), "BadDigest")

    def test_crc32cChecksum(self):
        """CRC32C (the Castagnoli polynomial) is computed and checked."""
        data = b"123456789"
        # The CRC-32C check value of "123456789" is 0xE3069283.
        crc = base64.b64encode(bytes.fromhex("e3069283")).decode()
        self.walrus.put("sums", "c32c", data, headers={"x-amz-checksum-crc32c": crc})
        got = self.walrus.get("sums", "c32c", headers={"x-amz-checksum-mode": "ENABLED"})
        self.assertEqual((got.code, got.body), (200, data))
        self.assertEqual(got.header("x-amz-checksum-crc32c"), crc)
        # The CRC-32 (not -32C) of the same bytes must not pass for it.
        wrong = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        reply = self.walrus.request("PUT", "/sums/c32c-bad", body=data,
                                    headers={"x-amz-checksum-crc32c": wrong})
        self.assertEqual((reply.code, reply.errorCode()), (400, "BadDigest"))
        self.assertEqual(self.walrus.get("sums", "c32c-bad").code, 404)


class RangeAndConditionTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("ranges")
        self.data = bytes(range(256)) * 4
        self.etag = '"%s"' % md5hex(self.data)
        self.walrus.put("ranges", "r", self.data)

    def test_ranges(self):
        """bytes=a-b, a-, -n answer 206 with the right bytes and Content-Range."""
        for spec, start, end in (("bytes=0-9", 0, 9), ("bytes=1000-", 1000, 1023),
                                 ("bytes=-24", 1000, 1023), ("bytes=10-5000", 10, 1023)):
            reply = self.walrus.get("ranges", "r", headers={"Range": spec})
            self.assertEqual(reply.code, 206, spec)
            self.assertEqual(reply.body, self.data[start:end + 1], spec)
            self.assertEqual(reply.header("Content-Range"), "bytes %d-%d/1024" % (start, end))

    def test_unsatisfiableRange(self):
        """A range starting past the end is 416 InvalidRange."""
        reply = self.walrus.get("ranges", "r", headers={"Range": "bytes=5000-"})
        self.assertEqual((reply.code, reply.errorCode()), (416, "InvalidRange"))

    def test_largeRangeStreams(self):
        """A range larger than a single read is streamed correctly from a multi-MiB object."""
        data = os.urandom(2 * 1024 * 1024)
        self.walrus.put("ranges", "large", data)
        reply = self.walrus.get("ranges", "large", headers={"Range": "bytes=100-1500000"})
        self.assertEqual(reply.body, data[100:1500001])

    def test_conditionals(self):
        """If-Match/If-None-Match/If-Modified-Since/If-Unmodified-Since give 200, 304 or 412."""
        future = "Thu, 01 Jan 2093 00:00:00 GMT"
        past = "Thu, 01 Jan 1998 00:00:00 GMT"
        cases = [({"If-Match": self.etag}, 200), ({"If-Match": '"0000"'}, 412),
                 ({"If-None-Match": self.etag}, 304), ({"If-None-Match": '"0000"'}, 200),
                 ({"If-Modified-Since": future}, 304), ({"If-Modified-Since": past}, 200),
                 ({"If-Unmodified-Since": past}, 412), ({"If-Unmodified-Since": future}, 200),
                 ({"If-Match": self.etag, "If-Unmodified-Since": past}, 200)]
        for headers, code in cases:
            for method in ("GET", "HEAD"):
                reply = self.walrus.request(method, "/ranges/r", headers=headers)
                self.assertEqual(reply.code, code, (method, headers))
                if code == 412 and method == "GET":
                    self.assertEqual(reply.errorCode(), "PreconditionFailed")

    def test_responseOverrides(self):
        """response-content-type and friends override the stored headers on GET."""
        reply = self.walrus.request(
            "GET", "/ranges/r?response-content-type=text%2Fcsv&response-cache-control=no-cache")
        self.assertEqual(reply.header("Content-Type"), "text/csv")
        self.assertEqual(reply.header("Cache-Control"), "no-cache")


class CopyTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("src")
        self.walrus.createBucket("dst")
        self.walrus.put("src", "o", b"original", headers={"x-amz-meta-a": "1",
                                                          "Content-Type": "text/plain"})

    def test_copyKeepsMetadata(self):
        """CopyObject across buckets copies data and metadata (COPY directive)."""
        reply = self.walrus.request("PUT", "/dst/copy", headers={"x-amz-copy-source": "/src/o"})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(reply.findall("ETag"), ['"%s"' % md5hex(b"original")])
        got = self.walrus.get("dst", "copy")
        self.assertEqual((got.body, got.header("x-amz-meta-a"), got.header("Content-Type")),
                         (b"original", "1", "text/plain"))

    def test_copyReplacesMetadata(self):
        """With REPLACE the copy takes the request's metadata."""
        self.walrus.request("PUT", "/src/o2", headers={
            "x-amz-copy-source": "src/o", "x-amz-metadata-directive": "REPLACE",
            "x-amz-meta-b": "2", "Content-Type": "application/json"})
        got = self.walrus.get("src", "o2")
        self.assertEqual((got.header("x-amz-meta-a"), got.header("x-amz-meta-b"),
                          got.header("Content-Type")), (None, "2", "application/json"))

    def test_copyToItselfNeedsReplace(self):
        """Copying an object onto itself without REPLACE is InvalidRequest."""
        reply = self.walrus.request("PUT", "/src/o", headers={"x-amz-copy-source": "/src/o"})
        self.assertEqual(reply.errorCode(), "InvalidRequest")

    def test_copySourceConditions(self):
        """x-amz-copy-source-if-match that fails is PreconditionFailed."""
        reply = self.walrus.request("PUT", "/dst/c", headers={
            "x-amz-copy-source": "/src/o", "x-amz-copy-source-if-match": '"nope"'})
        self.assertEqual((reply.code, reply.errorCode()), (412, "PreconditionFailed"))

    def test_copyMissingSource(self):
        """Copying a missing key is NoSuchKey."""
        reply = self.walrus.request("PUT", "/dst/c", headers={"x-amz-copy-source": "/src/none"})
        self.assertEqual(reply.errorCode(), "NoSuchKey")
