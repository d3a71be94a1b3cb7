"""Small objects kept in their database rows (eucad.walrus.inline)."""

from twisted.trial import unittest

from eucad.walrus.inline import INLINE_MAX
from tests.walrus.helpers import WalrusHarness, md5hex


class InlineObjectTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("small")

    def blobs(self):
        return [p for p in self.walrus.blobFiles() if "/blobs/" in p]

    def test_smallObjectHasNoBlobFile(self):
        """A PUT of at most INLINE_MAX bytes is kept in its row, and reads back whole and by range."""
        data = bytes(range(256)) * (INLINE_MAX // 256)
        reply = self.walrus.put("small", "k", data)
        self.assertEqual(reply.header("ETag"), '"%s"' % md5hex(data))
        self.assertEqual((self.blobs(), self.walrus.inlineBodies()), ([], 1))
        self.assertEqual(self.walrus.get("small", "k").body, data)
        reply = self.walrus.get("small", "k", headers={"Range": "bytes=100-199"})
        self.assertEqual((reply.code, reply.body), (206, data[100:200]))
        head = self.walrus.request("HEAD", "/small/k")
        self.assertEqual(head.header("Content-Length"), str(len(data)))

    def test_emptyObjectIsInline(self):
        """An empty PUT is an inline row of no bytes: GET answers an empty body."""
        self.walrus.put("small", "empty", b"")
        reply = self.walrus.get("small", "empty")
        self.assertEqual((reply.code, reply.body), (200, b""))
        self.assertEqual(self.blobs(), [])

    def test_largerObjectKeepsABlobFile(self):
        """One byte over INLINE_MAX goes to a blob file, as before."""
        data = b"x" * (INLINE_MAX + 1)
        self.walrus.put("small", "big", data)
        self.assertEqual((len(self.blobs()), self.walrus.inlineBodies()), (1, 0))
        self.assertEqual(self.walrus.get("small", "big").body, data)

    def test_overwritesBetweenRowAndFile(self):
        """Replacing a blob-backed object by a small one frees its file, and back again."""
        large = b"L" * (INLINE_MAX * 2)
        self.walrus.put("small", "k", large)
        self.assertEqual(len(self.blobs()), 1)
        self.walrus.put("small", "k", b"tiny")
        self.assertEqual((self.blobs(), self.walrus.inlineBodies()), ([], 1))
        self.assertEqual(self.walrus.get("small", "k").body, b"tiny")
        self.walrus.put("small", "k", large)
        self.assertEqual((len(self.blobs()), self.walrus.inlineBodies()), (1, 0))
        self.assertEqual(self.walrus.get("small", "k").body, large)

    def test_deleteRemovesTheRowAndItsBytes(self):
        """DELETE of an inline object leaves nothing stored."""
        self.walrus.put("small", "k", b"gone soon")
        self.assertEqual(self.walrus.request("DELETE", "/small/k").code, 204)
        self.assertEqual(self.walrus.get("small", "k").code, 404)
        self.assertEqual(self.walrus.storedBodies(), 0)

    def test_copyOfAnInlineObject(self):
        """CopyObject and UploadPartCopy read an inline source's bytes."""
        data = b"copy me " * 100
        self.walrus.put("small", "src", data)
        reply = self.walrus.request("PUT", "/small/dst",
                                    headers={"x-amz-copy-source": "/small/src"})
        self.assertEqual(reply.code, 200)
        self.assertEqual(self.walrus.get("small", "dst").body, data)
        upload = self.walrus.request("POST", "/small/mp?uploads").findall("UploadId")[0]
        reply = self.walrus.request(
            "PUT", "/small/mp?partNumber=1&uploadId=" + upload,
            headers={"x-amz-copy-source": "/small/src", "x-amz-copy-source-range": "bytes=5-9"})
        self.assertEqual(reply.code, 200)
        etag = reply.findall("ETag")[0]
        complete = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag>"
                    "</Part></CompleteMultipartUpload>" % (etag,)).encode()
        reply = self.walrus.request("POST", "/small/mp?uploadId=" + upload, body=complete)
        self.assertEqual(reply.code, 200)
        self.assertEqual(self.walrus.get("small", "mp").body, data[5:10])

    def test_noncurrentVersionsKeepTheirBytes(self):
        """A versioned bucket's small versions keep their bytes in their rows, readable by id."""
        self.walrus.request("PUT", "/small?versioning", body=(
            b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"))
        ids = [self.walrus.put("small", "v", data).header("x-amz-version-id")
               for data in (b"first", b"second")]
        self.assertEqual((self.blobs(), self.walrus.inlineBodies()), ([], 2))
        for versionId, data in zip(ids, (b"first", b"second")):
            reply = self.walrus.request("GET", "/small/v?versionId=" + versionId)
            self.assertEqual((reply.code, reply.body), (200, data))
        self.walrus.request("DELETE", "/small/v?versionId=" + ids[1])
        self.assertEqual(self.walrus.get("small", "v").body, b"first")
        self.assertEqual(self.walrus.inlineBodies(), 1)
