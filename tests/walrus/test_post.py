"""Browser POST uploads with signed policies, and hostile XML bodies."""

import base64
import hashlib
import hmac
import json
import time

from twisted.internet import defer
from twisted.trial import unittest

from eucad.common import signing
from eucad.walrus.errors import S3Error
from eucad.walrus.formupload import FormSpool
from eucad.walrus.postupload import checkPolicy
from tests.walrus.helpers import WalrusHarness

BOUNDARY = "----eucadformboundary"


def form(fields, fileData, filename="photo.jpg"):
    parts = []
    for name, value in fields:
        parts.append(('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                      % (BOUNDARY, name, value)).encode())
    parts.append(('--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
                  'Content-Type: image/jpeg\r\n\r\n' % (BOUNDARY, filename)).encode())
    parts.append(fileData + ("\r\n--%s--\r\n" % BOUNDARY).encode())
    return b"".join(parts)


def policy(conditions, seconds=300):
    expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))
    return base64.b64encode(json.dumps({"expiration": expiration,
                                        "conditions": conditions}).encode()).decode()


class PostUploadTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("forms")

    def post(self, body):
        return self.walrus.request("POST", "/forms", body=body, keys=None, headers={
            "Content-Type": "multipart/form-data; boundary=" + BOUNDARY})

    def test_v2SignedPolicy(self):
        """A form signed with SigV2 stores the file under the key, with its ACL and metadata."""
        accessKey, secret = self.walrus.alice
        encoded = policy([{"bucket": "forms"}, ["starts-with", "$key", "uploads/"],
                          {"acl": "public-read"}, ["starts-with", "$x-amz-meta-tag", ""],
                          ["content-length-range", 1, 100000],
                          {"success_action_status": "201"}])
        signature = base64.b64encode(hmac.new(secret.encode(), encoded.encode(),
                                              hashlib.sha1).digest()).decode()
        data = b"\xff\xd8 jpeg bytes \r\n--not-a-boundary\r\n" * 50
        reply = self.post(form([("key", "uploads/${filename}"), ("AWSAccessKeyId", accessKey),
                                ("acl", "public-read"), ("policy", encoded),
                                ("signature", signature), ("x-amz-meta-tag", "holiday"),
                                ("success_action_status", "201")], data))
        self.assertEqual(reply.code, 201, reply.body)
        self.assertEqual(reply.xml().findtext("Key"), "uploads/photo.jpg")
        got = self.walrus.get("forms", "uploads/photo.jpg", keys=None)
        self.assertEqual(got.body, data)
        self.assertEqual((got.header("Content-Type"), got.header("x-amz-meta-tag")),
                         ("image/jpeg", "holiday"))

    def test_v4SignedPolicy(self):
        """A form signed with SigV4 (X-Amz-Credential, X-Amz-Signature) is accepted."""
        accessKey, secret = self.walrus.alice
        date = time.strftime("%Y%m%d", time.gmtime())
        credential = "%s/%s/us-east-1/s3/aws4_request" % (accessKey, date)
        amzDate = date + "T000000Z"
        encoded = policy([{"bucket": "forms"}, {"key": "v4.txt"},
                          {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
                          {"x-amz-credential": credential}, {"x-amz-date": amzDate}])
        key = signing.v4SigningKey(secret, date, "us-east-1", "s3")
        signature = hmac.new(key, encoded.encode(), hashlib.sha256).hexdigest()
        reply = self.post(form([("key", "v4.txt"), ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                                ("X-Amz-Credential", credential), ("X-Amz-Date", amzDate),
                                ("Policy", encoded), ("X-Amz-Signature", signature)], b"v4"))
        self.assertEqual(reply.code, 204, reply.body)
        self.assertEqual(self.walrus.get("forms", "v4.txt").body, b"v4")

    def test_badSignatureAndPolicyViolations(self):
        """A wrong signature, an extra field or a too-large file are refused."""
        accessKey, secret = self.walrus.alice
        encoded = policy([{"bucket": "forms"}, {"key": "k"}, ["content-length-range", 0, 10]])
        signature = base64.b64encode(hmac.new(secret.encode(), encoded.encode(),
                                              hashlib.sha1).digest()).decode()
        base = [("key", "k"), ("AWSAccessKeyId", accessKey), ("policy", encoded)]
        reply = self.post(form(base + [("signature", "AAAA" + signature[4:])], b"x"))
        self.assertEqual(reply.errorCode(), "SignatureDoesNotMatch")
        reply = self.post(form(base + [("signature", signature), ("acl", "public-read")], b"x"))
        self.assertEqual(reply.errorCode(), "AccessDenied")
        reply = self.post(form(base + [("signature", signature)], b"x" * 11))
        self.assertEqual(reply.errorCode(), "EntityTooLarge")
        self.assertEqual(self.walrus.get("forms", "k").code, 404)
        self.assertEqual([p for p in self.walrus.blobFiles() if "/tmp/" in p], [])

    def test_unsignedFormNeedsWritableBucket(self):
        """A form without a policy is anonymous: refused on a private bucket."""
        reply = self.post(form([("key", "anon")], b"x"))
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))


class PolicyTests(unittest.TestCase):
    def test_expiredPolicy(self):
        """A policy past its expiration is refused."""
        text = json.dumps({"expiration": "2001-01-01T00:00:00Z", "conditions": []})
        self.assertRaises(S3Error, checkPolicy, text, {}, "b", 0, time.time())

    def test_startsWithAndEq(self):
        """starts-with and eq conditions are applied to the named fields."""
        text = json.dumps({"expiration": "2099-01-01T00:00:00.000Z", "conditions": [
            ["starts-with", "$key", "a/"], ["eq", "$Content-Type", "text/plain"]]})
        checkPolicy(text, {"key": "a/b", "content-type": "text/plain"}, "b", 1, time.time())
        self.assertRaises(S3Error, checkPolicy, text, {"key": "b/b", "content-type": "text/plain"},
                          "b", 1, time.time())


class FormSpoolTests(unittest.TestCase):
    def read(self, body, size, admit=None):
        """A FormSpool fed ``body`` in ``size``-byte writes; its (FormBody or failure, file bytes)."""
        received = []

        class Collect:
            def write(self, data):
                received.append(data)

            def finish(self):
                return defer.succeed(b"".join(received))

            def close(self):
                pass
        spool = FormSpool(BOUNDARY, admit or (lambda fields, filename: "ok"), Collect)
        for start in range(0, len(body), size):
            spool.write(body[start:start + size])
        return spool.finish()

    def test_boundariesAcrossReads(self):
        """Fields and a file split at every read size parse identically."""
        data = b"0123456789\r\n--" * 40
        body = form([("key", "k"), ("acl", "private")], data)
        for size in (1, 2, 3, 7, 64, 100000):
            result = self.successResultOf(self.read(body, size))
            self.assertEqual(result.fields, {"key": "k", "acl": "private"}, size)
            self.assertEqual((result.spooled, result.filename, result.fileType),
                             (data, "photo.jpg", "image/jpeg"), size)
            self.assertEqual(result.admission, "ok")

    def test_truncatedForm(self):
        """A form that ends inside the file is MalformedPOSTRequest."""
        body = form([("key", "k")], b"data")[:-10]
        failure = self.failureResultOf(self.read(body, 1000), S3Error)
        self.assertEqual(failure.value.code, "MalformedPOSTRequest")

    def test_fileBytesWaitForAdmission(self):
        """Nothing of the file reaches its spool before admitFile answers, all of it after."""
        pending = defer.Deferred()
        seen = []

        def admit(fields, filename):
            seen.append((fields, filename))
            return pending
        body = form([("key", "k")], b"file data")
        made = []

        class Collect:
            def __init__(self):
                self.data = []
                made.append(self)

            def write(self, data):
                self.data.append(data)

            def finish(self):
                return defer.succeed(b"".join(self.data))

            def close(self):
                pass
        spool = FormSpool(BOUNDARY, admit, Collect)
        spool.write(body)
        self.assertEqual((made, seen), ([], [({"key": "k"}, "photo.jpg")]))
        finished = spool.finish()
        self.assertNoResult(finished)
        pending.callback("yes")
        self.assertEqual(self.successResultOf(finished).spooled, b"file data")

    def test_refusedFormStoresNothing(self):
        """A refused form fails with the refusal and never makes a file spool."""
        body = form([("key", "k")], b"secret")
        made = []
        spool = FormSpool(BOUNDARY, lambda f, n: defer.fail(S3Error("AccessDenied")),
                          lambda: made.append(1))
        spool.write(body)
        self.assertEqual(self.failureResultOf(spool.finish(), S3Error).value.code,
                         "AccessDenied")
        self.assertEqual(made, [])


class HostileXmlTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("xmlsafe")
        self.walrus.put("xmlsafe", "keep", b"kept")

    def deleteWith(self, body):
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        return self.walrus.request("POST", "/xmlsafe?delete", body=body,
                                   headers={"Content-MD5": md5})

    def test_entityExpansionRefused(self):
        """A billion-laughs DeleteObjects body is MalformedXML and deletes nothing."""
        body = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "keep">'
                b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
                b'<Delete><Object><Key>&a;</Key></Object></Delete>')
        reply = self.deleteWith(body)
        self.assertEqual((reply.code, reply.errorCode()), (400, "MalformedXML"))
        self.assertEqual(self.walrus.get("xmlsafe", "keep").body, b"kept")

    def test_externalEntityRefused(self):
        """An external entity naming a local file is never read."""
        body = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b'<Delete><Object><Key>&x;</Key></Object></Delete>')
        reply = self.deleteWith(body)
        self.assertEqual(reply.errorCode(), "MalformedXML")
        self.assertNotIn(b"root:", reply.body)

    def test_oversizedXmlRefused(self):
        """An XML body above the limit is refused without being parsed."""
        body = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 100000 + b"</Delete>"
        reply = self.deleteWith(body)
        self.assertEqual(reply.errorCode(), "MaxMessageLengthExceeded")
        self.assertEqual(self.walrus.get("xmlsafe", "keep").body, b"kept")

    def test_malformedAclXml(self):
        """A broken ACL document is MalformedACLError and leaves the ACL alone."""
        reply = self.walrus.request("PUT", "/xmlsafe/keep?acl", body=b"<AccessControlPolicy>")
        self.assertEqual(reply.errorCode(), "MalformedACLError")
        self.assertEqual(self.walrus.get("xmlsafe", "keep").body, b"kept")
