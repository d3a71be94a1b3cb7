"""ListBuckets pages and prefixes, and x-amz-expected-bucket-owner, through boto3."""

from twisted.internet import defer
from twisted.trial import unittest

from tests.walrus.helpers import WalrusHarness
from tests.walrus.live import LiveWalrus


class ListBucketsTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        for name in ("app-one", "app-two", "app-three", "other"):
            self.walrus.createBucket(name)

    def test_pagesAndPrefix(self):
        """max-buckets pages through the caller's buckets with a continuation token; prefix filters."""
        seen, token = [], None
        for _ in range(5):
            path = "/?max-buckets=2" + ("&continuation-token=" + token if token else "")
            reply = self.walrus.request("GET", path)
            self.assertEqual(reply.code, 200, reply.body)
            seen += reply.findall("Buckets/Bucket/Name")
            tokens = reply.findall("ContinuationToken")
            if not tokens:
                break
            token = tokens[0]
        self.assertEqual(seen, ["app-one", "app-three", "app-two", "other"])
        reply = self.walrus.request("GET", "/?prefix=app-")
        self.assertEqual(reply.findall("Buckets/Bucket/Name"),
                         ["app-one", "app-three", "app-two"])
        self.assertEqual(reply.findall("Prefix"), ["app-"])


class ExpectedOwnerTests(unittest.TestCase):
    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()

    @defer.inlineCallbacks
    def test_boto3(self):
        """boto3's ExpectedBucketOwner passes for the owner and is AccessDenied for another; ListBuckets pages."""
        from botocore.exceptions import ClientError
        s3 = self.live.s3Client()

        def scenario():
            s3.create_bucket(Bucket="owned")
            s3.create_bucket(Bucket="owned-too")
            s3.put_object(Bucket="owned", Key="k", Body=b"x", ExpectedBucketOwner="alice")
            try:
                s3.get_object(Bucket="owned", Key="k", ExpectedBucketOwner="mallory")
                denied = None
            except ClientError as e:
                denied = e.response["Error"]["Code"]
            first = s3.list_buckets(MaxBuckets=1)
            second = s3.list_buckets(MaxBuckets=1, ContinuationToken=first["ContinuationToken"])
            return denied, first, second
        denied, first, second = yield self.live.inThread(scenario)
        self.assertEqual(denied, "AccessDenied")
        self.assertEqual([b["Name"] for b in first["Buckets"] + second["Buckets"]],
                         ["owned", "owned-too"])
        self.assertNotIn("ContinuationToken", second)
