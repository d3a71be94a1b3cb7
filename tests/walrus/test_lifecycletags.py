"""Lifecycle rules that filter on object tags (Filter/Tag, Filter/And with Tags),
applied by the timer to each object's and each version's own tags."""

import json
import time

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from eucad.walrus.lifecyclerules import parseConfiguration
from eucad.walrus.lifecycleservice import LifecycleService
from tests.walrus.helpers import WalrusHarness
from tests.walrus.live import LiveWalrus, awsCommand
from tests.walrus.test_lifecycle import NS, configuration, md5Header, rule
from tests.walrus.test_tagging import taggingXml
from tests.walrus.test_versioning import VERSIONING_ENABLED

EXPIRE_ONE_DAY = "<Expiration><Days>1</Days></Expiration>"


def tagXml(key, value):
    return "<Tag><Key>%s</Key><Value>%s</Value></Tag>" % (key, value)


class TagFilterConfigurationTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("life")

    def put(self, body):
        return self.walrus.request("PUT", "/life?lifecycle", body=body, headers=md5Header(body))

    def test_roundTrip(self):
        """A single Tag and an And of prefix, tags and size read back as they were written."""
        body = configuration(
            rule(EXPIRE_ONE_DAY, ruleId="one",
                 filterXml="<Filter>%s</Filter>" % tagXml("class", "temp")),
            rule(EXPIRE_ONE_DAY, ruleId="and",
                 filterXml="<Filter><And><Prefix>logs/</Prefix>%s%s<ObjectSizeGreaterThan>5"
                           "</ObjectSizeGreaterThan></And></Filter>"
                           % (tagXml("team", "a b"), tagXml("tier", ""))))
        reply = self.put(body)
        self.assertEqual(reply.code, 200, reply.body)
        got = self.walrus.request("GET", "/life?lifecycle")
        self.assertEqual(got.findall("Rule/Filter/Tag/Key"), ["class"])
        self.assertEqual(got.findall("Rule/Filter/Tag/Value"), ["temp"])
        self.assertEqual(got.findall("Rule/Filter/Prefix"), [])
        self.assertEqual(got.findall("Rule/Filter/And/Prefix"), ["logs/"])
        self.assertEqual(got.findall("Rule/Filter/And/Tag/Key"), ["team", "tier"])
        self.assertEqual(got.findall("Rule/Filter/And/Tag/Value"), ["a b", ""])
        self.assertEqual(got.findall("Rule/Filter/And/ObjectSizeGreaterThan"), ["5"])

    def test_refusals(self):
        """Duplicate keys, tags with marker removal or upload aborts, malformed tags are refused."""
        twoTags = "<Filter><And>%s%s</And></Filter>" % (tagXml("k", "1"), tagXml("k", "2"))
        single = "<Filter>%s</Filter>" % tagXml("k", "1")
        cases = [
            (rule(EXPIRE_ONE_DAY, filterXml=twoTags), 400, "InvalidRequest"),
            (rule("<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>"
                  "</Expiration>", filterXml=single), 400, "InvalidRequest"),
            (rule("<AbortIncompleteMultipartUpload><DaysAfterInitiation>1"
                  "</DaysAfterInitiation></AbortIncompleteMultipartUpload>", filterXml=single),
             400, "InvalidRequest"),
            (rule(EXPIRE_ONE_DAY, filterXml="<Filter><Tag><Key>k</Key></Tag></Filter>"),
             400, "MalformedXML"),
            (rule(EXPIRE_ONE_DAY, filterXml="<Filter>%s%s</Filter>"
                  % (tagXml("a", "1"), tagXml("b", "2"))), 400, "MalformedXML"),
            (rule(EXPIRE_ONE_DAY, filterXml="<Filter><Prefix>p</Prefix>%s</Filter>"
                  % tagXml("a", "1")), 400, "MalformedXML"),
            (rule(EXPIRE_ONE_DAY, filterXml="<Filter>%s</Filter>" % tagXml("aws:x", "1")),
             400, "InvalidTag"),
        ]
        for xml, status, code in cases:
            reply = self.put(configuration(xml))
            self.assertEqual((reply.code, reply.errorCode()), (status, code), xml)
        self.assertEqual(self.walrus.request("GET", "/life?lifecycle").errorCode(),
                         "NoSuchLifecycleConfiguration")


class TagFilterExpirationTests(unittest.TestCase):
    """The timer's passes with tag filters, time moved by a task.Clock."""

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
        for _ in range(int(days * 24)):
            self.clock.advance(3600)

    def keys(self):
        return self.walrus.request("GET", "/life?list-type=2").findall("Contents/Key")

    def test_singleTagExpiresOnlyTaggedObjects(self):
        """Filter/Tag expires the objects with that tag and value; a retag before it is due spares one."""
        self.configure(rule(EXPIRE_ONE_DAY, filterXml="<Filter>%s</Filter>"
                            % tagXml("class", "temp")))
        self.walrus.put("life", "temp1", b"x", headers={"x-amz-tagging": "class=temp"})
        self.walrus.put("life", "temp2", b"x", headers={"x-amz-tagging": "class=temp&o=1"})
        self.walrus.put("life", "kept", b"x", headers={"x-amz-tagging": "class=keep"})
        self.walrus.put("life", "untagged", b"x")
        self.walrus.put("life", "retagged", b"x", headers={"x-amz-tagging": "class=temp"})
        reply = self.walrus.request("PUT", "/life/retagged?tagging",
                                    body=taggingXml([("class", "archive")]))
        self.assertEqual(reply.code, 200)
        self.advanceDays(3)
        self.assertEqual(self.keys(), ["kept", "retagged", "untagged"])
        self.assertEqual(self.walrus.storedBodies(), 3)

    def test_andNeedsEveryTagAndThePrefix(self):
        """Filter/And applies only where the prefix, every tag and the size all hold."""
        self.configure(rule(EXPIRE_ONE_DAY, filterXml=(
            "<Filter><And><Prefix>logs/</Prefix>%s%s<ObjectSizeLessThan>100"
            "</ObjectSizeLessThan></And></Filter>" % (tagXml("team", "a"), tagXml("tmp", "1")))))
        both = {"x-amz-tagging": "team=a&tmp=1"}
        self.walrus.put("life", "logs/both", b"x", headers=both)
        self.walrus.put("life", "logs/big", b"x" * 200, headers=both)
        self.walrus.put("life", "logs/one", b"x", headers={"x-amz-tagging": "team=a"})
        self.walrus.put("life", "other/both", b"x", headers=both)
        self.advanceDays(3)
        self.assertEqual(self.keys(), ["logs/big", "logs/one", "other/both"])

    def test_noncurrentVersionsByTheirOwnTags(self):
        """NoncurrentVersionExpiration with a tag filter takes the versions whose own tags match."""
        self.walrus.request("PUT", "/life?versioning", body=VERSIONING_ENABLED)
        self.configure(rule("<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
                            "</NoncurrentVersionExpiration>",
                            filterXml="<Filter>%s</Filter>" % tagXml("drop", "yes")))
        dropped = self.walrus.put("life", "k", b"1", headers={"x-amz-tagging": "drop=yes"}) \
            .header("x-amz-version-id")
        kept = self.walrus.put("life", "k", b"2").header("x-amz-version-id")
        tagged = self.walrus.put("life", "k", b"3").header("x-amz-version-id")
        # Tag a noncurrent version by its id: it becomes due as well.
        reply = self.walrus.request("PUT", "/life/k?tagging&versionId=" + tagged,
                                    body=taggingXml([("drop", "yes")]))
        self.assertEqual(reply.code, 200, reply.body)
        current = self.walrus.put("life", "k", b"4", headers={"x-amz-tagging": "drop=yes"}) \
            .header("x-amz-version-id")
        self.walrus.request("DELETE", "/life/gone")
        self.advanceDays(3)
        reply = self.walrus.request("GET", "/life?versions")
        listed = [(e.tag.replace(NS, ""), e.findtext(NS + "Key"), e.findtext(NS + "VersionId"))
                  for e in reply.xml() if e.tag.replace(NS, "") in ("Version", "DeleteMarker")]
        self.assertEqual([(kind, version) for kind, key, version in listed if key == "k"],
                         [("Version", current), ("Version", kept)])
        self.assertNotIn(dropped, [version for _, _, version in listed])
        # A delete marker has no tags: the tag rule leaves the lone marker alone.
        self.assertEqual([(kind, key) for kind, key, _ in listed if key == "gone"],
                         [("DeleteMarker", "gone")])

    def test_nonMatchingObjectsDoNotHideLaterOnes(self):
        """With few candidates per pass, objects that do not match never starve later ones."""
        rules = parseConfiguration(configuration(rule(
            EXPIRE_ONE_DAY, filterXml="<Filter>%s</Filter>" % tagXml("x", "1"))))
        for index in range(5):
            self.walrus.put("life", "a%d" % index, b"x")
        self.walrus.put("life", "z", b"x", headers={"x-amz-tagging": "x=1"})
        store = self.walrus.walrus.store
        counts = self.successResultOf(store.expireBucket("life", rules,
                                                         time.time() + 3 * 86400, limit=2))
        self.assertEqual(counts, {"expired": 1})
        self.assertNotIn("z", self.keys())

    def test_noncurrentKeysNotDueDoNotHideLaterKeys(self):
        """Keys whose noncurrent versions are not due never hide later keys' from a pass."""
        self.walrus.request("PUT", "/life?versioning", body=VERSIONING_ENABLED)
        rules = parseConfiguration(configuration(rule(
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
            "</NoncurrentVersionExpiration>", filterXml="<Filter>%s</Filter>"
            % tagXml("x", "1"))))
        for index in range(4):
            self.walrus.put("life", "a%d" % index, b"old")
            self.walrus.put("life", "a%d" % index, b"new")
        self.walrus.put("life", "z", b"old", headers={"x-amz-tagging": "x=1"})
        self.walrus.put("life", "z", b"new")
        store = self.walrus.walrus.store
        counts = self.successResultOf(store.expireBucket("life", rules,
                                                         time.time() + 3 * 86400, limit=2))
        self.assertEqual(counts, {"noncurrent": 1})


    def test_sizeFilteredNoncurrentKeysDoNotHideLaterKeys(self):
        """The same holds without tags: noncurrent versions too small for the rule never block."""
        self.walrus.request("PUT", "/life?versioning", body=VERSIONING_ENABLED)
        rules = parseConfiguration(configuration(rule(
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
            "</NoncurrentVersionExpiration>", filterXml="<Filter><ObjectSizeGreaterThan>10"
            "</ObjectSizeGreaterThan></Filter>")))
        for index in range(4):
            self.walrus.put("life", "a%d" % index, b"old")
            self.walrus.put("life", "a%d" % index, b"new")
        self.walrus.put("life", "z", b"old" * 10)
        self.walrus.put("life", "z", b"new")
        store = self.walrus.walrus.store
        counts = self.successResultOf(store.expireBucket("life", rules,
                                                         time.time() + 3 * 86400, limit=2))
        self.assertEqual(counts, {"noncurrent": 1})


class LiveTagFilterTests(unittest.TestCase):
    """Tag-filtered lifecycle rules through boto3 and awscli against a listening Walrus."""

    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()
        self.service = LifecycleService(self.live.walrus.store, 0.2)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    @defer.inlineCallbacks
    def test_boto3(self):
        """boto3: a dated rule with Filter.And(Prefix, Tags) expires only the tagged objects."""
        def scenario():
            s3 = self.live.s3Client()
            s3.create_bucket(Bucket="lifetags")
            s3.put_object(Bucket="lifetags", Key="tmp/a", Body=b"x", Tagging="stage=scratch")
            s3.put_object(Bucket="lifetags", Key="tmp/b", Body=b"x", Tagging="stage=final")
            s3.put_object(Bucket="lifetags", Key="keep/c", Body=b"x", Tagging="stage=scratch")
            s3.put_bucket_lifecycle_configuration(Bucket="lifetags", LifecycleConfiguration={
                "Rules": [{"ID": "scratch", "Status": "Enabled",
                           "Filter": {"And": {"Prefix": "tmp/", "Tags": [
                               {"Key": "stage", "Value": "scratch"}]}},
                           "Expiration": {"Date": "2020-01-01T00:00:00Z"}}]})
            got = s3.get_bucket_lifecycle_configuration(Bucket="lifetags")["Rules"]
            deadline = time.time() + 30
            while time.time() < deadline:
                keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lifetags")
                        .get("Contents", [])]
                if keys == ["keep/c", "tmp/b"]:
                    break
                time.sleep(0.2)
            return got, keys
        got, keys = yield self.live.inThread(scenario)
        self.assertEqual(got[0]["Filter"], {"And": {"Prefix": "tmp/", "Tags": [
            {"Key": "stage", "Value": "scratch"}]}})
        self.assertEqual(keys, ["keep/c", "tmp/b"])

    @defer.inlineCallbacks
    def test_awscli(self):
        """awscli: a Filter.Tag rule round-trips and expires the tagged object only."""
        aws = awsCommand() + ["--endpoint-url", self.live.endpoint, "--output", "json",
                              "s3api"]
        yield self.live.run(aws + ["create-bucket", "--bucket", "lifetagcli"])
        with open(self.live.path("body"), "wb") as f:
            f.write(b"cli")
        for key, tags in (("a", "purge=1"), ("b", "purge=0")):
            yield self.live.run(aws + ["put-object", "--bucket", "lifetagcli", "--key", key,
                                       "--body", self.live.path("body"), "--tagging", tags])
        rules = {"Rules": [{"ID": "purge", "Status": "Enabled",
                            "Filter": {"Tag": {"Key": "purge", "Value": "1"}},
                            "Expiration": {"Date": "2021-06-01T00:00:00Z"}}]}
        with open(self.live.path("rules.json"), "w") as f:
            json.dump(rules, f)
        yield self.live.run(aws + ["put-bucket-lifecycle-configuration", "--bucket",
                                   "lifetagcli", "--lifecycle-configuration",
                                   "file://" + self.live.path("rules.json")])
        got = yield self.live.run(aws + ["get-bucket-lifecycle-configuration", "--bucket",
                                         "lifetagcli"])
        self.assertEqual(json.loads(got.stdout)["Rules"][0]["Filter"],
                         {"Tag": {"Key": "purge", "Value": "1"}})
        for _ in range(100):
            listed = yield self.live.run(aws + ["list-objects-v2", "--bucket", "lifetagcli"])
            keys = [o["Key"] for o in json.loads(listed.stdout or b"{}").get("Contents", [])]
            if keys == ["b"]:
                break
            yield task.deferLater(reactor, 0.2, lambda: None)
        self.assertEqual(keys, ["b"])
