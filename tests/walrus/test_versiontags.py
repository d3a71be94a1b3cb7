"""PutObjectTagging and DeleteObjectTagging of one version by its id."""

from twisted.internet import defer
from twisted.trial import unittest

from tests.walrus.helpers import WalrusHarness
from tests.walrus.live import LiveWalrus, awsCommand
from tests.walrus.test_tagging import taggingXml
from tests.walrus.test_versioning import VERSIONING_ENABLED


class VersionTaggingTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("ver")
        self.walrus.request("PUT", "/ver?versioning", body=VERSIONING_ENABLED)
        self.first = self.walrus.put("ver", "k", b"one", headers={"x-amz-tagging": "v=1"}) \
            .header("x-amz-version-id")
        self.second = self.walrus.put("ver", "k", b"two", headers={"x-amz-tagging": "v=2"}) \
            .header("x-amz-version-id")

    def tagsOf(self, versionId=None):
        path = "/ver/k?tagging" + ("&versionId=" + versionId if versionId else "")
        reply = self.walrus.request("GET", path)
        self.assertEqual(reply.code, 200, reply.body)
        return list(zip(reply.findall("TagSet/Tag/Key"), reply.findall("TagSet/Tag/Value")))

    def test_putTagsOfANoncurrentVersion(self):
        """A noncurrent version's tags change by id; the current version's stay as they were."""
        reply = self.walrus.request("PUT", "/ver/k?tagging&versionId=" + self.first,
                                    body=taggingXml([("team", "old")]))
        self.assertEqual((reply.code, reply.header("x-amz-version-id")), (200, self.first))
        self.assertEqual(self.tagsOf(self.first), [("team", "old")])
        self.assertEqual(self.tagsOf(), [("v", "2")])
        self.assertEqual(self.walrus.request("HEAD", "/ver/k?versionId=" + self.first)
                         .header("x-amz-tagging-count"), "1")

    def test_putTagsOfTheCurrentVersionById(self):
        """The current version named by its id is the key's current tag set."""
        reply = self.walrus.request("PUT", "/ver/k?tagging&versionId=" + self.second,
                                    body=taggingXml([("a", "1"), ("b", "2")]))
        self.assertEqual((reply.code, reply.header("x-amz-version-id")), (200, self.second))
        self.assertEqual(self.tagsOf(), [("a", "1"), ("b", "2")])
        self.assertEqual(self.tagsOf(self.first), [("v", "1")])

    def test_deleteTagsOfOneVersion(self):
        """DeleteObjectTagging with versionId empties that version's tags only (204)."""
        reply = self.walrus.request("DELETE", "/ver/k?tagging&versionId=" + self.first)
        self.assertEqual((reply.code, reply.header("x-amz-version-id")), (204, self.first))
        self.assertEqual(self.tagsOf(self.first), [])
        self.assertEqual(self.tagsOf(), [("v", "2")])

    def test_putWithoutIdAnswersTheCurrentVersion(self):
        """Put/Delete/GetObjectTagging without an id in a versioned bucket answer the current version's id."""
        reply = self.walrus.request("PUT", "/ver/k?tagging", body=taggingXml([("x", "y")]))
        self.assertEqual((reply.code, reply.header("x-amz-version-id")), (200, self.second))
        reply = self.walrus.request("DELETE", "/ver/k?tagging")
        self.assertEqual((reply.code, reply.header("x-amz-version-id")), (204, self.second))
        reply = self.walrus.request("GET", "/ver/k?tagging")
        self.assertEqual((reply.code, reply.header("x-amz-version-id")), (200, self.second))

    def test_unknownVersionsMarkersAndStrangers(self):
        """An unknown id is NoSuchVersion, a bad one 400, a marker 405, another user 403."""
        body = taggingXml([("a", "b")])
        reply = self.walrus.request("PUT", "/ver/k?tagging&versionId=" + "A" * 32, body=body)
        self.assertEqual((reply.code, reply.errorCode()), (404, "NoSuchVersion"))
        reply = self.walrus.request("DELETE", "/ver/k?tagging&versionId=" + "A" * 32)
        self.assertEqual((reply.code, reply.errorCode()), (404, "NoSuchVersion"))
        reply = self.walrus.request("PUT", "/ver/k?tagging&versionId=bad", body=body)
        self.assertEqual((reply.code, reply.errorCode()), (400, "InvalidArgument"))
        marker = self.walrus.request("DELETE", "/ver/k").header("x-amz-version-id")
        reply = self.walrus.request("PUT", "/ver/k?tagging&versionId=" + marker, body=body)
        self.assertEqual((reply.code, reply.errorCode()), (405, "MethodNotAllowed"))
        reply = self.walrus.request("PUT", "/ver/k?tagging&versionId=" + self.first, body=body,
                                    keys="bob")
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))
        self.assertEqual(self.tagsOf(self.first), [("v", "1")])

    def test_unversionedBucketNullVersion(self):
        """In a bucket never versioned the one version is ``null``, and answers no version id."""
        self.walrus.createBucket("plain")
        self.walrus.put("plain", "k", b"x")
        reply = self.walrus.request("PUT", "/plain/k?tagging&versionId=null",
                                    body=taggingXml([("n", "1")]))
        self.assertEqual(reply.code, 200, reply.body)
        reply = self.walrus.request("PUT", "/plain/k?tagging", body=taggingXml([("n", "2")]))
        self.assertEqual((reply.code, reply.header("x-amz-version-id")), (200, None))
        self.assertEqual(self.walrus.request("GET", "/plain/k?tagging")
                         .findall("TagSet/Tag/Value"), ["2"])


class LiveVersionTaggingTests(unittest.TestCase):
    """Tags of versions by id through boto3 and awscli against a listening Walrus."""

    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()

    @defer.inlineCallbacks
    def test_boto3(self):
        """boto3 put/get/delete_object_tagging with VersionId act on that version only."""
        def scenario():
            s3 = self.live.s3Client()
            s3.create_bucket(Bucket="vtags")
            s3.put_bucket_versioning(Bucket="vtags",
                                     VersioningConfiguration={"Status": "Enabled"})
            first = s3.put_object(Bucket="vtags", Key="k", Body=b"1")["VersionId"]
            s3.put_object(Bucket="vtags", Key="k", Body=b"2", Tagging="cur=yes")
            answer = s3.put_object_tagging(Bucket="vtags", Key="k", VersionId=first, Tagging={
                "TagSet": [{"Key": "old", "Value": "true"}]})
            self.assertEqual(answer["VersionId"], first)
            self.assertEqual(s3.get_object_tagging(Bucket="vtags", Key="k", VersionId=first)
                             ["TagSet"], [{"Key": "old", "Value": "true"}])
            self.assertEqual(s3.get_object_tagging(Bucket="vtags", Key="k")["TagSet"],
                             [{"Key": "cur", "Value": "yes"}])
            answer = s3.delete_object_tagging(Bucket="vtags", Key="k", VersionId=first)
            self.assertEqual(answer["VersionId"], first)
            self.assertEqual(s3.get_object_tagging(Bucket="vtags", Key="k", VersionId=first)
                             ["TagSet"], [])
            from botocore.exceptions import ClientError
            with self.assertRaises(ClientError) as raised:
                s3.put_object_tagging(Bucket="vtags", Key="k", VersionId="B" * 32,
                                      Tagging={"TagSet": []})
            self.assertEqual(raised.exception.response["Error"]["Code"], "NoSuchVersion")
        yield self.live.inThread(scenario)

    @defer.inlineCallbacks
    def test_awscli(self):
        """aws s3api put-object-tagging --version-id tags that version; delete empties it."""
        import json
        aws = awsCommand() + ["--endpoint-url", self.live.endpoint, "s3api", "--output", "json"]
        yield self.live.run(aws + ["create-bucket", "--bucket", "cli"])
        yield self.live.run(aws + ["put-bucket-versioning", "--bucket", "cli",
                                   "--versioning-configuration", "Status=Enabled"])
        body = self.live.path("body")
        with open(body, "wb") as f:
            f.write(b"data")
        put = yield self.live.run(aws + ["put-object", "--bucket", "cli", "--key", "k",
                                         "--body", body])
        first = json.loads(put.stdout)["VersionId"]
        yield self.live.run(aws + ["put-object", "--bucket", "cli", "--key", "k", "--body", body])
        yield self.live.run(aws + ["put-object-tagging", "--bucket", "cli", "--key", "k",
                                   "--version-id", first, "--tagging",
                                   "TagSet=[{Key=stage,Value=old}]"])
        got = yield self.live.run(aws + ["get-object-tagging", "--bucket", "cli", "--key", "k",
                                         "--version-id", first])
        self.assertEqual(json.loads(got.stdout)["TagSet"], [{"Key": "stage", "Value": "old"}])
        current = yield self.live.run(aws + ["get-object-tagging", "--bucket", "cli",
                                             "--key", "k"])
        self.assertEqual(json.loads(current.stdout)["TagSet"], [])
        yield self.live.run(aws + ["delete-object-tagging", "--bucket", "cli", "--key", "k",
                                   "--version-id", first])
        got = yield self.live.run(aws + ["get-object-tagging", "--bucket", "cli", "--key", "k",
                                         "--version-id", first])
        self.assertEqual(json.loads(got.stdout)["TagSet"], [])


class VersionIdShapeTests(unittest.TestCase):
    def test_versionIdsNeverLookLikeOptions(self):
        """No version id starts with '-' (awscli's --version-id took one for an option and failed)."""
        from eucad.walrus.versioning import checkVersionId, newVersionId
        made = [newVersionId() for _ in range(5000)]
        self.assertEqual([v for v in made if v.startswith("-")], [])
        self.assertEqual(len(set(made)), len(made))
        for versionId in made[:100]:
            checkVersionId(versionId)
