"""The shared EC2+S3 root, in memory: which service answers which request.

The Site is the one ``eucad.frontend.frontdoor.makeSharedSite`` builds, over a
real Cloud (FakeCluster) and a real Walrus sharing one SQLite database whose
work, like Walrus's file work, runs in the calling thread.  Raw HTTP goes
through the Site's own channel (Walrus's request and body spool) on a
StringTransport: no socket, no reactor.  Requests are signed with botocore.
"""

import os
from urllib.parse import urlencode, urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from lxml import etree
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from eucad.frontend import frontdoor
from eucad.clc.api import resource as ec2resource
from eucad.common.config import EucaConf
from eucad.walrus import body as bodyModule
from eucad.walrus.app import buildWalrus
from eucad.walrus.body import BodySpool
from eucad.testing.fakecluster import FakeCluster

from tests.clc import helpers
from tests.walrus.helpers import inlineIo

ROOT = "http://127.0.0.1:8773"
EC2_NS = "{http://ec2.amazonaws.com/doc/2016-11-15/}"
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
DESCRIBE = {"Action": "DescribeRegions", "Version": "2016-11-15"}


class Reply:
    """One HTTP answer as bytes came off the wire."""

    def __init__(self, raw):
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.code = int(lines[0].split(b" ")[1])
        self.headers = {}
        self.rawNames = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.rawNames.append(name)
            self.headers[name.decode().lower()] = value.strip().decode("latin-1")
        length = self.headers.get("content-length")
        self.body = rest[:int(length)] if length is not None else rest

    def xml(self):
        return etree.fromstring(self.body)

    def isEc2Error(self):
        """EC2's error shape: Response/Errors/Error/Code."""
        root = self.xml()
        return root.tag == "Response" and root.find("Errors/Error/Code") is not None

    def s3ErrorCode(self):
        """The Code of S3's error shape (a bare Error element), else None."""
        root = self.xml()
        return root.findtext("Code") if root.tag == "Error" else None


class SharedWire:
    """A shared Site over a Cloud and a Walrus, spoken to in raw HTTP."""

    def __init__(self, testcase):
        self.testcase = testcase
        self.db = helpers.makeDatabase(testcase)
        self.cloud = helpers.makeCloud(testcase, {"zone1": FakeCluster()}, db=self.db)
        self.keys = helpers.addUser(self.db, "alice")
        root = os.path.abspath(testcase.mktemp())
        os.makedirs(root)
        conf = EucaConf(os.path.join(root, "eucalyptus.conf"))
        self.walrus = buildWalrus(self.db, os.path.join(root, "bukkits"), conf, inlineIo)
        self.walrus.blobs.prepare()
        self.site = frontdoor.makeSharedSite(self.cloud, self.walrus)
        self.spools = []
        makeSpool = self.site.walrusSpoolFactory

        def recordSpool(*args):
            spool = makeSpool(*args)
            self.spools.append(spool)
            return spool
        self.site.walrusSpoolFactory = recordSpool

    def send(self, method, url, headers=None, body=b""):
        """The Reply to one request, sent whole on a fresh connection."""
        parts = urlsplit(url)
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        lines = ["%s %s HTTP/1.1" % (method, target), "Host: %s" % (parts.netloc,),
                 "Content-Length: %d" % (len(body),)]
        for name, value in (headers or {}).items():
            if name.lower() not in ("host", "content-length"):
                lines.append("%s: %s" % (name, value))
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000),
                                    hostAddress=IPv4Address("TCP", "127.0.0.1", 8773))
        channel.makeConnection(transport)
        try:
            channel.dataReceived(raw)
            answer = transport.value()
        finally:
            channel.connectionLost(None)
        self.testcase.assertTrue(answer, "no answer to %s %s" % (method, url))
        return Reply(answer)

    def ec2V4(self, params=DESCRIBE, url=ROOT + "/", method="POST"):
        signed, headers, body = helpers.signV4(self.keys, params, url=url, method=method)
        return self.send(method, signed, headers, body)

    def ec2V2(self, params=DESCRIBE, url=ROOT + "/", method="POST"):
        signed, body = helpers.signV2(self.keys, params, url=url, method=method)
        headers = {"Content-Type": helpers.FORM} if method == "POST" else {}
        return self.send(method, signed, headers, body)

    def s3(self, method, path, body=b"", headers=None, root=ROOT):
        request = AWSRequest(method=method, url=root + path, data=body,
                             headers=dict(headers or {}))
        S3SigV4Auth(Credentials(*self.keys), "s3", "us-east-1").add_auth(request)
        return self.send(method, root + path, dict(request.headers.items()), body)


class RootByShapeTests(unittest.TestCase):

    def setUp(self):
        self.wire = SharedWire(self)

    def assertRegions(self, reply):
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(reply.xml().tag, EC2_NS + "DescribeRegionsResponse")

    def test_ec2SigV4PostAtRoot(self):
        """A SigV4 form post scoped to ec2 at / is answered by EC2."""
        self.assertRegions(self.wire.ec2V4())

    def test_ec2SigV2FormAtRoot(self):
        """A SigV2 form post, whose Action is only in the body, is answered by EC2."""
        self.assertRegions(self.wire.ec2V2())

    def test_ec2QueryAtRoot(self):
        """A GET with Action in the query string is answered by EC2."""
        self.assertRegions(self.wire.ec2V2(method="GET"))

    def test_ec2ServicePath(self):
        """/services/Eucalyptus is EC2 whatever the request looks like."""
        self.assertRegions(self.wire.ec2V4(url=ROOT + "/services/Eucalyptus"))
        reply = self.wire.send("GET", ROOT + "/services/Eucalyptus")
        self.assertTrue(reply.isEc2Error(), reply.body)

    def test_ec2ErrorsKeepTheirShape(self):
        """An unsigned EC2 request at / gets EC2's error document, not S3's."""
        reply = self.wire.send("GET", ROOT + "/?" + urlencode(DESCRIBE))
        self.assertEqual(reply.code, 401)
        self.assertTrue(reply.isEc2Error(), reply.body)
        self.assertIsNone(reply.s3ErrorCode())

    def test_s3ListBucketsAtRoot(self):
        """GET / signed for s3 is S3's ListBuckets, with a bucket made at the root."""
        self.assertEqual(self.wire.s3("PUT", "/photos").code, 200)
        reply = self.wire.s3("GET", "/")
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(reply.xml().tag, S3_NS + "ListAllMyBucketsResult")
        self.assertEqual([e.text for e in reply.xml().iter(S3_NS + "Name")], ["photos"])

    def test_s3ServicePath(self):
        """/services/Walrus is S3: an object put there is read back at the root and vice versa."""
        prefixed = ROOT + "/services/Walrus"
        self.assertEqual(self.wire.s3("PUT", "/photos", root=prefixed).code, 200)
        self.assertEqual(self.wire.s3("PUT", "/photos/a.txt", b"alpha", root=prefixed).code, 200)
        self.assertEqual(self.wire.s3("GET", "/photos/a.txt").body, b"alpha")
        self.assertEqual(self.wire.s3("PUT", "/photos/b.txt", b"beta").code, 200)
        self.assertEqual(self.wire.s3("GET", "/photos/b.txt", root=prefixed).body, b"beta")

    def test_s3ErrorsKeepTheirShape(self):
        """An S3 request for a missing bucket gets S3's error document, not EC2's."""
        reply = self.wire.send("GET", ROOT + "/nobucket/key")
        self.assertEqual((reply.code, reply.s3ErrorCode()), (404, "NoSuchBucket"))

    def test_amzHeadersKeepS3Case(self):
        """x-amz-* answer headers are written in lower case on the shared Site (S3 metadata)."""
        self.wire.s3("PUT", "/photos")
        self.wire.s3("PUT", "/photos/c", b"x", headers={"x-amz-meta-Color": "red"})
        reply = self.wire.s3("GET", "/photos/c")
        self.assertIn(b"x-amz-meta-color", reply.rawNames)
        self.assertIn(b"x-amz-request-id", reply.rawNames)

    def test_keyNamingAnEc2ScopeIsS3(self):
        """An S3 key whose text looks like an ec2 SigV4 scope still goes to S3."""
        self.wire.s3("PUT", "/photos")
        key = "/photos/AK/20260101/eucalyptus/ec2/aws4_request"
        self.assertEqual(self.wire.s3("PUT", key, b"tricky").code, 200)
        self.assertEqual(self.wire.s3("GET", key).body, b"tricky")

    def test_formPostWithoutActionIsS3(self):
        """A URL-encoded POST at / naming no Action is S3's (and gets S3's error)."""
        reply = self.wire.send("POST", ROOT + "/", {"Content-Type": helpers.FORM}, b"a=b")
        self.assertIsNotNone(reply.s3ErrorCode(), reply.body)

    def test_multipartPostIsNeverRead(self):
        """A multipart/form-data POST (an S3 browser upload) goes to S3 without its body being read."""
        self.patch(frontdoor, "formHasAction", lambda *a: self.fail("body was read"))
        self.assertEqual(self.wire.s3("PUT", "/formbucket").code, 200)
        malformed = b"--xyz\r\nContent-Disposition: form-data; name=key\r\n\r\nk\r\n--xyz--\r\n"
        reply = self.wire.send("POST", ROOT + "/formbucket", {
            "Content-Type": "multipart/form-data; boundary=xyz"}, malformed)
        self.assertEqual(reply.s3ErrorCode(), "MalformedPOSTRequest")
        # To a missing bucket, Walrus refuses from the headers, before the form.
        reply = self.wire.send("POST", ROOT + "/nobucket", {
            "Content-Type": "multipart/form-data; boundary=xyz"}, malformed)
        self.assertEqual(reply.s3ErrorCode(), "NoSuchBucket")

    def test_choosingFailsCleanly(self):
        """If reading a form body to choose a service fails, the client gets a 500 and the error is logged."""
        async def broken(request, maxBody):
            raise ValueError("spool broke")
        self.patch(frontdoor, "formHasAction", broken)
        reply = self.wire.send("POST", ROOT + "/", {"Content-Type": helpers.FORM}, b"a=b")
        self.assertEqual(reply.code, 500)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_largeEc2FormFromAFileSpool(self):
        """An EC2 form larger than Walrus keeps in memory is read back from its spool file."""
        params = dict(DESCRIBE, **{"RegionName.%d" % i: "eucalyptus" for i in range(1, 10000)})
        signed, body = helpers.signV2(self.wire.keys, params, url=ROOT + "/")
        self.assertGreater(len(body), bodyModule.SMALL_BODY)
        reply = self.wire.send("POST", signed, {"Content-Type": helpers.FORM}, body)
        self.assertIsInstance(self.wire.spools[-1], BodySpool)
        self.assertTrue(self.wire.spools[-1].onFile)
        self.assertEqual(reply.code, 200, reply.body[:500])
        self.assertEqual(reply.xml().tag, EC2_NS + "DescribeRegionsResponse")

    def test_ec2BodyTooLarge(self):
        """An ec2-scoped body beyond EC2's limit gets EC2's error, read no further than the limit."""
        params = dict(DESCRIBE, Padding="x" * (ec2resource.MAX_BODY_BYTES + 10))
        reply = self.wire.ec2V4(params)
        self.assertEqual(reply.code, 400)
        self.assertTrue(reply.isEc2Error(), reply.body)
        self.assertIn(b"too large", reply.body)


class ReadBodyTests(unittest.TestCase):

    def test_plainContentFile(self):
        """Outside the shared Site, readBody reads twisted's own content file."""
        from io import BytesIO

        from twisted.web.test.requesthelper import DummyRequest
        request = DummyRequest([b""])
        request.content = BytesIO(b"Action=DescribeRegions")
        self.assertEqual(self.successResultOf(frontdoor.readBody(request, 100)),
                         b"Action=DescribeRegions")
        self.failureResultOf(frontdoor.readBody(request, 5)).trap(
            ec2resource.CloudError)


class IsEc2RequestTests(unittest.TestCase):
    """The header and query checks isEc2Request adds for the shared root."""

    def request(self, uri, authorization=None):
        from twisted.web.test.requesthelper import DummyRequest
        request = DummyRequest([b""])
        request.uri = uri
        request.args = {}
        if authorization:
            request.requestHeaders.setRawHeaders(b"authorization", [authorization])
        return request

    def test_scopeIsParsedNotSearched(self):
        """ec2 elsewhere than in the SigV4 scope's service does not make a request EC2's."""
        s3 = (b"AWS4-HMAC-SHA256 Credential=AK/20260101/ec2/s3/aws4_request, "
              b"SignedHeaders=host, Signature=00")
        self.assertFalse(ec2resource.isEc2Request(self.request(b"/b/ec2/aws4_request", s3)))
        presigned = (b"/b/k?X-Amz-Credential=AK%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
                     b"&note=%2Fec2%2Faws4_request")
        self.assertFalse(ec2resource.isEc2Request(self.request(presigned)))

    def test_v2HeaderIsNotEc2(self):
        """An S3 SigV2 Authorization header (AWS AK:sig) is not EC2's."""
        self.assertFalse(ec2resource.isEc2Request(self.request(b"/", b"AWS AK:c2lnbmF0dXJl")))

    def test_malformedCredential(self):
        """A credential without a full scope is not EC2's."""
        self.assertFalse(ec2resource.isEc2Request(
            self.request(b"/", b"AWS4-HMAC-SHA256 Credential=ec2, Signature=00")))



class IsS3Tests(unittest.TestCase):
    """The shared port's gate predicate: which requests Walrus admits before their bodies."""

    def isS3(self, method, target, **headers):
        from twisted.web.http_headers import Headers
        raw = Headers({name.replace("_", "-").encode(): [value.encode()]
                       for name, value in headers.items()})
        return frontdoor.isS3(method, target, raw)

    def test_servicePaths(self):
        """/services/Eucalyptus is never S3's; /services/Walrus always is, even with an Action."""
        self.assertFalse(self.isS3(b"PUT", b"/services/Eucalyptus/x"))
        self.assertTrue(self.isS3(b"PUT", b"/services/Walrus/b/k?Action=RunInstances"))

    def test_rootByShape(self):
        """At the root an Action, an ec2 SigV4 scope or a URL-encoded form POST is not S3's."""
        scope = "AWS4-HMAC-SHA256 Credential=AK/20260101/eucalyptus/ec2/aws4_request, " \
                "SignedHeaders=host, Signature=00"
        self.assertFalse(self.isS3(b"GET", b"/?Action=DescribeRegions&Version=1"))
        self.assertFalse(self.isS3(b"POST", b"/", authorization=scope))
        self.assertFalse(self.isS3(b"POST", b"/", content_type=helpers.FORM))
        presigned = b"/?X-Amz-Credential=AK%2F20260101%2Feucalyptus%2Fec2%2Faws4_request"
        self.assertFalse(self.isS3(b"GET", presigned))

    def test_s3Shapes(self):
        """PUTs, S3-scoped requests, multipart form uploads and ec2-looking keys are S3's."""
        scope = "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, " \
                "SignedHeaders=host, Signature=00"
        self.assertTrue(self.isS3(b"PUT", b"/bucket/key"))
        self.assertTrue(self.isS3(b"PUT", b"/bucket/key", authorization=scope))
        self.assertTrue(self.isS3(b"PUT", b"/b/AK/20260101/eucalyptus/ec2/aws4_request"))
        self.assertTrue(self.isS3(b"POST", b"/bucket",
                                  content_type="multipart/form-data; boundary=x"))
