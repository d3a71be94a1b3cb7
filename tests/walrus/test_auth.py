"""Signature V2 and V4 (header, query, streaming) and their failures."""

import hashlib
import time

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from twisted.trial import unittest

from eucad.common import signing
from eucad.walrus.auth import ChunkSignatureChain
from eucad.walrus.errors import S3Error
from tests.walrus.helpers import HOST, WalrusHarness, awsChunkedBody


class SignatureTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("signed")
        self.walrus.put("signed", "k", b"value")

    def test_v2HeaderWithAndWithoutServicePrefix(self):
        """SigV2 over the path with or without /services/Walrus is accepted on either path."""
        for sent, signed in (("/services/Walrus/signed/k", "/services/Walrus/signed/k"),
                             ("/services/Walrus/signed/k", "/signed/k"),
                             ("/signed/k", "/signed/k")):
            reply = self.walrus.request("GET", sent, scheme="v2", signPath=signed)
            self.assertEqual((reply.code, reply.body), (200, b"value"), (sent, signed))

    def test_v2Put(self):
        """A SigV2 PUT with Content-MD5 and Content-Type signed is stored."""
        import base64
        md5 = base64.b64encode(hashlib.md5(b"v2 body").digest()).decode()
        reply = self.walrus.request("PUT", "/signed/v2", body=b"v2 body", scheme="v2",
                                    headers={"Content-MD5": md5, "Content-Type": "text/x",
                                             "x-amz-meta-a": "b"})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.get("signed", "v2").header("x-amz-meta-a"), "b")

    def test_v4PresignedGet(self):
        """A SigV4 presigned URL reads the object with no other credentials."""
        url = self.walrus.presign("GET", "/signed/k")
        reply = self.walrus.request("GET", None, url=url, keys=None)
        self.assertEqual((reply.code, reply.body), (200, b"value"))

    def test_v2PresignedGet(self):
        """A SigV2 presigned URL (Expires, Signature) reads the object."""
        url = self.walrus.presign("GET", "/signed/k", scheme="v2")
        reply = self.walrus.request("GET", None, url=url, keys=None)
        self.assertEqual((reply.code, reply.body), (200, b"value"))

    def test_presignedPutIsUnsignedPayload(self):
        """A presigned PUT stores its body (UNSIGNED-PAYLOAD)."""
        url = self.walrus.presign("PUT", "/signed/up")
        reply = self.walrus.request("PUT", None, url=url, keys=None, body=b"uploaded")
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.get("signed", "up").body, b"uploaded")

    def test_expiredPresignedUrls(self):
        """Presigned URLs past their expiry are AccessDenied."""
        walrus = WalrusHarness(self, clock=lambda: time.time() + 3600)
        for scheme in ("v4", "v2"):
            url = self.walrus.presign("GET", "/late/k", scheme=scheme, expires=60)
            reply = walrus.request("GET", None, url=url, keys=None)
            self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"), scheme)

    def test_tamperedPresignedUrl(self):
        """Changing a presigned URL's key breaks its signature."""
        url = self.walrus.presign("GET", "/signed/k").replace("/signed/k", "/signed/x")
        reply = self.walrus.request("GET", None, url=url, keys=None)
        self.assertEqual(reply.errorCode(), "SignatureDoesNotMatch")

    def test_wrongSecret(self):
        """A signature made with the wrong secret is SignatureDoesNotMatch, in both versions."""
        keys = (self.walrus.alice[0], "not-the-secret")
        for scheme in ("v4", "v2"):
            reply = self.walrus.request("GET", "/signed/k", keys=keys, scheme=scheme)
            self.assertEqual((reply.code, reply.errorCode()), (403, "SignatureDoesNotMatch"))

    def test_unknownAccessKey(self):
        """An access key nobody has is InvalidAccessKeyId."""
        reply = self.walrus.request("GET", "/signed/k", keys=("AKNOBODY", "secret"))
        self.assertEqual((reply.code, reply.errorCode()), (403, "InvalidAccessKeyId"))

    def test_clockSkew(self):
        """A request 20 minutes away from the server's clock is RequestTimeTooSkewed."""
        walrus = WalrusHarness(self, clock=lambda: time.time() + 20 * 60)
        for scheme in ("v4", "v2"):
            reply = walrus.request("GET", "/", scheme=scheme)
            self.assertEqual((reply.code, reply.errorCode()), (403, "RequestTimeTooSkewed"))

    def test_unsignedPayloadHeader(self):
        """A SigV4 header request with UNSIGNED-PAYLOAD stores its body."""
        reply = self.walrus.request("PUT", "/signed/unsigned", body=b"free", scheme="v4-unsigned")
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.get("signed", "unsigned").body, b"free")

    def test_payloadHashMismatch(self):
        """A body that differs from the signed x-amz-content-sha256 is refused and not stored."""
        request = AWSRequest(method="PUT", url="http://%s/signed/forged" % HOST, data=b"signed")
        S3SigV4Auth(Credentials(*self.walrus.alice), "s3", "us-east-1").add_auth(request)
        d = self.walrus.stub.request("PUT", "http://%s/signed/forged" % HOST, data=b"forged",
                                     headers=dict(request.headers.items()))
        self.walrus.stub.flush()
        response = self.successResultOf(d)
        self.assertEqual(response.code, 400)
        self.assertEqual(self.walrus.get("signed", "forged").code, 404)


class StreamingTests(unittest.TestCase):
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD: aws-chunked bodies signed chunk by chunk."""

    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("stream")

    def streamingPut(self, data, tamper=False, chunkSize=65536):
        accessKey, secret = self.walrus.alice
        amzDate = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        scope = "%s/us-east-1/s3/aws4_request" % amzDate[:8]
        chunkedLength = len(awsChunkedBody(data, b"k" * 32, amzDate, scope, "0" * 64, chunkSize))
        headers = {"host": HOST, "x-amz-date": amzDate,
                   "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                   "content-encoding": "aws-chunked",
                   "x-amz-decoded-content-length": str(len(data)),
                   "content-length": str(chunkedLength)}
        signed = sorted(headers)
        canonical = signing.canonicalRequest(
            "PUT", "/stream/chunked", [], {k: [v] for k, v in headers.items()}, signed,
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        key = signing.v4SigningKey(secret, amzDate[:8], "us-east-1", "s3")
        seed = signing.v4Signature(key, signing.v4StringToSign(amzDate, scope, canonical))
        body = awsChunkedBody(data, key, amzDate, scope, seed, chunkSize)
        if tamper:
            body = body.replace(b"A" * 10, b"B" * 10, 1)
        headers["Authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
                                    "Signature=%s" % (accessKey, scope, ";".join(signed), seed))
        # Both are sent by the HTTP client itself, with the same values.
        del headers["host"], headers["content-length"]
        return self.walrus.request("PUT", "/stream/chunked", body=body, headers=headers, keys=None)

    def test_signedChunksAccepted(self):
        """Every chunk signature checks out and the decoded body is stored."""
        data = b"A" * 200000 + b"tail"
        reply = self.streamingPut(data)
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.get("stream", "chunked").body, data)

    def test_tamperedChunkRejected(self):
        """Changing a chunk's bytes fails its signature and stores nothing."""
        reply = self.streamingPut(b"A" * 200000, tamper=True)
        self.assertEqual((reply.code, reply.errorCode()), (403, "SignatureDoesNotMatch"))
        self.assertEqual(self.walrus.get("stream", "chunked").code, 404)

    def test_largeStreamingBodyOnDisk(self):
        """A multi-MiB aws-chunked body is decoded while spooled to disk."""
        data = bytes(range(256)) * 8192
        reply = self.streamingPut(data, chunkSize=1024 * 1024)
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.get("stream", "chunked").body, data)


class ChunkChainTests(unittest.TestCase):
    def test_awsDocumentationExample(self):
        """The chunk signatures of AWS's published streaming example verify."""
        key = signing.v4SigningKey("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524",
                                   "us-east-1", "s3")
        chain = ChunkSignatureChain(
            key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request",
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9", False)
        chunks = [
            ("ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
             hashlib.sha256(b"a" * 65536).hexdigest()),
            ("0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
             hashlib.sha256(b"a" * 1024).hexdigest()),
            ("b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
             hashlib.sha256(b"").hexdigest()),
        ]
        chain.verify(chunks, {})
        broken = list(chunks)
        broken[1] = (chunks[1][0], hashlib.sha256(b"b" * 1024).hexdigest())
        self.assertRaises(S3Error, chain.verify, broken, {})
