"""Bucket policies on the tags an object has (s3:ExistingObjectTag/<key>), and on the
tags a form upload sets (s3:RequestObjectTag/<key>, s3:RequestObjectTagKeys)."""

import json

from twisted.internet import defer
from twisted.trial import unittest

from tests.walrus.helpers import WalrusHarness
from tests.walrus.live import LiveWalrus, awsCommand
from tests.walrus.test_policy import document
from tests.walrus.test_post import BOUNDARY, form
from tests.walrus.test_tagging import taggingXml
from tests.walrus.test_versioning import VERSIONING_ENABLED


class ExistingObjectTagTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("tagged")
        self.walrus.put("tagged", "open", b"o", headers={"x-amz-tagging": "class=public"})
        self.walrus.put("tagged", "closed", b"c", headers={"x-amz-tagging": "class=secret"})
        self.walrus.put("tagged", "bare", b"b")
        store = self.walrus.walrus.store
        self.lookups = []
        original = store.existingTags

        def counted(*args):
            self.lookups.append(args)
            return original(*args)
        store.existingTags = counted

    def setPolicy(self, *statements):
        reply = self.walrus.request("PUT", "/tagged?policy", body=document(*statements).encode())
        self.assertEqual(reply.code, 204, reply.body)

    def test_allowReadingByTag(self):
        """An Allow on ExistingObjectTag lets anyone read the objects with that tag, and only those."""
        self.setPolicy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::tagged/*", "Condition": {
                            "StringEquals": {"s3:ExistingObjectTag/class": "public"}}})
        self.assertEqual(self.walrus.get("tagged", "open", keys=None).code, 200)
        self.assertEqual(self.walrus.get("tagged", "closed", keys=None).code, 403)
        self.assertEqual(self.walrus.get("tagged", "bare", keys=None).code, 403)
        self.assertEqual(self.walrus.request("HEAD", "/tagged/open", keys=None).code, 200)
        reply = self.walrus.request("PUT", "/tagged/closed?tagging",
                                    body=taggingXml([("class", "public")]))
        self.assertEqual(reply.code, 200)
        self.assertEqual(self.walrus.get("tagged", "closed", keys=None).code, 200)

    def test_denyBindsTheOwnerByTag(self):
        """A Deny on a tag refuses the owner reading, and retagging, the objects that carry it."""
        self.setPolicy({"Effect": "Deny", "Principal": "*",
                        "Action": ["s3:GetObject", "s3:PutObjectTagging",
                                   "s3:DeleteObjectTagging", "s3:GetObjectAcl"],
                        "Resource": "arn:aws:s3:::tagged/*", "Condition": {
                            "StringEquals": {"s3:ExistingObjectTag/class": "secret"}}})
        self.assertEqual(self.walrus.get("tagged", "closed").code, 403)
        self.assertEqual(self.walrus.request("GET", "/tagged/closed?acl").code, 403)
        reply = self.walrus.request("PUT", "/tagged/closed?tagging",
                                    body=taggingXml([("class", "public")]))
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))
        self.assertEqual(self.walrus.request("DELETE", "/tagged/closed?tagging").code, 403)
        self.assertEqual(self.walrus.get("tagged", "open").code, 200)
        self.assertEqual(self.walrus.get("tagged", "missing").code, 404)

    def test_notEvaluatedForWritingOrDeletingTheObject(self):
        """As in S3, PutObject and DeleteObject do not see the existing tags (the key is absent)."""
        self.setPolicy({"Effect": "Deny", "Principal": "*",
                        "Action": ["s3:PutObject", "s3:DeleteObject"],
                        "Resource": "arn:aws:s3:::tagged/*", "Condition": {
                            "StringEquals": {"s3:ExistingObjectTag/class": "secret"}}})
        self.assertEqual(self.walrus.put("tagged", "closed", b"new").code, 200)
        self.assertEqual(self.walrus.request("DELETE", "/tagged/closed").code, 204)
        self.assertEqual(self.lookups, [])

    def test_versionsByTheirOwnTags(self):
        """A request naming a version is judged by that version's tags."""
        self.walrus.request("PUT", "/tagged?versioning", body=VERSIONING_ENABLED)
        old = self.walrus.put("tagged", "doc", b"v1", headers={"x-amz-tagging": "class=public"}) \
            .header("x-amz-version-id")
        self.walrus.put("tagged", "doc", b"v2")
        self.setPolicy({"Effect": "Allow", "Principal": "*",
                        "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                        "Resource": "arn:aws:s3:::tagged/*", "Condition": {
                            "StringEquals": {"s3:ExistingObjectTag/class": "public"}}})
        reply = self.walrus.request("GET", "/tagged/doc?versionId=" + old, keys=None)
        self.assertEqual((reply.code, reply.body), (200, b"v1"))
        self.assertEqual(self.walrus.get("tagged", "doc", keys=None).code, 403)

    def test_copySourceJudgedByItsTags(self):
        """A copy's source is read under its own tags."""
        self.setPolicy({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::tagged/*", "Condition": {
                            "StringEquals": {"s3:ExistingObjectTag/class": "secret"}}})
        reply = self.walrus.request("PUT", "/tagged/copy1",
                                    headers={"x-amz-copy-source": "/tagged/closed"})
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))
        reply = self.walrus.request("PUT", "/tagged/copy2",
                                    headers={"x-amz-copy-source": "/tagged/open"})
        self.assertEqual(reply.code, 200, reply.body)

    def test_tagsReadOnlyWhenThePolicyAsks(self):
        """Without a condition on existing tags, no request reads an object's tags for the policy."""
        self.setPolicy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::tagged/*"})
        self.assertEqual(self.walrus.get("tagged", "closed", keys=None).code, 200)
        self.assertEqual(self.lookups, [])
        self.setPolicy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::tagged/*", "Condition": {
                            "StringEquals": {"s3:ExistingObjectTag/class": "public"}}})
        self.assertEqual(self.walrus.request("GET", "/tagged", keys="alice").code, 200)
        self.assertEqual(self.lookups, [])
        self.assertEqual(self.walrus.get("tagged", "open", keys=None).code, 200)
        self.assertEqual(len(self.lookups), 1)


class FormRequestTagTests(unittest.TestCase):
    def test_formTagsSeenByThePolicy(self):
        """A form's tagging field is s3:RequestObjectTag/<key> and s3:RequestObjectTagKeys."""
        walrus = WalrusHarness(self)
        walrus.createBucket("drop")
        policy = document({"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
                           "Resource": "arn:aws:s3:::drop/*", "Condition": {
                               "StringEquals": {"s3:RequestObjectTag/team": "a"},
                               "ForAllValues:StringEquals": {
                                   "s3:RequestObjectTagKeys": ["team"]}}})
        self.assertEqual(walrus.request("PUT", "/drop?policy", body=policy.encode()).code, 204)

        def post(key, tags):
            tagging = taggingXml(tags).decode()
            return walrus.request("POST", "/drop", keys=None, body=form(
                [("key", key), ("tagging", tagging)], b"data"),
                headers={"Content-Type": "multipart/form-data; boundary=" + BOUNDARY})
        self.assertEqual(post("good", [("team", "a")]).code, 204)
        self.assertEqual(post("wrongvalue", [("team", "b")]).code, 403)
        self.assertEqual(post("extrakey", [("team", "a"), ("other", "x")]).code, 403)
        self.assertEqual(post("untagged", []).code, 403)
        stored = self.successResultOf(walrus.walrus.store.existingTags("drop", "good"))
        self.assertEqual(stored, {"team": "a"})


class TaggingRequestTagTests(unittest.TestCase):
    """PutObjectTagging's tags come in its body: the policy sees them as s3:RequestObjectTag."""

    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("labels")
        self.walrus.request("PUT", "/labels?versioning", body=VERSIONING_ENABLED)
        self.first = self.walrus.put("labels", "k", b"1").header("x-amz-version-id")
        self.walrus.put("labels", "k", b"2", headers={"x-amz-tagging": "team=a"})
        policy = document(
            {"Effect": "Deny", "Principal": "*",
             "Action": ["s3:PutObjectTagging", "s3:PutObjectVersionTagging"],
             "Resource": "arn:aws:s3:::labels/*", "Condition": {
                 "StringNotEquals": {"s3:RequestObjectTag/team": ["a", "b"]}}},
            {"Effect": "Allow", "Principal": "*",
             "Action": ["s3:PutObjectTagging", "s3:PutObjectVersionTagging"],
             "Resource": "arn:aws:s3:::labels/*", "Condition": {
                 "StringEquals": {"s3:RequestObjectTag/team": "b"},
                 "ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["team", "note"]}}})
        self.assertEqual(self.walrus.request("PUT", "/labels?policy",
                                             body=policy.encode()).code, 204)

    def tag(self, tags, keys="alice", versionId=None):
        path = "/labels/k?tagging" + ("&versionId=" + versionId if versionId else "")
        return self.walrus.request("PUT", path, body=taggingXml(tags), keys=keys)

    def currentTags(self):
        return self.walrus.request("GET", "/labels/k?tagging").findall("TagSet/Tag/Value")

    def test_denyByTheBodysTags(self):
        """A Deny on the tags asked for refuses the owner, and changes nothing."""
        self.assertEqual(self.tag([("team", "z")]).code, 403)
        self.assertEqual(self.tag([("other", "x")]).code, 403)
        self.assertEqual(self.currentTags(), ["a"])
        self.assertEqual(self.tag([("team", "a")]).code, 200)
        reply = self.tag([("team", "z")], versionId=self.first)
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))

    def test_allowByTheBodysTags(self):
        """An Allow on the tags asked for lets another user tag, with those tags only."""
        self.assertEqual(self.tag([("team", "a")], keys="bob").code, 403)
        self.assertEqual(self.tag([("team", "b"), ("x", "1")], keys="bob").code, 403)
        self.assertEqual(self.tag([("team", "b"), ("note", "ok")], keys="bob").code, 200)
        self.assertEqual(self.currentTags(), ["b", "ok"])
        self.assertEqual(self.tag([("team", "b")], keys="bob", versionId=self.first).code, 200)


class LiveExistingObjectTagTests(unittest.TestCase):
    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()

    @defer.inlineCallbacks
    def test_boto3AndAwscli(self):
        """boto3: bob reads only what is tagged for him; awscli: the owner is denied a secret object."""
        def scenario():
            import boto3
            from botocore.exceptions import ClientError
            s3 = self.live.s3Client()
            s3.create_bucket(Bucket="shared")
            s3.put_object(Bucket="shared", Key="for-bob", Body=b"hi", Tagging="reader=bob")
            s3.put_object(Bucket="shared", Key="secret", Body=b"no", Tagging="class=secret")
            s3.put_bucket_policy(Bucket="shared", Policy=document(
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::shared/*", "Condition": {
                     "StringEquals": {"s3:ExistingObjectTag/reader": "${aws:username}"}}},
                {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::shared/*", "Condition": {
                     "StringEquals": {"s3:ExistingObjectTag/class": "secret"}}}))
            bob = boto3.client("s3", endpoint_url=self.live.endpoint,
                               aws_access_key_id=self.live.bob[0],
                               aws_secret_access_key=self.live.bob[1], region_name="us-east-1")
            body = bob.get_object(Bucket="shared", Key="for-bob")["Body"].read()
            try:
                bob.get_object(Bucket="shared", Key="secret")
                refused = None
            except ClientError as error:
                refused = error.response["Error"]["Code"]
            return body, refused
        body, refused = yield self.live.inThread(scenario)
        self.assertEqual((body, refused), (b"hi", "AccessDenied"))
        aws = awsCommand() + ["--endpoint-url", self.live.endpoint, "s3api"]
        denied = yield self.live.run(aws + ["get-object", "--bucket", "shared", "--key", "secret",
                                            self.live.path("out")], check=False)
        self.assertNotEqual(denied.returncode, 0)
        self.assertIn(b"AccessDenied", denied.stderr)
        allowed = yield self.live.run(aws + ["get-object-tagging", "--bucket", "shared",
                                             "--key", "secret"])
        self.assertEqual(json.loads(allowed.stdout)["TagSet"],
                         [{"Key": "class", "Value": "secret"}])

    @defer.inlineCallbacks
    def test_boto3PutObjectTaggingByRequestTags(self):
        """boto3: put_object_tagging is refused for tags a policy's RequestObjectTag Deny names."""
        def scenario():
            from botocore.exceptions import ClientError
            s3 = self.live.s3Client()
            s3.create_bucket(Bucket="labelled")
            s3.put_object(Bucket="labelled", Key="k", Body=b"x")
            s3.put_bucket_policy(Bucket="labelled", Policy=document(
                {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObjectTagging",
                 "Resource": "arn:aws:s3:::labelled/*", "Condition": {
                     "StringEquals": {"s3:RequestObjectTag/stage": "prod"}}}))
            s3.put_object_tagging(Bucket="labelled", Key="k",
                                  Tagging={"TagSet": [{"Key": "stage", "Value": "dev"}]})
            try:
                s3.put_object_tagging(Bucket="labelled", Key="k",
                                      Tagging={"TagSet": [{"Key": "stage", "Value": "prod"}]})
                refused = None
            except ClientError as error:
                refused = error.response["Error"]["Code"]
            return refused, s3.get_object_tagging(Bucket="labelled", Key="k")["TagSet"]
        refused, tags = yield self.live.inThread(scenario)
        self.assertEqual(refused, "AccessDenied")
        self.assertEqual(tags, [{"Key": "stage", "Value": "dev"}])
