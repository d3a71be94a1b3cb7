"""Refusing before reading on the port EC2 and S3 share, over a real socket.

The Site is the one the CLC's daemon serves when WALRUS_PORT equals
CLOUD_PORT (``eucad.frontend.frontdoor.makeSharedSite``), listening on
127.0.0.1 (``SharedPortTestCase``).  Refused uploads are sent by hand on raw
sockets so the tests see what reaches the disk; the uploads that must still
work, and EC2 beside them, are made by boto3, botocore's signers and urllib.
"""

import hashlib
import os
import urllib.request

from twisted.internet import defer, threads

from tests.clc import helpers
from tests.frontend.test_frontdoor_live import SharedPortTestCase
from tests.walrus.test_admission import RawClient, signedHeaders
from tests.walrus.test_post import BOUNDARY, form

BODY_SIZE = 8 * 1024 * 1024
PART_SIZE = 5 * 1024 * 1024
EC2_NS = "{http://ec2.amazonaws.com/doc/2016-11-15/}"


class SharedPortAdmissionTests(SharedPortTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield SharedPortTestCase.setUp(self)
        self.port = int(self.root.rsplit(":", 1)[1])
        yield threads.deferToThread(
            lambda: self.s3(self.root).create_bucket(Bucket="private"))

    def storedBytes(self):
        """Bytes in files under Walrus's bukkits directory (blobs and temporary files)."""
        total = 0
        for directory, _, files in os.walk(os.path.join(self.home, "bukkits")):
            for name in files:
                total += os.path.getsize(os.path.join(directory, name))
        return total

    def upload(self, path, headers):
        """Send a PUT of 8 MiB to ``path`` (as far as the server takes it); (status, body)."""
        client = RawClient(self.port)
        try:
            client.sendHead("PUT", path, dict(headers, **{"Content-Length": str(BODY_SIZE)}))
            client.sendBody(b"x" * BODY_SIZE)
            status, _, body = client.readResponse()
            return status, body
        finally:
            client.close()

    @defer.inlineCallbacks
    def assertRefusedUnstored(self, path, headers, status, code):
        """The 8 MiB PUT gets ``status`` and ``code``; no byte and no spool of it stays."""
        before, spools = self.storedBytes(), len(self.spools)
        got, body = yield threads.deferToThread(self.upload, path, headers)
        self.assertEqual(got, status, body)
        self.assertIn(b"<Code>%s</Code>" % (code,), body)
        self.assertTrue(body.startswith(b"<?xml") and b"<Error>" in body, body)
        self.assertEqual(self.storedBytes(), before)
        self.assertEqual(len(self.spools), spools)
        # Nothing was stored under the key either.
        keys = yield threads.deferToThread(
            lambda: self.s3(self.root).list_objects_v2(Bucket="private").get("Contents", []))
        self.assertEqual(keys, [])

    def test_anonymousUploadStoresNothing(self):
        """An anonymous 8 MiB PUT to a private bucket, at / and under /services/Walrus, is AccessDenied and stores nothing."""
        host = {"Host": "127.0.0.1:%d" % (self.port,)}
        d = self.assertRefusedUnstored("/private/big", host, 403, b"AccessDenied")
        d.addCallback(lambda _: self.assertRefusedUnstored(
            "/services/Walrus/private/big", host, 403, b"AccessDenied"))
        return d

    def test_wronglySignedUploadStoresNothing(self):
        """An 8 MiB PUT signed with a wrong secret is SignatureDoesNotMatch and stores nothing."""
        headers = signedHeaders("PUT", self.root + "/private/big",
                                (self.keys[0], "not the secret"),
                                headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
        return self.assertRefusedUnstored("/private/big", headers, 403,
                                          b"SignatureDoesNotMatch")

    def test_missingBucketRefusedFromHeaders(self):
        """A rightly signed 8 MiB PUT into a bucket that does not exist is NoSuchBucket and stores nothing."""
        headers = signedHeaders("PUT", self.root + "/nowhere/big", self.keys,
                                headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
        before = self.storedBytes()
        d = threads.deferToThread(self.upload, "/nowhere/big", headers)

        def check(result):
            status, body = result
            self.assertEqual(status, 404, body)
            self.assertIn(b"<Code>NoSuchBucket</Code>", body)
            self.assertEqual(self.storedBytes(), before)
        return d.addCallback(check)

    def test_signedPutAndMultipartUpload(self):
        """boto3's signed PUT and a two-part multipart upload on the shared port store their bytes."""
        data = os.urandom(BODY_SIZE)
        parts = [os.urandom(PART_SIZE), os.urandom(1024 * 1024)]

        def exercise():
            s3 = self.s3(self.root)
            s3.put_object(Bucket="private", Key="whole", Body=data)
            upload = s3.create_multipart_upload(Bucket="private", Key="parts")
            etags = [s3.upload_part(Bucket="private", Key="parts", UploadId=upload["UploadId"],
                                    PartNumber=number, Body=part)["ETag"]
                     for number, part in enumerate(parts, 1)]
            s3.complete_multipart_upload(
                Bucket="private", Key="parts", UploadId=upload["UploadId"],
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e}
                                           for n, e in enumerate(etags, 1)]})
            return (s3.get_object(Bucket="private", Key="whole")["Body"].read(),
                    s3.get_object(Bucket="private", Key="parts")["Body"].read())

        def check(result):
            whole, joined = result
            self.assertEqual(hashlib.sha256(whole).digest(), hashlib.sha256(data).digest())
            self.assertEqual(joined, b"".join(parts))
        return threads.deferToThread(exercise).addCallback(check)

    def test_browserFormUpload(self):
        """A presigned browser form POST (multipart/form-data) on the shared port stores its file."""
        content = os.urandom(512 * 1024)

        def upload():
            s3 = self.s3(self.root)
            post = s3.generate_presigned_post("private", "up/${filename}")
            body = form(sorted(post["fields"].items()), content, filename="pic.bin")
            request = urllib.request.Request(post["url"], data=body, method="POST", headers={
                "Content-Type": "multipart/form-data; boundary=" + BOUNDARY})
            with urllib.request.urlopen(request, timeout=30) as answer:
                status = answer.status
            return status, s3.get_object(Bucket="private", Key="up/pic.bin")["Body"].read()

        def check(result):
            status, stored = result
            self.assertEqual(status, 204)
            self.assertEqual(stored, content)
        return threads.deferToThread(upload).addCallback(check)

    def test_ec2GetAndFormPostAtRoot(self):
        """EC2's SigV2 GET (Action in the query) and form POST at the bare root are answered by EC2."""
        def call(method):
            url, body = helpers.signV2(self.keys, {"Action": "DescribeRegions",
                                                   "Version": "2016-11-15"},
                                       url=self.root + "/", method=method)
            headers = {"Content-Type": helpers.FORM} if method == "POST" else {}
            request = urllib.request.Request(url, data=body if method == "POST" else None,
                                             method=method, headers=headers)
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read()

        def both():
            return [call("GET"), call("POST")]

        def check(answers):
            from lxml import etree
            for status, body in answers:
                self.assertEqual(status, 200, body)
                root = etree.fromstring(body)
                self.assertEqual(root.tag, EC2_NS + "DescribeRegionsResponse")
                self.assertEqual(root.findtext(EC2_NS + "regionInfo/" + EC2_NS + "item/"
                                               + EC2_NS + "regionName"), "eucalyptus")
        return threads.deferToThread(both).addCallback(check)

    def test_ec2BodyKeepsThePlainSpool(self):
        """An ec2-scoped SigV4 POST at the root is not held by Walrus's admission: its body gets the plain spool."""
        def call():
            url, headers, body = helpers.signV4(
                self.keys, {"Action": "DescribeRegions", "Version": "2016-11-15"},
                url=self.root + "/", region="eucalyptus")
            request = urllib.request.Request(url, data=body, method="POST", headers=headers)
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status

        before = len(self.plainSpools)

        def check(status):
            self.assertEqual(status, 200)
            self.assertEqual(len(self.plainSpools), before + 1)
        return threads.deferToThread(call).addCallback(check)

