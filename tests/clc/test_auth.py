"""Signature V4 (header and presigned) and V2 acceptance and refusal, over HTTP."""

from urllib.parse import urlencode

from twisted.trial import unittest

from eucad.common import accounts
from eucad.testing.fakecluster import FakeCluster

from tests.clc import helpers

FORM = {"Content-Type": helpers.FORM}


class AuthTestCase(unittest.TestCase):

    def setUp(self):
        self.cloud = helpers.makeCloud(self, {"zone1": FakeCluster()})
        self.keys = helpers.addUser(self.cloud.db, "alice")
        self.ec2 = helpers.StubEc2(self, self.cloud, self.keys)
        self.params = {"Action": "DescribeRegions", "Version": "2016-11-15"}

    def assertAccepted(self, status, body):
        parsed = helpers.parseAnswer("DescribeRegions", status, body)
        self.assertEqual(status, 200, parsed.get("Error"))
        self.assertEqual(parsed["Regions"][0]["RegionName"], "eucalyptus")

    def assertRefused(self, status, body, expectedStatus, expectedCode):
        error = helpers.parseAnswer("DescribeRegions", status, body)["Error"]
        self.assertEqual((status, error["Code"]), (expectedStatus, expectedCode),
                         error.get("Message"))


class SignatureV4Tests(AuthTestCase):

    def test_headerAccepted(self):
        """A V4 Authorization header from botocore is accepted."""
        url, headers, body = helpers.signV4(self.keys, self.params)
        self.assertAccepted(*self.ec2.send(url, headers, body))

    def test_anyRegion(self):
        """Any region in the credential scope is accepted (the service must be ec2)."""
        url, headers, body = helpers.signV4(self.keys, self.params, region="us-east-1")
        self.assertAccepted(*self.ec2.send(url, headers, body))

    def test_rootPath(self):
        """Requests posted to / are served and verified against that path."""
        url, headers, body = helpers.signV4(self.keys, self.params,
                                            url="http://cloud.example:8773/")
        self.assertAccepted(*self.ec2.send(url, headers, body))

    def test_getQuery(self):
        """A V4-signed GET with the parameters in the query string is accepted."""
        url, headers, body = helpers.signV4(self.keys, self.params, method="GET")
        self.assertAccepted(*self.ec2.send(url, headers, body, method="GET"))

    def test_wrongService(self):
        """A scope naming another service is AuthFailure."""
        url, headers, body = helpers.signV4(self.keys, self.params, service="s3")
        self.assertRefused(*self.ec2.send(url, headers, body), 401, "AuthFailure")

    def test_wrongSecret(self):
        """A signature made with another secret is SignatureDoesNotMatch (403)."""
        url, headers, body = helpers.signV4((self.keys[0], "not-the-secret"), self.params)
        self.assertRefused(*self.ec2.send(url, headers, body), 403,
                           "SignatureDoesNotMatch")

    def test_unknownKey(self):
        """An access key nobody has is AuthFailure (401)."""
        url, headers, body = helpers.signV4(("AKIDNOBODYHAS", "x"), self.params)
        self.assertRefused(*self.ec2.send(url, headers, body), 401, "AuthFailure")

    def test_disabledUser(self):
        """A disabled user's key is AuthFailure."""
        def disable(session):
            accounts.findByName(session, "alice").enabled = False
        self.cloud.db.transact(disable)
        url, headers, body = helpers.signV4(self.keys, self.params)
        self.assertRefused(*self.ec2.send(url, headers, body), 401, "AuthFailure")

    def test_tamperedBody(self):
        """Changing a parameter after signing breaks the signature."""
        url, headers, body = helpers.signV4(self.keys, dict(
            self.params, Action="DescribeAvailabilityZones"))
        tampered = body.replace(b"DescribeAvailabilityZones", b"DescribeRegions")
        self.assertRefused(*self.ec2.send(url, headers, tampered), 403,
                           "SignatureDoesNotMatch")

    def test_skewedClock(self):
        """A request signed 20 minutes before the server's time is RequestExpired."""
        url, headers, body = helpers.signV4(self.keys, self.params)
        self.cloud.clock.advance(20 * 60)
        self.assertRefused(*self.ec2.send(url, headers, body), 400, "RequestExpired")

    def test_unsigned(self):
        """A request without any signature is AuthFailure."""
        body = urlencode(self.params).encode()
        self.assertRefused(*self.ec2.send(helpers.ENDPOINT, FORM, body), 401,
                           "AuthFailure")


class PresignedV4Tests(AuthTestCase):

    def test_accepted(self):
        """A presigned V4 URL (X-Amz-Signature in the query) is accepted."""
        url = helpers.presignV4(self.keys, self.params)
        self.assertAccepted(*self.ec2.send(url, method="GET"))

    def test_expired(self):
        """A presigned URL used after X-Amz-Expires is RequestExpired."""
        url = helpers.presignV4(self.keys, self.params, expires=60)
        self.cloud.clock.advance(61)
        self.assertRefused(*self.ec2.send(url, method="GET"), 400, "RequestExpired")

    def test_wrongSecret(self):
        """A presigned URL made with another secret is SignatureDoesNotMatch."""
        url = helpers.presignV4((self.keys[0], "wrong"), self.params)
        self.assertRefused(*self.ec2.send(url, method="GET"), 403,
                           "SignatureDoesNotMatch")

    def test_tamperedQuery(self):
        """Editing a presigned URL's parameters breaks its signature."""
        url = helpers.presignV4(self.keys, dict(self.params, Foo="1"))
        self.assertRefused(*self.ec2.send(url.replace("Foo=1", "Foo=2"), method="GET"),
                           403, "SignatureDoesNotMatch")


class SignatureV2Tests(AuthTestCase):

    def test_hmacSha256Post(self):
        """A V2 HmacSHA256 form POST (botocore's signer) is accepted."""
        url, body = helpers.signV2(self.keys, self.params)
        self.assertAccepted(*self.ec2.send(url, FORM, body))

    def test_hmacSha1Get(self):
        """A V2 HmacSHA1 GET query, as 2009 tools sent it, is accepted."""
        url, _ = helpers.signV2(self.keys, self.params, method="GET",
                                signatureMethod="HmacSHA1")
        self.assertIn("SignatureMethod=HmacSHA1", url)
        self.assertAccepted(*self.ec2.send(url, method="GET"))

    def test_wrongSecret(self):
        """A V2 signature with another secret is SignatureDoesNotMatch."""
        url, body = helpers.signV2((self.keys[0], "wrong"), self.params)
        self.assertRefused(*self.ec2.send(url, FORM, body), 403, "SignatureDoesNotMatch")

    def test_unknownKey(self):
        """A V2 request from an unknown access key is AuthFailure."""
        url, body = helpers.signV2(("NOBODY", "x"), self.params)
        self.assertRefused(*self.ec2.send(url, FORM, body), 401, "AuthFailure")

    def test_skewedTimestamp(self):
        """A Timestamp 20 minutes away from the server's time is RequestExpired."""
        url, body = helpers.signV2(self.keys, self.params)
        self.cloud.clock.advance(20 * 60)
        self.assertRefused(*self.ec2.send(url, FORM, body), 400, "RequestExpired")

    def sendExpiring(self, expires):
        """``(status, body)`` of a V2 POST signed with ``Expires`` instead of Timestamp."""
        import hashlib

        from eucad.common import signing
        params = dict(self.params, AWSAccessKeyId=self.keys[0], SignatureVersion="2",
                      SignatureMethod="HmacSHA256", Expires=expires)
        params["Signature"] = signing.hmacBase64(
            self.keys[1], signing.ec2V2StringToSign(
                "POST", "cloud.example:8773", "/services/Eucalyptus", params),
            hashlib.sha256)
        return self.ec2.send(helpers.ENDPOINT, FORM, urlencode(params).encode())

    def inSeconds(self, seconds):
        """The server clock's time ``seconds`` from now, as an ISO 8601 Expires."""
        import time
        return time.strftime("%Y-%m-%dT%H:%M:%SZ",
                             time.gmtime(self.cloud.clock.seconds() + seconds))

    def test_expiresInThePast(self):
        """A request whose Expires has passed is RequestExpired."""
        self.assertRefused(*self.sendExpiring("2009-01-01T00:00:00Z"), 400,
                           "RequestExpired")

    def test_expiresInTheFuture(self):
        """A request valid until a later Expires is accepted."""
        self.assertAccepted(*self.sendExpiring(self.inSeconds(600)))

    def test_expiresAtTheWindow(self):
        """An Expires at the end of the window (15 minutes, plus clock skew) is accepted."""
        self.assertAccepted(*self.sendExpiring(self.inSeconds(30 * 60 - 60)))

    def test_expiresSixDaysAhead(self):
        """An Expires six days ahead (a URL replayable for days) is RequestExpired."""
        status, body = self.sendExpiring(self.inSeconds(6 * 24 * 3600))
        self.assertRefused(status, body, 400, "RequestExpired")
        self.assertIn(b"at most 15 minutes", body)

    def test_expiresFarInTheFuture(self):
        """An Expires years ahead (replayable forever) is refused as RequestExpired."""
        self.assertRefused(*self.sendExpiring("2099-01-01T00:00:00Z"), 400,
                           "RequestExpired")

    def test_expiresJustBeyondTheWindow(self):
        """An Expires a minute past the window is refused."""
        self.assertRefused(*self.sendExpiring(self.inSeconds(31 * 60)), 400,
                           "RequestExpired")

    def test_signatureVersion1(self):
        """SignatureVersion 1 (case-insensitive, broken) is refused."""
        url, body = helpers.signV2(self.keys, self.params)
        body = body.replace(b"SignatureVersion=2", b"SignatureVersion=1")
        status, answer = self.ec2.send(url, FORM, body)
        self.assertRefused(status, answer, 400, "InvalidParameterValue")
