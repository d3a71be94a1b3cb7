"""Refusing before reading, against a real listening Walrus: nothing of a refused body is stored.

Raw sockets send the requests so the tests see exactly when Walrus answers
(before the body, without ``100 Continue``) and what reaches the disk;
botocore signs them, an implementation independent of ours.
"""

import base64
import hashlib
import hmac
import json
import os
import socket
import time

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from twisted.internet import defer
from twisted.trial import unittest

from tests.walrus.live import LiveWalrus

BODY_SIZE = 8 * 1024 * 1024


def signedHeaders(method, url, keys, body=b"", headers=None):
    """Headers of a SigV4 request over ``body`` (its hash declared)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    S3SigV4Auth(Credentials(*keys), "s3", "us-east-1").add_auth(request)
    signed = dict(request.headers.items())
    signed["Host"] = url.split("/")[2]
    return signed


class RawClient:
    """One HTTP/1.1 connection on which a test writes and reads by hand."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)

    def sendHead(self, method, path, headers):
        lines = ["%s %s HTTP/1.1" % (method, path)]
        lines += ["%s: %s" % item for item in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def sendBody(self, data, pieceSize=256 * 1024):
        """Send ``data``; stop quietly where the server has closed the connection."""
        sent = 0
        try:
            while sent < len(data):
                sent += self.sock.send(data[sent:sent + pieceSize])
        except OSError:
            pass
        return sent

    def readResponse(self):
        """(status, headers, body) of the next response (Content-Length framed)."""
        data = b""
        while b"\r\n\r\n" not in data:
            more = self.sock.recv(65536)
            if not more:
                raise AssertionError("closed before a response: %r" % (data,))
            data += more
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status == 100:
            return status, headers, rest
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            more = self.sock.recv(65536)
            if not more:
                break
            rest += more
        return status, headers, rest[:length]

    def close(self):
        self.sock.close()


class AdmissionTests(unittest.TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()
        self.port = self.live.port.getHost().port
        self.url = "http://127.0.0.1:%d" % (self.port,)
        status = yield self.live.inThread(self.createBucket, "private")
        self.assertEqual(status, 200)

    def createBucket(self, name):
        client = RawClient(self.port)
        try:
            client.sendHead("PUT", "/" + name, dict(
                signedHeaders("PUT", self.url + "/" + name, self.live.alice),
                **{"Content-Length": "0"}))
            return client.readResponse()[0]
        finally:
            client.close()

    def storedBytes(self):
        """Bytes in files under the bukkits directory (blobs and temporary files)."""
        total = 0
        for directory, _, files in os.walk(self.live.path("bukkits")):
            for name in files:
                total += os.path.getsize(os.path.join(directory, name))
        return total

    def refusedUpload(self, headers, expect=False):
        """Send a PUT's head and try its 8 MiB body; (status, code, body bytes sent, got 100)."""
        client = RawClient(self.port)
        try:
            headers = dict(headers, **{"Content-Length": str(BODY_SIZE)})
            if expect:
                headers["Expect"] = "100-continue"
            client.sendHead("PUT", "/private/big", headers)
            if expect:
                status, _, body = client.readResponse()
                return status, body, 0
            sent = client.sendBody(b"x" * BODY_SIZE)
            status, _, body = client.readResponse()
            return status, body, sent
        finally:
            client.close()

    @defer.inlineCallbacks
    def test_anonymousUploadStoresNothing(self):
        """An anonymous 8 MiB PUT to a private bucket is 403 and leaves no byte on disk."""
        before = self.storedBytes()
        status, body, sent = yield self.live.inThread(self.refusedUpload, {"Host": "x"})
        self.assertEqual(status, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", body)
        self.assertEqual(self.storedBytes(), before)

    @defer.inlineCallbacks
    def test_wronglySignedUploadStoresNothing(self):
        """A PUT signed with a wrong secret is SignatureDoesNotMatch and leaves no byte on disk."""
        before = self.storedBytes()
        headers = signedHeaders("PUT", self.url + "/private/big",
                                (self.live.alice[0], "not the secret"),
                                headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
        status, body, sent = yield self.live.inThread(self.refusedUpload, headers)
        self.assertEqual(status, 403)
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", body)
        self.assertEqual(self.storedBytes(), before)

    @defer.inlineCallbacks
    def test_refusedBeforeContinue(self):
        """With Expect: 100-continue a refused PUT gets its 403 instead of 100 Continue."""
        status, body, _ = yield self.live.inThread(
            self.refusedUpload, {"Host": "x"}, True)
        self.assertEqual(status, 403)
        self.assertIn(b"AccessDenied", body)

    @defer.inlineCallbacks
    def test_missingBucketRefusedFromHeaders(self):
        """A signed PUT into a bucket that does not exist is NoSuchBucket before its body."""
        headers = signedHeaders("PUT", self.url + "/nowhere/big", self.live.alice,
                                headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})

        def upload():
            client = RawClient(self.port)
            try:
                client.sendHead("PUT", "/nowhere/big", dict(
                    headers, **{"Content-Length": str(BODY_SIZE), "Expect": "100-continue"}))
                return client.readResponse()
            finally:
                client.close()
        status, _, body = yield self.live.inThread(upload)
        self.assertEqual(status, 404)
        self.assertIn(b"NoSuchBucket", body)

    @defer.inlineCallbacks
    def test_admittedUploadGetsContinue(self):
        """A rightly signed PUT with Expect: 100-continue gets 100, then stores its body."""
        data = os.urandom(300 * 1024)
        headers = signedHeaders("PUT", self.url + "/private/ok", self.live.alice, data)

        def upload():
            client = RawClient(self.port)
            try:
                client.sendHead("PUT", "/private/ok", dict(
                    headers, **{"Content-Length": str(len(data)), "Expect": "100-continue"}))
                first = client.readResponse()
                client.sendBody(data)
                return first[0], client.readResponse()
            finally:
                client.close()
        first, (status, headers, body) = yield self.live.inThread(upload)
        self.assertEqual((first, status), (100, 200), body)
        self.assertEqual(headers["etag"], '"%s"' % hashlib.md5(data).hexdigest())

    @defer.inlineCallbacks
    def test_unadmittedConnectionsBounded(self):
        """Past the limit of connections nobody has been admitted on, a new one gets 503 SlowDown."""
        self.live.walrus.guard.limit = 3

        def crowd():
            idle = [RawClient(self.port) for _ in range(3)]
            try:
                time.sleep(0.5)
                extra = RawClient(self.port)
                try:
                    return extra.readResponse()
                finally:
                    extra.close()
            finally:
                for client in idle:
                    client.close()
        status, _, body = yield self.live.inThread(crowd)
        self.assertEqual(status, 503)
        self.assertIn(b"SlowDown", body)


class LiveFormUploadTests(unittest.TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()
        self.port = self.live.port.getHost().port

    def policy(self, conditions):
        expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 300))
        return base64.b64encode(json.dumps({"expiration": expiration,
                                            "conditions": conditions}).encode()).decode()

    def post(self, fields, data, filename="big.bin"):
        """POST a form with urllib3's multipart encoder: (status, body text)."""
        import urllib3
        reply = urllib3.PoolManager().request(
            "POST", "http://127.0.0.1:%d/forms" % (self.port,),
            fields=list(fields) + [("file", (filename, data, "application/octet-stream"))],
            timeout=30, retries=False)
        return reply.status, reply.data.decode("utf-8", "replace")

    def signedFields(self, key, extra=()):
        accessKey, secret = self.live.alice
        encoded = self.policy([{"bucket": "forms"}, ["starts-with", "$key", ""],
                               ["content-length-range", 0, 10 * 1024 * 1024]]
                              + list(extra))
        signature = base64.b64encode(hmac.new(secret.encode(), encoded.encode(),
                                              hashlib.sha1).digest()).decode()
        return [("key", key), ("AWSAccessKeyId", accessKey), ("policy", encoded),
                ("signature", signature)]

    @defer.inlineCallbacks
    def test_largeFormUpload(self):
        """A signed form upload of 1 MiB (over the old 256 KiB failure) is stored whole."""
        s3 = self.live.s3Client("http://127.0.0.1:%d" % (self.port,))
        yield self.live.inThread(lambda: s3.create_bucket(Bucket="forms"))
        data = os.urandom(1024 * 1024 + 17)
        status, text = yield self.live.inThread(self.post, self.signedFields("up/${filename}"),
                                                data)
        self.assertEqual(status, 204, text)
        got = yield self.live.inThread(
            lambda: s3.get_object(Bucket="forms", Key="up/big.bin")["Body"].read())
        self.assertEqual(got, data)

    @defer.inlineCallbacks
    def test_badFormSignatureStoresNothing(self):
        """A form whose signature is wrong is refused and none of its file reaches the disk."""
        s3 = self.live.s3Client("http://127.0.0.1:%d" % (self.port,))
        yield self.live.inThread(lambda: s3.create_bucket(Bucket="forms"))
        fields = self.signedFields("k")
        fields[-1] = ("signature", "AAAA" + fields[-1][1][4:])
        sizes = []
        original = self.live.walrus.blobs.createTemp

        def createTemp():
            sizes.append("temp")
            return original()
        self.live.walrus.blobs.createTemp = createTemp
        status, text = yield self.live.inThread(self.post, fields, os.urandom(2 * 1024 * 1024))
        self.assertEqual(status, 403, text)
        self.assertIn("SignatureDoesNotMatch", text)
        self.assertEqual(sizes, [])


class SharedPortGateTests(unittest.TestCase):
    def test_onlyS3RequestsAreHeld(self):
        """On a shared port the gate holds the bodies its predicate calls S3's and leaves the others alone."""
        from twisted.internet.testing import StringTransport
        from twisted.web.test.requesthelper import DummyChannel
        from twisted.web.server import Request
        from eucad.walrus.admission import HeldBody
        from eucad.walrus.service import SharedPortGate
        from tests.walrus.helpers import WalrusHarness
        harness = WalrusHarness(self)
        harness.createBucket("bucket")
        gate = SharedPortGate(harness.walrus,
                              lambda method, target, headers: target.startswith(b"/bucket"))
        opened = []
        for target in (b"/services/Eucalyptus", b"/bucket/key"):
            request = Request(DummyChannel())
            request.transport = StringTransport()
            request.requestHeaders.setRawHeaders(b"host", [b"x"])
            opened.append(gate.openBody(request, (b"PUT", target, b"HTTP/1.1"), 5))
        self.assertIsNone(opened[0])
        self.assertIsInstance(opened[1], HeldBody)
        # Anonymous, so refused at once: nothing of its body will be kept.
        self.assertEqual(self.failureResultOf(opened[1].whenAdmitted()).value.code,
                         "AccessDenied")


class HeldBodyPauseTests(unittest.TestCase):
    class Producer:
        def __init__(self):
            self.calls = []

        def pauseProducing(self):
            self.calls.append("pause")

        def resumeProducing(self):
            self.calls.append("resume")

    def test_settledAdmissionNeverPauses(self):
        """An admission that settled before holdUntilAdmitted leaves the connection alone."""
        from twisted.internet import defer

        from eucad.walrus.admission import HeldBody
        producer = self.Producer()
        spools = []
        held = HeldBody(defer.succeed("ok"), lambda result: spools.append(result) or
                        StringSpool(), producer, pauseAtOnce=False)
        held.holdUntilAdmitted()
        held.write(b"body")
        self.assertEqual((producer.calls, spools), ([], ["ok"]))

    def test_pendingAdmissionPausesUntilSettled(self):
        """A pending admission pauses the connection, holds what arrived, and resumes once admitted."""
        from twisted.internet import defer

        from eucad.walrus.admission import HeldBody
        producer = self.Producer()
        admission = defer.Deferred()
        spool = StringSpool()
        held = HeldBody(admission, lambda result: spool, producer, pauseAtOnce=False)
        held.holdUntilAdmitted()
        self.assertEqual(producer.calls, ["pause"])
        held.write(b"early")
        admission.callback("ok")
        held.write(b" late")
        self.assertEqual((producer.calls, spool.data), (["pause", "resume"], b"early late"))


class StringSpool:
    """The least a spool does for HeldBody: keep what is written."""

    def __init__(self):
        self.data = b""

    def write(self, data):
        self.data += data
