"""CORS headers on the answers Walrus refuses from a request's headers (admission),
as S3 sends them: a browser reads a 403 or 404 only when they are there."""

import http.client
import json

from botocore.exceptions import ClientError
from twisted.internet import defer
from twisted.trial import unittest

from tests.walrus.live import LiveWalrus

ORIGIN = "https://app.example.com"


class LiveCorsRefusalTests(unittest.TestCase):
    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()

        def bucket():
            s3 = self.live.s3Client()
            s3.create_bucket(Bucket="webapp")
            s3.put_bucket_cors(Bucket="webapp", CORSConfiguration={"CORSRules": [{
                "AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["PUT", "GET"],
                "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag", "x-amz-request-id"],
                "MaxAgeSeconds": 30}]})
        yield self.live.inThread(bucket)

    def send(self, method, path, headers, body=b""):
        """(status, {lower-case header: value}, body) of one raw request."""
        connection = http.client.HTTPConnection("127.0.0.1", self.live.port.getHost().port,
                                                timeout=30)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()},
                    response.read())
        finally:
            connection.close()

    @defer.inlineCallbacks
    def test_anonymousUploadRefusedWithCorsHeaders(self):
        """An anonymous PUT refused before its body is read carries the matching rule's headers."""
        status, headers, body = yield self.live.inThread(
            self.send, "PUT", "/webapp/photo.jpg", {"Origin": ORIGIN, "Content-Length": "5"},
            b"bytes")
        self.assertEqual(status, 403, body)
        self.assertIn(b"<Code>AccessDenied</Code>", body)
        self.assertEqual(headers.get("access-control-allow-origin"), ORIGIN)
        self.assertEqual(headers.get("access-control-allow-methods"), "PUT, GET")
        self.assertEqual(headers.get("access-control-expose-headers"), "ETag, x-amz-request-id")
        self.assertIn("Origin", headers.get("vary", ""))

    @defer.inlineCallbacks
    def test_otherOriginsAndBucketsGetNone(self):
        """An Origin no rule matches, and a bucket that does not exist, get no CORS headers."""
        status, headers, _ = yield self.live.inThread(
            self.send, "PUT", "/webapp/k", {"Origin": "https://evil.test",
                                           "Content-Length": "1"}, b"x")
        self.assertEqual(status, 403)
        self.assertNotIn("access-control-allow-origin", headers)
        status, headers, body = yield self.live.inThread(
            self.send, "PUT", "/nosuchbucket/k", {"Origin": ORIGIN, "Content-Length": "1"}, b"x")
        self.assertEqual(status, 404, body)
        self.assertNotIn("access-control-allow-origin", headers)

    @defer.inlineCallbacks
    def test_refusedReadsCarryThemToo(self):
        """A GET refused (403 to a stranger, 404 for a missing key) carries them as well."""
        status, headers, _ = yield self.live.inThread(
            self.send, "GET", "/webapp/missing", {"Origin": ORIGIN})
        self.assertEqual(status, 403)
        self.assertEqual(headers.get("access-control-allow-origin"), ORIGIN)

        def signedGet():
            s3 = self.live.s3Client()
            s3.meta.events.register("before-sign.s3.GetObject", _addOrigin)
            try:
                s3.get_object(Bucket="webapp", Key="missing")
            except ClientError as error:
                return error.response
            self.fail("a missing key was read")
        response = yield self.live.inThread(signedGet)
        self.assertEqual(response["Error"]["Code"], "NoSuchKey")
        self.assertEqual(response["ResponseMetadata"]["HTTPHeaders"]
                         .get("access-control-allow-origin"), ORIGIN)

    @defer.inlineCallbacks
    def test_boto3UploadDeniedByPolicy(self):
        """boto3: a PUT a bucket policy denies is refused in admission with the CORS headers."""
        def scenario():
            s3 = self.live.s3Client()
            s3.put_bucket_policy(Bucket="webapp", Policy=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                    "Resource": "arn:aws:s3:::webapp/locked/*"}]}))
            s3.meta.events.register("before-sign.s3.PutObject", _addOrigin)
            answer = s3.put_object(Bucket="webapp", Key="open/k", Body=b"x" * 1000)
            allowed = answer["ResponseMetadata"]["HTTPHeaders"]
            try:
                s3.put_object(Bucket="webapp", Key="locked/k", Body=b"x" * 100000)
            except ClientError as error:
                return allowed, error.response
            self.fail("a denied upload was stored")
        allowed, refused = yield self.live.inThread(scenario)
        self.assertEqual(allowed.get("access-control-allow-origin"), ORIGIN)
        self.assertEqual(refused["Error"]["Code"], "AccessDenied")
        self.assertEqual(refused["ResponseMetadata"]["HTTPHeaders"]
                         .get("access-control-allow-origin"), ORIGIN)


def _addOrigin(request, **kwargs):
    """botocore hook: the request comes from a browser page at ORIGIN."""
    request.headers["Origin"] = ORIGIN


class LiveFormCorsTests(unittest.TestCase):
    """A browser form upload refused from its fields carries the CORS headers too."""

    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()

        def bucket():
            s3 = self.live.s3Client()
            s3.create_bucket(Bucket="formcors")
            s3.put_bucket_cors(Bucket="formcors", CORSConfiguration={"CORSRules": [{
                "AllowedOrigins": [ORIGIN], "AllowedMethods": ["POST"]}]})
        yield self.live.inThread(bucket)

    @defer.inlineCallbacks
    def test_refusedAndAcceptedForms(self):
        """An anonymous form to a private bucket gets 403 with the headers; a signed one 204 with them."""
        def scenario():
            import requests
            url = self.live.endpoint + "/formcors"
            refused = requests.post(url, data={"key": "anon"}, headers={"Origin": ORIGIN},
                                    files={"file": ("a.txt", b"anonymous")}, timeout=60)
            post = self.live.s3Client().generate_presigned_post("formcors", "signed")
            accepted = requests.post(post["url"], data=post["fields"],
                                     headers={"Origin": ORIGIN},
                                     files={"file": ("s.txt", b"signed")}, timeout=60)
            return refused, accepted
        refused, accepted = yield self.live.inThread(scenario)
        self.assertEqual(refused.status_code, 403, refused.text)
        self.assertEqual(refused.headers.get("Access-Control-Allow-Origin"), ORIGIN)
        self.assertEqual(accepted.status_code, 204, accepted.text)
        self.assertEqual(accepted.headers.get("Access-Control-Allow-Origin"), ORIGIN)
