"""Lifecycle: configurations through the API, and expirations Walrus runs on its timer."""

import base64
import hashlib
import json
import time

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from eucad.walrus.lifecyclerules import DAY, agedCutoff, midnightBefore
from eucad.walrus.lifecycleservice import LifecycleService
from tests.walrus.helpers import WalrusHarness
from tests.walrus.live import LiveWalrus, awsCommand
from tests.walrus.test_versioning import VERSIONING_ENABLED

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def configuration(*rules):
    return ("<LifecycleConfiguration>%s</LifecycleConfiguration>" % "".join(rules)).encode()


def rule(actions, prefix="", ruleId="", status="Enabled", filterXml=None):
    where = filterXml if filterXml is not None else "<Filter><Prefix>%s</Prefix></Filter>" % prefix
    return "<Rule>%s%s<Status>%s</Status>%s</Rule>" % (
        "<ID>%s</ID>" % ruleId if ruleId else "", where, status, actions)


def md5Header(body):
    return {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


class MidnightTests(unittest.TestCase):
    def test_agedCutoffCountsToTheNextMidnight(self):
        """A thing made at 23:00 is one day old at the second midnight after, not the first."""
        made = 10 * DAY + 23 * 3600
        self.assertEqual(midnightBefore(made), 10 * DAY)
        self.assertFalse(made <= agedCutoff(11 * DAY + 1, 1))
        self.assertTrue(made <= agedCutoff(12 * DAY, 1))


class LifecycleConfigurationTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("life")

    def put(self, body, keys="alice", headers=None):
        return self.walrus.request("PUT", "/life?lifecycle", body=body, keys=keys,
                                   headers=md5Header(body) if headers is None else headers)

    def test_roundTrip(self):
        """A configuration put reads back with the same rules; deleted, it is NoSuchLifecycleConfiguration."""
        self.assertEqual(self.walrus.request("GET", "/life?lifecycle").errorCode(),
                         "NoSuchLifecycleConfiguration")
        body = configuration(
            rule("<Expiration><Days>30</Days></Expiration>", "logs/", "logs"),
            rule("<NoncurrentVersionExpiration><NoncurrentDays>7</NoncurrentDays>"
                 "<NewerNoncurrentVersions>2</NewerNoncurrentVersions>"
                 "</NoncurrentVersionExpiration>"
                 "<AbortIncompleteMultipartUpload><DaysAfterInitiation>3"
                 "</DaysAfterInitiation></AbortIncompleteMultipartUpload>", ruleId="old",
                 status="Disabled"),
            rule("<Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration>", ruleId="dated",
                 filterXml="<Filter><And><Prefix>tmp/</Prefix><ObjectSizeGreaterThan>10"
                           "</ObjectSizeGreaterThan></And></Filter>"),
            rule("<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>"
                 "</Expiration>", ruleId="markers", filterXml="<Prefix></Prefix>"))
        reply = self.put(body)
        self.assertEqual(reply.code, 200, reply.body)
        reply = self.walrus.request("GET", "/life?lifecycle")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.findall("Rule/ID"), ["logs", "old", "dated", "markers"])
        self.assertEqual(reply.findall("Rule/Status"), ["Enabled", "Disabled", "Enabled",
                                                        "Enabled"])
        self.assertEqual(reply.findall("Rule/Filter/Prefix"), ["logs/", ""])
        self.assertEqual(reply.findall("Rule/Expiration/Days"), ["30"])
        self.assertEqual(reply.findall("Rule/Expiration/Date"), ["2030-01-01T00:00:00.000Z"])
        self.assertEqual(reply.findall("Rule/Filter/And/ObjectSizeGreaterThan"), ["10"])
        self.assertEqual(reply.findall("Rule/Prefix"), [""])
        self.assertEqual(reply.findall("Rule/NoncurrentVersionExpiration/NoncurrentDays"),
                         ["7"])
        self.assertEqual(reply.findall(
            "Rule/AbortIncompleteMultipartUpload/DaysAfterInitiation"), ["3"])
        self.assertEqual(self.walrus.request("DELETE", "/life?lifecycle").code, 204)
        self.assertEqual(self.walrus.request("GET", "/life?lifecycle").errorCode(),
                         "NoSuchLifecycleConfiguration")

    def test_badConfigurationsRefused(self):
        """Bad rules get S3's errors; transitions are NotImplemented."""
        expire = "<Expiration><Days>1</Days></Expiration>"
        cases = [
            (configuration(rule("<Transition><Days>1</Days><StorageClass>GLACIER"
                                "</StorageClass></Transition>")), 501, "NotImplemented"),
            (configuration(rule("<Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration>")),
             400, "InvalidArgument"),
            (configuration(rule("<Expiration><Days>0</Days></Expiration>")), 400,
             "InvalidArgument"),
            (configuration(rule("<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date>"
                                "</Expiration>")), 400, "MalformedXML"),
            (configuration(rule(expire, ruleId="same"), rule(expire, ruleId="same")), 400,
             "InvalidArgument"),
            (configuration(rule("")), 400, "InvalidArgument"),
            (configuration(rule(expire, status="On")), 400, "MalformedXML"),
            (configuration(), 400, "MalformedXML"),
            (b"<LifecycleConfiguration><Rule>", 400, "MalformedXML"),
        ]
        for body, status, code in cases:
            reply = self.put(body)
            self.assertEqual((reply.code, reply.errorCode()), (status, code), body)
        body = configuration(rule(expire))
        reply = self.put(body, headers={})
        self.assertEqual((reply.code, reply.errorCode()), (400, "InvalidRequest"))
        reply = self.put(body, keys="bob")
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))
        self.assertEqual(self.walrus.request("GET", "/life?lifecycle").errorCode(),
                         "NoSuchLifecycleConfiguration")


class ExpirationTests(unittest.TestCase):
    """The timer's passes, with time moved by a task.Clock instead of waited for."""

    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("life")
        self.clock = task.Clock()
        self.clock.advance(time.time())
        self.service = LifecycleService(self.walrus.walrus.store, 3600, self.clock)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def configure(self, *rules):
        body = configuration(*rules)
        reply = self.walrus.request("PUT", "/life?lifecycle", body=body, headers=md5Header(body))
        self.assertEqual(reply.code, 200, reply.body)

    def advanceDays(self, days):
        """Move the service's clock ``days`` on, one timer tick at a time."""
        for _ in range(int(days * 24)):
            self.clock.advance(3600)

    def keys(self):
        return self.walrus.request("GET", "/life?list-type=2").findall("Contents/Key")

    def versions(self):
        reply = self.walrus.request("GET", "/life?versions")
        return [(e.tag.replace(NS, ""), e.findtext(NS + "Key"), e.findtext(NS + "VersionId"))
                for e in reply.xml() if e.tag.replace(NS, "") in ("Version", "DeleteMarker")]

    def test_expirationDaysInAnUnversionedBucket(self):
        """Objects under the rule's prefix are deleted, data and all, once Days have passed."""
        self.configure(rule("<Expiration><Days>2</Days></Expiration>", "logs/"))
        for key in ("logs/a", "logs/b", "keep/c", "logsx"):
            self.walrus.put("life", key, b"data " + key.encode())
        self.advanceDays(1)
        self.assertEqual(self.keys(), ["keep/c", "logs/a", "logs/b", "logsx"])
        self.advanceDays(2)
        self.assertEqual(self.keys(), ["keep/c", "logsx"])
        self.assertEqual(self.walrus.storedBodies(), 2)
        self.assertGreater(self.service.passes, 24)

    def test_disabledRulesAndSizeFilters(self):
        """A disabled rule does nothing; size filters pick objects by their size."""
        self.configure(
            rule("<Expiration><Days>1</Days></Expiration>", status="Disabled", ruleId="off"),
            rule("<Expiration><Days>1</Days></Expiration>", ruleId="big",
                 filterXml="<Filter><ObjectSizeGreaterThan>100</ObjectSizeGreaterThan>"
                           "</Filter>"))
        self.walrus.put("life", "small", b"x" * 10)
        self.walrus.put("life", "big", b"x" * 1000)
        self.advanceDays(3)
        self.assertEqual(self.keys(), ["small"])

    def test_expirationDate(self):
        """A rule with a past Date expires its objects at the next pass; a future one waits for it."""
        # The first midnight after the pass below, whatever the hour the
        # test starts at (from 23:00 UTC the next midnight comes before it).
        tomorrow = midnightBefore(self.clock.seconds() + 3600) + DAY
        date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(tomorrow))
        self.configure(rule("<Expiration><Date>2020-01-01T00:00:00Z</Date></Expiration>", "old/"),
                       rule("<Expiration><Date>%s</Date></Expiration>" % date, "new/"))
        self.walrus.put("life", "old/1", b"1")
        self.walrus.put("life", "new/1", b"1")
        self.clock.advance(3600)
        self.assertEqual(self.keys(), ["new/1"])
        self.advanceDays(1)
        self.assertEqual(self.keys(), [])

    def test_versionedExpirationAndNoncurrentVersions(self):
        """In a versioned bucket: current versions get delete markers, noncurrent ones go after NoncurrentDays, lone markers go."""
        self.assertEqual(self.walrus.request("PUT", "/life?versioning",
                                             body=VERSIONING_ENABLED).code, 200)
        self.configure(rule("<Expiration><Days>5</Days></Expiration>"
                            "<NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays>"
                            "</NoncurrentVersionExpiration>"))
        first = self.walrus.put("life", "k", b"one").header("x-amz-version-id")
        second = self.walrus.put("life", "k", b"two").header("x-amz-version-id")
        self.advanceDays(1)
        self.assertEqual(self.versions(), [("Version", "k", second), ("Version", "k", first)])
        # Two days after it became noncurrent, the first version goes.
        self.advanceDays(2)
        self.assertEqual(self.versions(), [("Version", "k", second)])
        self.assertEqual(self.walrus.storedBodies(), 1)
        # Five days after it was made, the current version gets a delete marker...
        self.advanceDays(3)
        entries = self.versions()
        self.assertEqual([e[:2] for e in entries], [("DeleteMarker", "k"), ("Version", "k")])
        self.assertEqual(self.walrus.get("life", "k").code, 404)
        # ...becomes noncurrent and goes in turn, and then the lone marker goes too.
        self.advanceDays(6)
        self.assertEqual(self.versions(), [])
        self.assertEqual(self.walrus.storedBodies(), 0)

    def test_newerNoncurrentVersionsAreKept(self):
        """NewerNoncurrentVersions keeps that many of the newest noncurrent versions."""
        self.walrus.request("PUT", "/life?versioning", body=VERSIONING_ENABLED)
        self.configure(rule("<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
                            "<NewerNoncurrentVersions>1</NewerNoncurrentVersions>"
                            "</NoncurrentVersionExpiration>"))
        ids = [self.walrus.put("life", "k", data).header("x-amz-version-id")
               for data in (b"1", b"2", b"3", b"4")]
        self.advanceDays(3)
        self.assertEqual([e[2] for e in self.versions()], [ids[3], ids[2]])

    def test_expiredObjectDeleteMarker(self):
        """ExpiredObjectDeleteMarker removes a delete marker only once no other version is left."""
        self.walrus.request("PUT", "/life?versioning", body=VERSIONING_ENABLED)
        self.configure(rule("<Expiration><ExpiredObjectDeleteMarker>true"
                            "</ExpiredObjectDeleteMarker></Expiration>", ruleId="markers"))
        versionId = self.walrus.put("life", "k", b"x").header("x-amz-version-id")
        self.walrus.request("DELETE", "/life/k")
        self.walrus.request("DELETE", "/life/gone")
        self.clock.advance(3600)
        self.assertEqual([e[:2] for e in self.versions()],
                         [("DeleteMarker", "k"), ("Version", "k")])
        self.walrus.request("DELETE", "/life/k?versionId=" + versionId)
        self.clock.advance(3600)
        self.assertEqual(self.versions(), [])

    def test_abortIncompleteUploads(self):
        """Uploads older than DaysAfterInitiation are aborted, their parts' data removed."""
        self.configure(rule("<AbortIncompleteMultipartUpload><DaysAfterInitiation>1"
                            "</DaysAfterInitiation></AbortIncompleteMultipartUpload>", "up/"))
        uploads = {}
        for key in ("up/a", "other/b"):
            uploadId = self.walrus.request("POST", "/life/%s?uploads" % key).findall("UploadId")[0]
            self.walrus.request("PUT", "/life/%s?partNumber=1&uploadId=%s" % (key, uploadId),
                                body=b"part")
            uploads[key] = uploadId
        self.advanceDays(3)
        listed = self.walrus.request("GET", "/life?uploads").findall("Upload/Key")
        self.assertEqual(listed, ["other/b"])
        reply = self.walrus.request("GET", "/life/up/a?uploadId=" + uploads["up/a"])
        self.assertEqual(reply.errorCode(), "NoSuchUpload")
        self.assertEqual(self.walrus.storedBodies(), 1)

    def test_deletedConfigurationStopsExpiring(self):
        """Once the configuration is deleted nothing more expires; a new bucket of the same name starts clean."""
        self.configure(rule("<Expiration><Days>1</Days></Expiration>"))
        self.walrus.put("life", "k", b"x")
        self.walrus.request("DELETE", "/life?lifecycle")
        self.advanceDays(3)
        self.assertEqual(self.keys(), ["k"])
        self.configure(rule("<Expiration><Days>1</Days></Expiration>"))
        self.walrus.request("DELETE", "/life/k")
        self.assertEqual(self.walrus.request("DELETE", "/life").code, 204)
        self.walrus.createBucket("life")
        self.assertEqual(self.walrus.request("GET", "/life?lifecycle").errorCode(),
                         "NoSuchLifecycleConfiguration")


class LifecycleClientTests(unittest.TestCase):
    """Lifecycle through boto3 and awscli against a listening Walrus whose timer runs."""

    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()
        self.service = LifecycleService(self.live.walrus.store, 0.2)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def waitUntil(self, check):
        """Poll ``check()`` (in a thread) until it is true, at most 30 s."""
        deadline = time.time() + 30
        while time.time() < deadline:
            if check():
                return True
            time.sleep(0.2)
        return False

    @defer.inlineCallbacks
    def test_boto3(self):
        """boto3: put/get/delete the configuration; a dated rule expires objects under its prefix."""
        from botocore.exceptions import ClientError
        s3 = self.live.s3Client()

        def scenario():
            s3.create_bucket(Bucket="lifeb")
            for key in ("tmp/1", "tmp/2", "keep"):
                s3.put_object(Bucket="lifeb", Key=key, Body=b"x")
            s3.put_bucket_lifecycle_configuration(Bucket="lifeb", LifecycleConfiguration={
                "Rules": [{"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
                           "Expiration": {"Date": "2020-01-01T00:00:00Z"},
                           "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]})
            got = s3.get_bucket_lifecycle_configuration(Bucket="lifeb")["Rules"]
            gone = self.waitUntil(lambda: [o["Key"] for o in s3.list_objects_v2(
                Bucket="lifeb").get("Contents", [])] == ["keep"])
            s3.delete_bucket_lifecycle(Bucket="lifeb")
            try:
                s3.get_bucket_lifecycle_configuration(Bucket="lifeb")
                after = "still there"
            except ClientError as e:
                after = e.response["Error"]["Code"]
            return got, gone, after
        got, gone, after = yield self.live.inThread(scenario)
        self.assertEqual(got[0]["ID"], "tmp")
        self.assertEqual(got[0]["Filter"], {"Prefix": "tmp/"})
        self.assertEqual(got[0]["AbortIncompleteMultipartUpload"], {"DaysAfterInitiation": 7})
        self.assertTrue(gone)
        self.assertEqual(after, "NoSuchLifecycleConfiguration")

    @defer.inlineCallbacks
    def test_awscli(self):
        """awscli s3api put-bucket-lifecycle-configuration: a versioned bucket's current versions get delete markers."""
        aws = awsCommand() + ["--endpoint-url", self.live.endpoint, "--output", "json"]
        yield self.live.run(aws + ["s3api", "create-bucket", "--bucket", "lifec"])
        yield self.live.run(aws + ["s3api", "put-bucket-versioning", "--bucket", "lifec",
                                   "--versioning-configuration", "Status=Enabled"])
        with open(self.live.path("body"), "wb") as f:
            f.write(b"cli body")
        put = yield self.live.run(aws + ["s3api", "put-object", "--bucket", "lifec", "--key",
                                         "logs/k", "--body", self.live.path("body")])
        versionId = json.loads(put.stdout)["VersionId"]
        rules = {"Rules": [{"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
                            "Expiration": {"Date": "2021-06-01T00:00:00Z"}}]}
        with open(self.live.path("rules.json"), "w") as f:
            json.dump(rules, f)
        yield self.live.run(aws + ["s3api", "put-bucket-lifecycle-configuration", "--bucket",
                                   "lifec", "--lifecycle-configuration",
                                   "file://" + self.live.path("rules.json")])
        got = yield self.live.run(aws + ["s3api", "get-bucket-lifecycle-configuration",
                                         "--bucket", "lifec"])
        self.assertEqual(json.loads(got.stdout)["Rules"][0]["Expiration"]["Date"][:10],
                         "2021-06-01")

        for _ in range(100):
            listed = yield self.live.run(aws + ["s3api", "list-object-versions", "--bucket",
                                                "lifec"])
            listing = json.loads(listed.stdout or b"{}")
            if listing.get("DeleteMarkers"):
                break
            yield task.deferLater(reactor, 0.2, lambda: None)
        self.assertEqual([m["Key"] for m in listing["DeleteMarkers"]], ["logs/k"])
        self.assertEqual([v["VersionId"] for v in listing["Versions"]], [versionId])


class LifecycleServiceTests(unittest.TestCase):
    def test_stopWaitsForThePassInFlight(self):
        """stopService's Deferred fires only once a running pass has finished."""
        started = defer.Deferred()

        class SlowStore:
            def lifecycleBuckets(self):
                return started

        clock = task.Clock()
        service = LifecycleService(SlowStore(), 10, clock)
        service.startService()
        clock.advance(10)
        stopped = service.stopService()
        self.assertNoResult(stopped)
        started.callback([])
        self.successResultOf(stopped)
        self.assertEqual(service.passes, 1)

    def test_aFailedPassIsLoggedAndTheNextRuns(self):
        """A pass that fails is logged, and the timer runs the next one."""
        class BrokenStore:
            calls = 0

            def lifecycleBuckets(self):
                self.calls += 1
                return defer.fail(RuntimeError("database gone"))

        store = BrokenStore()
        clock = task.Clock()
        service = LifecycleService(store, 10, clock)
        service.startService()
        self.addCleanup(service.stopService)
        clock.advance(10)
        clock.advance(10)
        self.assertEqual(store.calls, 2)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)
