"""Multipart uploads through the resource tree, in memory."""

import hashlib
import os

from twisted.trial import unittest

from eucad.walrus.uploadstore import MIN_PART_SIZE
from tests.walrus.helpers import WalrusHarness, md5hex


def completion(parts):
    body = "".join("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (n, e)
                   for n, e in parts)
    return ("<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % body).encode()


class MultipartTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("mpu")

    def start(self, key="big", headers=None):
        reply = self.walrus.request("POST", "/mpu/%s?uploads" % key, headers=headers)
        self.assertEqual(reply.code, 200, reply.body)
        return reply.findall("UploadId")[0]

    def part(self, uploadId, number, data, key="big"):
        reply = self.walrus.request("PUT", "/mpu/%s?partNumber=%d&uploadId=%s"
                                    % (key, number, uploadId), body=data)
        self.assertEqual(reply.code, 200, reply.body)
        return reply.header("ETag")

    def test_completeJoinsPartsWithoutCopying(self):
        """Completing gives the concatenated data, S3's -N ETag, and reuses the part files."""
        uploadId = self.start(headers={"Content-Type": "video/mp4", "x-amz-meta-k": "v"})
        first = os.urandom(MIN_PART_SIZE)
        second = os.urandom(1000)
        etags = [self.part(uploadId, 1, first), self.part(uploadId, 2, second)]
        blobsBefore = sorted(p for p in self.walrus.blobFiles() if "/blobs/" in p)
        reply = self.walrus.request("POST", "/mpu/big?uploadId=" + uploadId,
                                    body=completion([(1, etags[0]), (2, etags[1])]))
        self.assertEqual(reply.code, 200, reply.body)
        expected = hashlib.md5(bytes.fromhex(md5hex(first)) + bytes.fromhex(md5hex(second)))
        self.assertEqual(reply.findall("ETag"), ['"%s-2"' % expected.hexdigest()])
        got = self.walrus.get("mpu", "big")
        self.assertEqual(got.body, first + second)
        self.assertEqual((got.header("Content-Type"), got.header("x-amz-meta-k")),
                         ("video/mp4", "v"))
        ranged = self.walrus.get("mpu", "big", headers={"Range": "bytes=%d-%d" % (
            MIN_PART_SIZE - 5, MIN_PART_SIZE + 4)})
        self.assertEqual(ranged.body, (first + second)[MIN_PART_SIZE - 5:MIN_PART_SIZE + 5])
        self.assertEqual(sorted(p for p in self.walrus.blobFiles() if "/blobs/" in p),
                         blobsBefore)
        missing = self.walrus.request("GET", "/mpu/big?uploadId=" + uploadId)
        self.assertEqual(missing.errorCode(), "NoSuchUpload")

    def test_listPartsAndUploads(self):
        """ListParts and ListMultipartUploads show what is in progress."""
        uploadId = self.start()
        other = self.start(key="dir/other")
        self.part(uploadId, 1, b"a" * 10)
        self.part(uploadId, 3, b"c" * 30)
        parts = self.walrus.request("GET", "/mpu/big?uploadId=" + uploadId)
        self.assertEqual(parts.findall("Part/PartNumber"), ["1", "3"])
        self.assertEqual(parts.findall("Part/Size"), ["10", "30"])
        uploads = self.walrus.request("GET", "/mpu?uploads")
        self.assertEqual(sorted(uploads.findall("Upload/UploadId")), sorted([uploadId, other]))
        grouped = self.walrus.request("GET", "/mpu?uploads&delimiter=%2F")
        self.assertEqual(grouped.findall("Upload/Key"), ["big"])
        self.assertEqual(grouped.findall("CommonPrefixes/Prefix"), ["dir/"])

    def test_completionErrors(self):
        """Bad part order, unknown ETags and small middle parts are refused with S3's codes."""
        uploadId = self.start()
        small = self.part(uploadId, 1, b"s" * 100)
        last = self.part(uploadId, 2, b"l" * 100)
        path = "/mpu/big?uploadId=" + uploadId
        order = self.walrus.request("POST", path, body=completion([(2, last), (1, small)]))
        self.assertEqual(order.errorCode(), "InvalidPartOrder")
        wrong = self.walrus.request("POST", path, body=completion([(1, '"00"'), (2, last)]))
        self.assertEqual(wrong.errorCode(), "InvalidPart")
        tiny = self.walrus.request("POST", path, body=completion([(1, small), (2, last)]))
        self.assertEqual(tiny.errorCode(), "EntityTooSmall")
        garbage = self.walrus.request("POST", path, body=b"<CompleteMultipartUpload><Part>")
        self.assertEqual(garbage.errorCode(), "MalformedXML")
        self.assertEqual(self.walrus.get("mpu", "big").code, 404)

    def test_abort(self):
        """Aborting removes the upload and its part files."""
        uploadId = self.start()
        self.part(uploadId, 1, b"p" * 100)
        reply = self.walrus.request("DELETE", "/mpu/big?uploadId=" + uploadId)
        self.assertEqual(reply.code, 204)
        self.assertEqual([p for p in self.walrus.blobFiles() if "/blobs/" in p], [])
        again = self.walrus.request("DELETE", "/mpu/big?uploadId=" + uploadId)
        self.assertEqual((again.code, again.errorCode()), (404, "NoSuchUpload"))

    def test_uploadPartCopy(self):
        """UploadPartCopy takes a byte range of an existing object as a part."""
        source = os.urandom(MIN_PART_SIZE + 100)
        self.walrus.put("mpu", "source", source)
        uploadId = self.start(key="copied")
        reply = self.walrus.request(
            "PUT", "/mpu/copied?partNumber=1&uploadId=" + uploadId,
            headers={"x-amz-copy-source": "/mpu/source",
                     "x-amz-copy-source-range": "bytes=0-%d" % (MIN_PART_SIZE - 1)})
        self.assertEqual(reply.code, 200, reply.body)
        first = reply.findall("ETag")[0]
        self.assertEqual(first, '"%s"' % md5hex(source[:MIN_PART_SIZE]))
        second = self.part(uploadId, 2, b"tail", key="copied")
        done = self.walrus.request("POST", "/mpu/copied?uploadId=" + uploadId,
                                   body=completion([(1, first), (2, second)]))
        self.assertEqual(done.code, 200, done.body)
        self.assertEqual(self.walrus.get("mpu", "copied").body, source[:MIN_PART_SIZE] + b"tail")

    def test_badPartNumber(self):
        """Part numbers outside 1..10000 are InvalidArgument."""
        uploadId = self.start()
        for number in ("0", "10001", "x"):
            reply = self.walrus.request("PUT", "/mpu/big?partNumber=%s&uploadId=%s"
                                        % (number, uploadId), body=b"x")
            self.assertEqual(reply.errorCode(), "InvalidArgument", number)
