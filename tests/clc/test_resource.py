"""The HTTP resource: where it is mounted, what it reads, and the shared-root test."""

from treq.testing import StubTreq
from twisted.internet import defer
from twisted.trial import unittest
from twisted.web.test.requesthelper import DummyRequest

from eucad.clc.api import render
from eucad.clc import instancestore
from eucad.clc.api.resource import Ec2Resource, isEc2Request, makeRootResource
from eucad.clc.startup import CloudStartup
from eucad.testing.fakecluster import FakeCluster

from tests.clc import helpers


class MountTests(unittest.TestCase):

    def setUp(self):
        self.cloud = helpers.makeCloud(self, {"zone1": FakeCluster()})
        self.keys = helpers.addUser(self.cloud.db, "alice")
        self.ec2 = helpers.StubEc2(self, self.cloud, self.keys)
        self.params = {"Action": "DescribeRegions", "Version": "2016-11-15"}

    def test_trailingSlash(self):
        """/services/Eucalyptus/ (trailing slash) is the EC2 API too."""
        url, headers, body = helpers.signV4(self.keys, self.params,
                                            url=helpers.ENDPOINT + "/")
        self.assertEqual(self.ec2.send(url, headers, body)[0], 200)

    def test_otherPathsNotFound(self):
        """Paths outside / and /services/Eucalyptus are 404."""
        status, _ = self.ec2.send("http://cloud.example:8773/services/Other", method="GET")
        self.assertEqual(status, 404)

    def test_bodyTooLarge(self):
        """A body beyond the limit is refused before any signature work."""
        url, headers, body = helpers.signV4(self.keys, dict(
            self.params, Padding="x" * (1024 * 1024)))
        status, answer = self.ec2.send(url, headers, body)
        error = helpers.parseAnswer("DescribeRegions", status, answer)["Error"]
        self.assertEqual((status, error["Code"]), (400, "InvalidParameterValue"))

    def test_contentType(self):
        """Answers are text/xml."""
        url, headers, body = helpers.signV4(self.keys, self.params)
        d = self.ec2.stub.request("POST", url, headers=headers, data=body)
        self.ec2.stub.flush()
        response = self.successResultOf(d)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"),
                         [b"text/xml;charset=UTF-8"])


class _HeldCluster(FakeCluster):
    """A FakeCluster whose terminateInstances answers only when the test says."""

    def __init__(self):
        FakeCluster.__init__(self)
        self.held = defer.Deferred()

    def terminateInstances(self, instanceIds):
        self.calls.append(("terminateInstances", (instanceIds,)))
        return self.held


class StartupGateTests(unittest.TestCase):
    """The API answers 503 ServiceUnavailable until start-up recovery is done."""

    def setUp(self):
        self.cluster = _HeldCluster()
        self.cloud = helpers.makeCloud(self, {"zone1": self.cluster})
        self.keys = helpers.addUser(self.cloud.db, "alice")
        self.startup = CloudStartup(self.cloud)
        self.ec2 = helpers.StubEc2(self, self.cloud, self.keys)
        self.ec2.stub = StubTreq(makeRootResource(
            Ec2Resource(self.cloud, isReady=self.startup.isReady)))

    def describeRegions(self):
        status, body = self.ec2.raw("DescribeRegions")
        return status, helpers.parseAnswer("DescribeRegions", status, body)

    def interruptLaunch(self):
        """Leave a launch in flight, so that recovery has a cluster call to wait on."""
        emi, _, _ = helpers.registerImages(self.cloud.db)
        template = {"imageId": emi, "kernelId": None, "ramdiskId": None,
                    "vmType": "m1.small", "keyName": None, "userData": None,
                    "groups": ["default"]}
        self.cloud.db.transact(instancestore.reserveInstances, "alice", "zone1", 1,
                               template, 0)

    def test_unavailableBeforeStart(self):
        """Before start-up has run, a signed request is answered 503 ServiceUnavailable."""
        status, parsed = self.describeRegions()
        self.assertEqual((status, parsed["Error"]["Code"]), (503, "ServiceUnavailable"))

    def test_unavailableWhileRecovering(self):
        """While recovery waits on a cluster the API says 503; once it is done, 200."""
        self.interruptLaunch()
        self.startup.startService()
        self.assertNoResult(self.startup.ready)
        self.assertEqual(self.describeRegions()[0], 503)
        self.cluster.held.callback(None)
        self.successResultOf(self.startup.ready)
        status, parsed = self.describeRegions()
        self.assertEqual(status, 200, parsed.get("Error"))

    def test_closedAfterFailedRecovery(self):
        """A recovery that failed leaves the API answering 503."""
        def broken(session, now):
            raise RuntimeError("database is broken")
        self.patch(instancestore, "abandonUnplaced", broken)
        self.startup.startService()
        self.successResultOf(self.startup.ready)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.describeRegions()[0], 503)


class UnrenderableAnswerTests(unittest.TestCase):
    """Every request is answered, whatever its error message holds."""

    def setUp(self):
        self.cloud = helpers.makeCloud(self, {"zone1": FakeCluster()})
        self.ec2 = helpers.StubEc2(self, self.cloud, ("nobody", "secret"))

    def test_controlCharacterEchoed(self):
        """An unauthenticated Version=%01 gets a NoSuchVersion answer, not a hung request."""
        status, body = self.ec2.send(
            helpers.ENDPOINT + "?Action=DescribeRegions&Version=%01", method="GET")
        error = helpers.parseAnswer("DescribeRegions", status, body)["Error"]
        self.assertEqual((status, error["Code"]), (400, "NoSuchVersion"))
        self.assertIn("\ufffd", error["Message"])

    def test_renderingFails(self):
        """When making the error answer itself fails, the client gets a 500 InternalError."""
        def broken(error, requestId):
            raise ValueError("renderer broke")
        self.patch(render, "renderError", broken)
        status, body = self.ec2.send(helpers.ENDPOINT + "?Action=DescribeRegions",
                                     method="GET")
        error = helpers.parseAnswer("DescribeRegions", status, body)["Error"]
        self.assertEqual((status, error["Code"]), (500, "InternalError"))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)


class IsEc2RequestTests(unittest.TestCase):

    def request(self, uri=b"/", args=None, authorization=None):
        request = DummyRequest([b""])
        request.uri = uri
        request.args = args or {}
        if authorization:
            request.requestHeaders.setRawHeaders(b"authorization", [authorization])
        return request

    def test_action(self):
        """A request with an Action parameter is EC2."""
        self.assertTrue(isEc2Request(self.request(args={b"Action": [b"DescribeRegions"]})))

    def test_v4Scope(self):
        """A SigV4 header scoped to ec2 is EC2; one scoped to s3 is not."""
        ec2 = (b"AWS4-HMAC-SHA256 Credential=AK/20260101/eucalyptus/ec2/aws4_request, "
               b"SignedHeaders=host, Signature=00")
        s3 = ec2.replace(b"/ec2/", b"/s3/")
        self.assertTrue(isEc2Request(self.request(authorization=ec2)))
        self.assertFalse(isEc2Request(self.request(authorization=s3)))

    def test_presignedScope(self):
        """A presigned URL scoped to ec2 is EC2."""
        uri = b"/?X-Amz-Credential=AK%2F20260101%2Feucalyptus%2Fec2%2Faws4_request"
        self.assertTrue(isEc2Request(self.request(uri=uri)))

    def test_bucketRequest(self):
        """A plain S3-style request (GET /bucket/key) is not EC2."""
        self.assertFalse(isEc2Request(self.request(uri=b"/bucket/key")))
