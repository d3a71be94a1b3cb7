"""x-amz-version-id where a versioned bucket's writes must name their version:
browser form uploads, and a retried CompleteMultipartUpload (the first answer's id)."""

import base64
import hashlib
import hmac

from twisted.internet import defer
from twisted.trial import unittest

from tests.walrus.helpers import WalrusHarness
from tests.walrus.live import LiveWalrus
from tests.walrus.test_peersuite import completion
from tests.walrus.test_post import BOUNDARY, form, policy
from tests.walrus.test_versioning import VERSIONING_ENABLED


class FormUploadVersionTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("forms")
        self.walrus.request("PUT", "/forms?versioning", body=VERSIONING_ENABLED)

    def post(self, key, extra=()):
        accessKey, secret = self.walrus.alice
        conditions = [{"bucket": "forms"}, {"key": key}]
        conditions += [{name: value} for name, value in extra]
        encoded = policy(conditions)
        signature = base64.b64encode(hmac.new(secret.encode(), encoded.encode(),
                                              hashlib.sha1).digest()).decode()
        fields = [("key", key), ("AWSAccessKeyId", accessKey), ("policy", encoded),
                  ("signature", signature)] + list(extra)
        return self.walrus.request("POST", "/forms", body=form(fields, key.encode()), keys=None,
                                   headers={"Content-Type": "multipart/form-data; boundary="
                                            + BOUNDARY})

    def versionIds(self, key):
        reply = self.walrus.request("GET", "/forms?versions&prefix=" + key)
        return reply.findall("Version/VersionId")

    def test_everyAnswerNamesTheVersion(self):
        """The 204 and 201 answers of a form upload carry the version it made (303: live test)."""
        plain = self.post("plain")
        self.assertEqual(plain.code, 204, plain.body)
        created = self.post("created", [("success_action_status", "201")])
        self.assertEqual(created.code, 201, created.body)
        for reply, key in ((plain, "plain"), (created, "created")):
            self.assertEqual([reply.header("x-amz-version-id")], self.versionIds(key), key)
        second = self.post("plain")
        self.assertNotEqual(second.header("x-amz-version-id"), plain.header("x-amz-version-id"))
        self.assertEqual(self.walrus.get("forms", "plain").header("x-amz-version-id"),
                         second.header("x-amz-version-id"))

    def test_unversionedBucketAnswersNoVersion(self):
        """A form upload to a bucket never versioned names no version, as a PUT does."""
        self.walrus.createBucket("plainforms")
        accessKey, secret = self.walrus.alice
        encoded = policy([{"bucket": "plainforms"}, {"key": "k"}])
        signature = base64.b64encode(hmac.new(secret.encode(), encoded.encode(),
                                              hashlib.sha1).digest()).decode()
        reply = self.walrus.request(
            "POST", "/plainforms", keys=None,
            body=form([("key", "k"), ("AWSAccessKeyId", accessKey), ("policy", encoded),
                       ("signature", signature)], b"x"),
            headers={"Content-Type": "multipart/form-data; boundary=" + BOUNDARY})
        self.assertEqual(reply.code, 204, reply.body)
        self.assertIsNone(reply.header("x-amz-version-id"))


class RetriedCompletionVersionTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("mpu")
        self.walrus.request("PUT", "/mpu?versioning", body=VERSIONING_ENABLED)

    def uploadOnePart(self, key="obj", keys="alice"):
        reply = self.walrus.request("POST", "/mpu/%s?uploads" % (key,), keys=keys)
        self.assertEqual(reply.code, 200, reply.body)
        uploadId = reply.findall("UploadId")[0]
        part = self.walrus.request("PUT", "/mpu/%s?partNumber=1&uploadId=%s" % (key, uploadId),
                                   body=b"the only part", keys=keys)
        return uploadId, [(1, part.header("ETag"), {})]

    def complete(self, uploadId, parts, key="obj", keys="alice"):
        return self.walrus.request("POST", "/mpu/%s?uploadId=%s" % (key, uploadId),
                                   body=completion(parts), keys=keys)

    def test_retryAnswersTheSameVersion(self):
        """A repeated Complete answers the version the first one made, and makes no other."""
        uploadId, parts = self.uploadOnePart()
        first = self.complete(uploadId, parts)
        self.assertEqual(first.code, 200, first.body)
        versionId = first.header("x-amz-version-id")
        self.assertIsNotNone(versionId)
        again = self.complete(uploadId, parts)
        self.assertEqual((again.code, again.header("x-amz-version-id")), (200, versionId))
        self.assertEqual(again.findall("ETag"), first.findall("ETag"))
        listed = self.walrus.request("GET", "/mpu?versions").findall("Version/VersionId")
        self.assertEqual(listed, [versionId])

    def test_retryRefusedToAStranger(self):
        """Only who could complete the upload gets its answer again; others AccessDenied."""
        uploadId, parts = self.uploadOnePart()
        self.assertEqual(self.complete(uploadId, parts).code, 200)
        reply = self.complete(uploadId, parts, keys="bob")
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))


class LiveRetriedCompletionTests(unittest.TestCase):
    """boto3 against a listening Walrus: a Complete sent twice, a presigned POST."""

    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()

    @defer.inlineCallbacks
    def test_boto3(self):
        """boto3's second complete_multipart_upload and a presigned POST both name their version."""
        def scenario():
            import requests
            s3 = self.live.s3Client()
            s3.create_bucket(Bucket="again")
            s3.put_bucket_versioning(Bucket="again",
                                     VersioningConfiguration={"Status": "Enabled"})
            uploadId = s3.create_multipart_upload(Bucket="again", Key="k")["UploadId"]
            etag = s3.upload_part(Bucket="again", Key="k", UploadId=uploadId, PartNumber=1,
                                  Body=b"part")["ETag"]
            parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
            first = s3.complete_multipart_upload(Bucket="again", Key="k", UploadId=uploadId,
                                                 MultipartUpload=parts)
            second = s3.complete_multipart_upload(Bucket="again", Key="k", UploadId=uploadId,
                                                  MultipartUpload=parts)
            self.assertEqual(second["VersionId"], first["VersionId"])
            self.assertEqual(second["ETag"], first["ETag"])
            post = s3.generate_presigned_post("again", "posted")
            answer = requests.post(post["url"], data=post["fields"],
                                   files={"file": ("posted.txt", b"form bytes")}, timeout=60)
            self.assertEqual(answer.status_code, 204, answer.text)
            head = s3.head_object(Bucket="again", Key="posted")
            self.assertEqual(answer.headers["x-amz-version-id"], head["VersionId"])
            post = s3.generate_presigned_post(
                "again", "redirected",
                Fields={"success_action_redirect": "http://example.test/done"},
                Conditions=[{"success_action_redirect": "http://example.test/done"}])
            answer = requests.post(post["url"], data=post["fields"], allow_redirects=False,
                                   files={"file": ("r.txt", b"redirected bytes")}, timeout=60)
            self.assertEqual(answer.status_code, 303, answer.text)
            self.assertTrue(answer.headers["Location"].startswith("http://example.test/done?"))
            head = s3.head_object(Bucket="again", Key="redirected")
            self.assertEqual(answer.headers["x-amz-version-id"], head["VersionId"])
        yield self.live.inThread(scenario)
