"""Conditional writes: If-None-Match: * and If-Match on PUT, CompleteMultipartUpload and DELETE."""

import os

from twisted.internet import defer
from twisted.trial import unittest

from tests.walrus.helpers import WalrusHarness, md5hex
from tests.walrus.live import LiveWalrus, awsCommand


class ConditionalWriteTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("cond")

    def test_ifNoneMatchCreatesOnlyOnce(self):
        """PUT with If-None-Match: * writes a new key and is 412 once the key exists, leaving it."""
        headers = {"If-None-Match": "*"}
        self.walrus.put("cond", "k", b"first", headers=headers)
        reply = self.walrus.request("PUT", "/cond/k", body=b"second", headers=headers)
        self.assertEqual((reply.code, reply.errorCode()), (412, "PreconditionFailed"))
        self.assertEqual(self.walrus.get("cond", "k").body, b"first")
        self.assertEqual([p for p in self.walrus.blobFiles() if "/put-" in p], [])

    def test_ifMatchReplacesOnlyTheKnownVersion(self):
        """PUT with If-Match writes only over the named ETag: 412 otherwise, 404 without an object."""
        self.walrus.put("cond", "k", b"v1")
        stale = '"%s"' % md5hex(b"other")
        reply = self.walrus.request("PUT", "/cond/k", body=b"v2", headers={"If-Match": stale})
        self.assertEqual((reply.code, reply.errorCode()), (412, "PreconditionFailed"))
        self.assertEqual(self.walrus.get("cond", "k").body, b"v1")
        self.walrus.put("cond", "k", b"v2", headers={"If-Match": '"%s"' % md5hex(b"v1")})
        self.assertEqual(self.walrus.get("cond", "k").body, b"v2")
        reply = self.walrus.request("PUT", "/cond/missing", body=b"x",
                                    headers={"If-Match": '"%s"' % md5hex(b"v1")})
        self.assertEqual((reply.code, reply.errorCode()), (404, "NoSuchKey"))

    def test_conditionalDelete(self):
        """DELETE with If-Match deletes only the named ETag."""
        self.walrus.put("cond", "k", b"v1")
        reply = self.walrus.request("DELETE", "/cond/k", headers={"If-Match": '"%s"' % ("0" * 32)})
        self.assertEqual((reply.code, reply.errorCode()), (412, "PreconditionFailed"))
        self.assertEqual(self.walrus.get("cond", "k").code, 200)
        reply = self.walrus.request("DELETE", "/cond/k",
                                    headers={"If-Match": '"%s"' % md5hex(b"v1")})
        self.assertEqual(reply.code, 204)
        self.assertEqual(self.walrus.get("cond", "k").code, 404)

    def test_otherIfNoneMatchValuesRefused(self):
        """If-None-Match with an ETag on a PUT is NotImplemented (S3 takes only *)."""
        reply = self.walrus.request("PUT", "/cond/k", body=b"x",
                                    headers={"If-None-Match": '"abc"'})
        self.assertEqual((reply.code, reply.errorCode()), (501, "NotImplemented"))

    def test_conditionalComplete(self):
        """CompleteMultipartUpload with If-None-Match: * fails on an existing key and keeps the upload."""
        self.walrus.put("cond", "big", b"already")
        reply = self.walrus.request("POST", "/cond/big?uploads")
        uploadId = reply.findall("UploadId")[0]
        data = os.urandom(1000)
        reply = self.walrus.request("PUT", "/cond/big?partNumber=1&uploadId=" + uploadId,
                                    body=data)
        etag = reply.header("ETag")
        body = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag>"
                "</Part></CompleteMultipartUpload>" % etag).encode()
        reply = self.walrus.request("POST", "/cond/big?uploadId=" + uploadId, body=body,
                                    headers={"If-None-Match": "*"})
        self.assertEqual((reply.code, reply.errorCode()), (412, "PreconditionFailed"))
        self.assertEqual(self.walrus.get("cond", "big").body, b"already")
        reply = self.walrus.request("POST", "/cond/big?uploadId=" + uploadId, body=body,
                                    headers={"If-Match": '"%s"' % md5hex(b"already")})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.get("cond", "big").body, data)


class ConditionalClientTests(unittest.TestCase):
    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()

    @defer.inlineCallbacks
    def test_boto3(self):
        """boto3's IfNoneMatch/IfMatch on put_object, complete_multipart_upload and delete_object."""
        from botocore.exceptions import ClientError
        s3 = self.live.s3Client()

        def code(call, **kwargs):
            try:
                call(**kwargs)
            except ClientError as e:
                return e.response["Error"]["Code"]
            return "ok"

        def scenario():
            s3.create_bucket(Bucket="cond")
            results = [code(s3.put_object, Bucket="cond", Key="k", Body=b"1", IfNoneMatch="*"),
                       code(s3.put_object, Bucket="cond", Key="k", Body=b"2", IfNoneMatch="*")]
            etag = s3.head_object(Bucket="cond", Key="k")["ETag"]
            results.append(code(s3.put_object, Bucket="cond", Key="k", Body=b"3",
                                IfMatch='"%s"' % ("0" * 32)))
            results.append(code(s3.put_object, Bucket="cond", Key="k", Body=b"3", IfMatch=etag))
            upload = s3.create_multipart_upload(Bucket="cond", Key="k")
            part = s3.upload_part(Bucket="cond", Key="k", PartNumber=1, Body=b"p" * 10,
                                  UploadId=upload["UploadId"])
            parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
            results.append(code(s3.complete_multipart_upload, Bucket="cond", Key="k",
                                UploadId=upload["UploadId"], MultipartUpload=parts,
                                IfNoneMatch="*"))
            current = s3.head_object(Bucket="cond", Key="k")["ETag"]
            results.append(code(s3.delete_object, Bucket="cond", Key="k",
                                IfMatch='"%s"' % ("0" * 32)))
            results.append(code(s3.delete_object, Bucket="cond", Key="k", IfMatch=current))
            return results, s3.list_objects_v2(Bucket="cond").get("KeyCount")
        results, remaining = yield self.live.inThread(scenario)
        self.assertEqual(results, ["ok", "PreconditionFailed", "PreconditionFailed", "ok",
                                   "PreconditionFailed", "PreconditionFailed", "ok"])
        self.assertEqual(remaining, 0)

    @defer.inlineCallbacks
    def test_awscli(self):
        """`aws s3api put-object --if-none-match '*'` writes once, then fails with PreconditionFailed."""
        aws = awsCommand() + ["--endpoint-url", self.live.endpoint]
        yield self.live.run(aws + ["s3api", "create-bucket", "--bucket", "cli"])
        with open(self.live.path("body"), "wb") as f:
            f.write(b"cli body")
        argv = aws + ["s3api", "put-object", "--bucket", "cli", "--key", "k", "--body",
                      self.live.path("body"), "--if-none-match", "*"]
        yield self.live.run(argv)
        second = yield self.live.run(argv, check=False)
        self.assertNotEqual(second.returncode, 0)
        self.assertIn(b"PreconditionFailed", second.stderr)
