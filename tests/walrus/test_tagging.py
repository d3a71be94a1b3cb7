"""Object and bucket tagging: the documents, x-amz-tagging on PUT and COPY, the limits and errors."""

from urllib.parse import urlencode

from twisted.internet import defer
from twisted.trial import unittest

from tests.walrus.helpers import WalrusHarness
from tests.walrus.live import LiveWalrus, awsCommand


def taggingXml(pairs):
    tags = "".join("<Tag><Key>%s</Key><Value>%s</Value></Tag>" % pair for pair in pairs)
    return ('<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>%s</TagSet>'
            '</Tagging>' % (tags,)).encode()


class TaggingTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("tags")
        self.walrus.put("tags", "k", b"data")

    def tagsOf(self, key, keys="alice"):
        reply = self.walrus.request("GET", "/tags/%s?tagging" % (key,), keys=keys)
        self.assertEqual(reply.code, 200, reply.body)
        return list(zip(reply.findall("TagSet/Tag/Key"), reply.findall("TagSet/Tag/Value")))

    def test_putGetDeleteObjectTagging(self):
        """A tag set is stored, read back in order, counted in HEAD and GET, and deleted."""
        reply = self.walrus.request("PUT", "/tags/k?tagging",
                                    body=taggingXml([("b", "2"), ("a", "")]))
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.tagsOf("k"), [("b", "2"), ("a", "")])
        self.assertEqual(self.walrus.request("HEAD", "/tags/k").header("x-amz-tagging-count"), "2")
        self.assertEqual(self.walrus.get("tags", "k").header("x-amz-tagging-count"), "2")
        self.assertEqual(self.walrus.request("DELETE", "/tags/k?tagging").code, 204)
        self.assertEqual(self.tagsOf("k"), [])
        self.assertIsNone(self.walrus.request("HEAD", "/tags/k").header("x-amz-tagging-count"))

    def test_limitsAndErrors(self):
        """11 tags, long keys or values, duplicates, aws: keys and bad characters are InvalidTag."""
        cases = [
            [("k%d" % i, "v") for i in range(11)],
            [("k" * 129, "v")],
            [("k", "v" * 257)],
            [("k", "1"), ("k", "2")],
            [("aws:owner", "x")],
            [("semi;colon", "x")],
        ]
        for pairs in cases:
            reply = self.walrus.request("PUT", "/tags/k?tagging", body=taggingXml(pairs))
            self.assertEqual((reply.code, reply.errorCode()), (400, "InvalidTag"), pairs)
        self.assertEqual(self.tagsOf("k"), [])
        ten = [("k%d" % i, "v") for i in range(10)]
        self.assertEqual(self.walrus.request("PUT", "/tags/k?tagging", body=taggingXml(ten)).code,
                         200)
        reply = self.walrus.request("PUT", "/tags/k?tagging", body=b"<Tagging><Tag/></Tagging>")
        self.assertEqual((reply.code, reply.errorCode()), (400, "MalformedXML"))
        reply = self.walrus.request("PUT", "/tags/missing?tagging", body=taggingXml([("a", "b")]))
        self.assertEqual((reply.code, reply.errorCode()), (404, "NoSuchKey"))

    def test_taggingHeaderOnPut(self):
        """x-amz-tagging on PUT sets the tags; an overwrite without it drops them; bad ones refuse."""
        header = {"x-amz-tagging": urlencode([("team", "a b"), ("empty", "")])}
        self.walrus.put("tags", "h", b"x", headers=header)
        self.assertEqual(self.tagsOf("h"), [("team", "a b"), ("empty", "")])
        self.walrus.put("tags", "h", b"y")
        self.assertEqual(self.tagsOf("h"), [])
        for bad in ("a=1&a=2", urlencode([("k%d" % i, "v") for i in range(11)])):
            reply = self.walrus.request("PUT", "/tags/bad", body=b"x",
                                        headers={"x-amz-tagging": bad})
            self.assertIn(reply.errorCode(), ("InvalidArgument", "InvalidTag"), bad)
            self.assertEqual(reply.code, 400)
        self.assertEqual(self.walrus.get("tags", "bad").code, 404)

    def test_copyTaggingDirective(self):
        """COPY keeps the source's tags by default; REPLACE takes the request's x-amz-tagging."""
        self.walrus.put("tags", "src", b"s", headers={"x-amz-tagging": "a=1"})
        reply = self.walrus.request("PUT", "/tags/copied",
                                    headers={"x-amz-copy-source": "/tags/src"})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.tagsOf("copied"), [("a", "1")])
        reply = self.walrus.request("PUT", "/tags/replaced", headers={
            "x-amz-copy-source": "/tags/src", "x-amz-tagging-directive": "REPLACE",
            "x-amz-tagging": "b=2"})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.tagsOf("replaced"), [("b", "2")])
        reply = self.walrus.request("PUT", "/tags/x", headers={
            "x-amz-copy-source": "/tags/src", "x-amz-tagging-directive": "MERGE"})
        self.assertEqual((reply.code, reply.errorCode()), (400, "InvalidArgument"))

    def test_whoMayTag(self):
        """Another user may neither read nor change a private object's tags."""
        reply = self.walrus.request("PUT", "/tags/k?tagging", body=taggingXml([("a", "b")]),
                                    keys="bob")
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))
        reply = self.walrus.request("GET", "/tags/k?tagging", keys="bob")
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))

    def test_bucketTagging(self):
        """Bucket tags: NoSuchTagSet until set, up to 50, owner only, deleted with 204."""
        reply = self.walrus.request("GET", "/tags?tagging")
        self.assertEqual((reply.code, reply.errorCode()), (404, "NoSuchTagSet"))
        fifty = [("k%d" % i, "v") for i in range(50)]
        self.assertEqual(self.walrus.request("PUT", "/tags?tagging", body=taggingXml(fifty)).code,
                         204)
        reply = self.walrus.request("GET", "/tags?tagging")
        self.assertEqual(len(reply.findall("TagSet/Tag/Key")), 50)
        reply = self.walrus.request("PUT", "/tags?tagging", body=taggingXml(fifty + [("x", "y")]))
        self.assertEqual((reply.code, reply.errorCode()), (400, "InvalidTag"))
        reply = self.walrus.request("GET", "/tags?tagging", keys="bob")
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))
        self.assertEqual(self.walrus.request("DELETE", "/tags?tagging").code, 204)
        self.assertEqual(self.walrus.request("GET", "/tags?tagging").errorCode(), "NoSuchTagSet")

    def test_formUploadTagging(self):
        """A browser form's tagging field tags the object; an invalid one stores nothing."""
        from tests.walrus.test_post import BOUNDARY, form
        self.walrus.createBucket("droptags", headers={"x-amz-acl": "public-read-write"})

        def post(fields):
            return self.walrus.request("POST", "/droptags", body=form(fields, b"file"), keys=None,
                                       headers={"Content-Type": "multipart/form-data; boundary="
                                                + BOUNDARY})
        good = taggingXml([("source", "browser")]).decode()
        self.assertEqual(post([("key", "f"), ("acl", "public-read"), ("tagging", good)]).code,
                         204)
        reply = self.walrus.request("GET", "/droptags/f?tagging")
        self.assertEqual(reply.findall("TagSet/Tag/Key"), ["source"])
        reply = post([("key", "g"), ("tagging", taggingXml([("aws:x", "y")]).decode())])
        self.assertEqual((reply.code, reply.errorCode()), (400, "InvalidTag"))
        self.assertEqual(self.walrus.get("droptags", "g").code, 404)

    def test_multipartTagging(self):
        """x-amz-tagging on CreateMultipartUpload tags the completed object; bad tags refuse it."""
        reply = self.walrus.request("POST", "/tags/mp?uploads", headers={"x-amz-tagging": "a=1&a=2"})
        self.assertEqual((reply.code, reply.errorCode()), (400, "InvalidArgument"))
        reply = self.walrus.request("POST", "/tags/mp?uploads", headers={"x-amz-tagging": "a=b"})
        uploadId = reply.findall("UploadId")[0]
        part = self.walrus.request("PUT", "/tags/mp?partNumber=1&uploadId=" + uploadId,
                                   body=b"part")
        body = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag>"
                "</Part></CompleteMultipartUpload>" % part.header("etag")).encode()
        reply = self.walrus.request("POST", "/tags/mp?uploadId=" + uploadId, body=body)
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.tagsOf("mp"), [("a", "b")])


class LiveTaggingTests(unittest.TestCase):
    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()

    @defer.inlineCallbacks
    def test_boto3(self):
        """boto3: Tagging on put_object and copy_object, get/put/delete object and bucket tagging."""
        def scenario():
            s3 = self.live.s3Client()
            s3.create_bucket(Bucket="tagb")
            s3.put_object(Bucket="tagb", Key="k", Body=b"x", Tagging="team=web&tier=1")
            head = s3.head_object(Bucket="tagb", Key="k")
            tags = s3.get_object_tagging(Bucket="tagb", Key="k")["TagSet"]
            s3.copy_object(Bucket="tagb", Key="c", CopySource={"Bucket": "tagb", "Key": "k"},
                           TaggingDirective="REPLACE", Tagging="only=one")
            copied = s3.get_object_tagging(Bucket="tagb", Key="c")["TagSet"]
            s3.put_object_tagging(Bucket="tagb", Key="k",
                                  Tagging={"TagSet": [{"Key": "new", "Value": "v"}]})
            replaced = s3.get_object_tagging(Bucket="tagb", Key="k")["TagSet"]
            s3.delete_object_tagging(Bucket="tagb", Key="k")
            emptied = s3.get_object_tagging(Bucket="tagb", Key="k")["TagSet"]
            try:
                s3.put_object_tagging(Bucket="tagb", Key="k", Tagging={"TagSet": [
                    {"Key": "k%d" % i, "Value": "v"} for i in range(11)]})
                tooMany = None
            except s3.exceptions.ClientError as error:
                tooMany = error.response["Error"]["Code"]
            s3.put_bucket_tagging(Bucket="tagb", Tagging={"TagSet": [{"Key": "cost",
                                                                    "Value": "ops"}]})
            bucketTags = s3.get_bucket_tagging(Bucket="tagb")["TagSet"]
            s3.delete_bucket_tagging(Bucket="tagb")
            try:
                s3.get_bucket_tagging(Bucket="tagb")
                afterDelete = None
            except s3.exceptions.ClientError as error:
                afterDelete = error.response["Error"]["Code"]
            return (head.get("TagCount"), tags, copied, replaced, emptied, tooMany, bucketTags,
                    afterDelete)
        result = yield self.live.inThread(scenario)
        self.assertEqual(result, (
            2, [{"Key": "team", "Value": "web"}, {"Key": "tier", "Value": "1"}],
            [{"Key": "only", "Value": "one"}], [{"Key": "new", "Value": "v"}], [],
            "InvalidTag", [{"Key": "cost", "Value": "ops"}], "NoSuchTagSet"))

    @defer.inlineCallbacks
    def test_awscli(self):
        """awscli s3api put-object --tagging, get/put-object-tagging, put/get-bucket-tagging."""
        import json
        aws = awsCommand() + ["--endpoint-url", self.live.endpoint, "--output", "json"]
        yield self.live.run(aws + ["s3api", "create-bucket", "--bucket", "cli"])
        with open(self.live.path("body"), "wb") as f:
            f.write(b"hello")
        yield self.live.run(aws + ["s3api", "put-object", "--bucket", "cli", "--key", "k",
                                   "--body", self.live.path("body"), "--tagging", "a=1"])
        out = yield self.live.run(aws + ["s3api", "get-object-tagging", "--bucket", "cli",
                                         "--key", "k"])
        self.assertEqual(json.loads(out.stdout)["TagSet"], [{"Key": "a", "Value": "1"}])
        yield self.live.run(aws + ["s3api", "put-object-tagging", "--bucket", "cli", "--key", "k",
                                   "--tagging", "TagSet=[{Key=b,Value=2}]"])
        out = yield self.live.run(aws + ["s3api", "head-object", "--bucket", "cli", "--key", "k"])
        self.assertEqual(json.loads(out.stdout)["TagCount"], 1)
        yield self.live.run(aws + ["s3api", "put-bucket-tagging", "--bucket", "cli",
                                   "--tagging", "TagSet=[{Key=env,Value=test}]"])
        out = yield self.live.run(aws + ["s3api", "get-bucket-tagging", "--bucket", "cli"])
        self.assertEqual(json.loads(out.stdout)["TagSet"], [{"Key": "env", "Value": "test"}])
        bad = yield self.live.run(aws + ["s3api", "put-object-tagging", "--bucket", "cli",
                                         "--key", "k", "--tagging",
                                         "TagSet=[{Key=aws:x,Value=2}]"], check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn(b"InvalidTag", bad.stderr)
