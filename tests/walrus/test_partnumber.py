"""GET and HEAD of one part of an object (``?partNumber=``)."""

import os

from twisted.internet import defer
from twisted.trial import unittest

from eucad.walrus.uploadstore import MIN_PART_SIZE
from tests.walrus.helpers import WalrusHarness
from tests.walrus.live import LiveWalrus


def completion(etags):
    body = "".join("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (n, e)
                   for n, e in enumerate(etags, 1))
    return ("<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % body).encode()


class PartNumberTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("parts")
        self.first, self.second = os.urandom(MIN_PART_SIZE), os.urandom(3000)
        uploadId = self.walrus.request("POST", "/parts/mp?uploads").findall("UploadId")[0]
        etags = [self.walrus.request("PUT", "/parts/mp?partNumber=%d&uploadId=%s"
                                     % (n, uploadId), body=data).header("ETag")
                 for n, data in ((1, self.first), (2, self.second))]
        reply = self.walrus.request("POST", "/parts/mp?uploadId=" + uploadId,
                                    body=completion(etags))
        self.assertEqual(reply.code, 200, reply.body)

    def test_eachPartOfAMultipartObject(self):
        """?partNumber=N answers part N with 206, its Content-Range and the parts count."""
        reply = self.walrus.request("GET", "/parts/mp?partNumber=2")
        self.assertEqual((reply.code, reply.body), (206, self.second))
        total = len(self.first) + len(self.second)
        self.assertEqual(reply.header("Content-Range"),
                         "bytes %d-%d/%d" % (len(self.first), total - 1, total))
        self.assertEqual(reply.header("x-amz-mp-parts-count"), "2")
        head = self.walrus.request("HEAD", "/parts/mp?partNumber=1")
        self.assertEqual((head.code, head.header("Content-Length")),
                         (206, str(len(self.first))))

    def test_pastTheLastPartIs416(self):
        """A part number past the last part is 416 InvalidPartNumber."""
        reply = self.walrus.request("GET", "/parts/mp?partNumber=3")
        self.assertEqual((reply.code, reply.errorCode()), (416, "InvalidPartNumber"))

    def test_singlePartObject(self):
        """An object from one PUT is one part: part 1 is all of it, part 2 is 416."""
        self.walrus.put("parts", "plain", b"whole")
        reply = self.walrus.request("GET", "/parts/plain?partNumber=1")
        self.assertEqual((reply.code, reply.body), (206, b"whole"))
        self.assertIsNone(reply.header("x-amz-mp-parts-count"))
        self.assertEqual(self.walrus.request("GET", "/parts/plain?partNumber=2").code, 416)

    def test_rangeAndPartNumberTogetherRefused(self):
        """A Range header with ?partNumber= is InvalidRequest."""
        reply = self.walrus.request("GET", "/parts/mp?partNumber=1",
                                    headers={"Range": "bytes=0-1"})
        self.assertEqual((reply.code, reply.errorCode()), (400, "InvalidRequest"))


class Boto3PartNumberTests(unittest.TestCase):
    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()

    @defer.inlineCallbacks
    def test_boto3(self):
        """boto3's head_object/get_object with PartNumber see PartsCount and the part's bytes."""
        s3 = self.live.s3Client()
        first, second = os.urandom(MIN_PART_SIZE), os.urandom(1000)

        def scenario():
            s3.create_bucket(Bucket="parts")
            upload = s3.create_multipart_upload(Bucket="parts", Key="k")
            parts = []
            for number, data in ((1, first), (2, second)):
                etag = s3.upload_part(Bucket="parts", Key="k", PartNumber=number, Body=data,
                                      UploadId=upload["UploadId"])["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})
            s3.complete_multipart_upload(Bucket="parts", Key="k", UploadId=upload["UploadId"],
                                         MultipartUpload={"Parts": parts})
            head = s3.head_object(Bucket="parts", Key="k", PartNumber=1)
            body = s3.get_object(Bucket="parts", Key="k", PartNumber=2)["Body"].read()
            return head, body
        head, body = yield self.live.inThread(scenario)
        self.assertEqual((head["PartsCount"], head["ContentLength"]), (2, len(first)))
        self.assertEqual(body, second)
