"""Real S3 clients against a real listening Walrus: boto3, awscli, s3cmd, rclone, boto 2, curl.

Each client uploads, downloads (ranged where the client can), lists with a
delimiter, copies and deletes, unmodified, against 127.0.0.1.
"""

import hashlib
import io
import os

from twisted.internet import defer
from twisted.trial import unittest

from tests.walrus.live import LiveWalrus, awsCommand, requireCommand


def sha(data):
    return hashlib.sha256(data).hexdigest()


class ClientTests(unittest.TestCase):
    timeout = 600

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()

    def writeFile(self, name, size):
        data = os.urandom(size)
        with open(self.live.path(name), "wb") as f:
            f.write(data)
        return data

    def readFile(self, name):
        with open(self.live.path(name), "rb") as f:
            return f.read()

    def boto3Client(self, keys=None, **config):
        import boto3
        from botocore.config import Config
        keys = keys or self.live.alice
        return boto3.client("s3", endpoint_url=self.live.endpoint, aws_access_key_id=keys[0],
                            aws_secret_access_key=keys[1], region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, **config))

    @defer.inlineCallbacks
    def test_boto3(self):
        """boto3: put, multipart upload, ranged get, delimiter listing, copy, delete."""
        def scenario():
            s3 = self.boto3Client()
            s3.create_bucket(Bucket="boto3-bucket")
            s3.put_object(Bucket="boto3-bucket", Key="dir/a.txt", Body=b"alpha",
                          Metadata={"color": "red"})
            big = os.urandom(20 * 1024 * 1024 + 5)
            s3.upload_fileobj(io.BytesIO(big), "boto3-bucket", "dir/big.bin")
            head = s3.head_object(Bucket="boto3-bucket", Key="dir/big.bin")
            self.assertTrue(head["ETag"].endswith('-3"'), head["ETag"])
            out = io.BytesIO()
            s3.download_fileobj("boto3-bucket", "dir/big.bin", out)
            self.assertEqual(sha(out.getvalue()), sha(big))
            ranged = s3.get_object(Bucket="boto3-bucket", Key="dir/big.bin",
                                   Range="bytes=1000-1999")["Body"].read()
            self.assertEqual(ranged, big[1000:2000])
            got = s3.get_object(Bucket="boto3-bucket", Key="dir/a.txt")
            self.assertEqual((got["Body"].read(), got["Metadata"]), (b"alpha", {"color": "red"}))
            s3.put_object(Bucket="boto3-bucket", Key="top.txt", Body=b"top")
            listing = s3.list_objects_v2(Bucket="boto3-bucket", Delimiter="/")
            self.assertEqual([c["Prefix"] for c in listing["CommonPrefixes"]], ["dir/"])
            self.assertEqual([c["Key"] for c in listing["Contents"]], ["top.txt"])
            s3.copy_object(Bucket="boto3-bucket", Key="copy.txt",
                           CopySource={"Bucket": "boto3-bucket", "Key": "dir/a.txt"})
            self.assertEqual(s3.get_object(Bucket="boto3-bucket", Key="copy.txt")["Body"].read(),
                             b"alpha")
            keys = [o["Key"] for o in s3.list_objects(Bucket="boto3-bucket")["Contents"]]
            s3.delete_objects(Bucket="boto3-bucket",
                              Delete={"Objects": [{"Key": k} for k in keys]})
            s3.delete_bucket(Bucket="boto3-bucket")
            self.assertEqual(s3.list_buckets()["Buckets"], [])
        yield self.live.inThread(scenario)

    @defer.inlineCallbacks
    def test_awscli(self):
        """awscli s3 and s3api, with a 40 MiB multipart upload and a ranged get."""
        aws = awsCommand() + ["--endpoint-url", self.live.endpoint]
        api = awsCommand() + ["--endpoint-url", self.live.endpoint]
        data = self.writeFile("forty.bin", 40 * 1024 * 1024)
        yield self.live.run(aws + ["s3", "mb", "s3://cli-bucket"])
        yield self.live.run(aws + ["s3", "cp", "--no-progress", "forty.bin",
                                   "s3://cli-bucket/dir/forty.bin"])
        head = yield self.live.run(api + ["s3api", "head-object", "--bucket", "cli-bucket",
                                          "--key", "dir/forty.bin"])
        self.assertIn(b'-5\\"', head.stdout)
        yield self.live.run(aws + ["s3", "cp", "--no-progress", "s3://cli-bucket/dir/forty.bin",
                                   "back.bin"])
        self.assertEqual(sha(self.readFile("back.bin")), sha(data))
        yield self.live.run(api + ["s3api", "get-object", "--bucket", "cli-bucket", "--key",
                                   "dir/forty.bin", "--range", "bytes=100-199", "part.bin"])
        self.assertEqual(self.readFile("part.bin"), data[100:200])
        yield self.live.run(aws + ["s3", "cp", "--no-progress", "s3://cli-bucket/dir/forty.bin",
                                   "s3://cli-bucket/copy.bin"])
        listing = yield self.live.run(api + ["s3api", "list-objects-v2", "--bucket", "cli-bucket",
                                             "--delimiter", "/"])
        self.assertIn(b'"Prefix": "dir/"', listing.stdout)
        self.assertIn(b'"Key": "copy.bin"', listing.stdout)
        ls = yield self.live.run(aws + ["s3", "ls", "s3://cli-bucket/"])
        self.assertIn(b"PRE dir/", ls.stdout)
        yield self.live.run(aws + ["s3", "rm", "--recursive", "s3://cli-bucket/"])
        yield self.live.run(aws + ["s3", "rb", "s3://cli-bucket"])
        buckets = yield self.live.run(api + ["s3api", "list-buckets"])
        self.assertNotIn(b"cli-bucket", buckets.stdout)

    @defer.inlineCallbacks
    def test_s3cmd(self):
        """s3cmd (SigV4 and SigV2): put with multipart, get, ls, cp, del, rb."""
        s3cmd = requireCommand("s3cmd")
        with open(self.live.path("s3cfg"), "w") as f:
            f.write("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\n"
                    "host_bucket = %s\nuse_https = False\n" % (
                        self.live.alice[0], self.live.alice[1], self.live.endpoint[7:],
                        self.live.endpoint[7:]))
        data = self.writeFile("twelve.bin", 12 * 1024 * 1024)
        for extra in ([], ["--signature-v2"]):
            base = [s3cmd, "-c", self.live.path("s3cfg"), "--no-progress"] + extra
            yield self.live.run(base + ["mb", "s3://s3cmd-bucket"])
            yield self.live.run(base + ["put", "--multipart-chunk-size-mb=5", "twelve.bin",
                                        "s3://s3cmd-bucket/dir/twelve.bin"])
            yield self.live.run(base + ["put", "twelve.bin", "s3://s3cmd-bucket/top.bin"])
            yield self.live.run(base + ["get", "--force", "s3://s3cmd-bucket/dir/twelve.bin",
                                        "back.bin"])
            self.assertEqual(sha(self.readFile("back.bin")), sha(data))
            ls = yield self.live.run(base + ["ls", "s3://s3cmd-bucket/"])
            self.assertIn(b"DIR", ls.stdout)
            self.assertIn(b"s3://s3cmd-bucket/dir/", ls.stdout)
            self.assertIn(b"s3://s3cmd-bucket/top.bin", ls.stdout)
            yield self.live.run(base + ["cp", "s3://s3cmd-bucket/top.bin",
                                        "s3://s3cmd-bucket/copy.bin"])
            info = yield self.live.run(base + ["info", "s3://s3cmd-bucket/copy.bin"])
            self.assertIn(hashlib.md5(data).hexdigest().encode(), info.stdout)
            yield self.live.run(base + ["del", "--recursive", "--force", "s3://s3cmd-bucket"])
            yield self.live.run(base + ["rb", "s3://s3cmd-bucket"])

    @defer.inlineCallbacks
    def test_rclone(self):
        """rclone: copy a tree up and down, check, ranged cat, server-side copy, purge."""
        rclone = requireCommand("rclone")
        with open(self.live.path("rclone.conf"), "w") as f:
            f.write("[walrus]\ntype = s3\nprovider = Other\naccess_key_id = %s\n"
                    "secret_access_key = %s\nendpoint = %s\nregion = us-east-1\n"
                    "force_path_style = true\n" % (self.live.alice[0], self.live.alice[1],
                                                   self.live.endpoint))
        os.makedirs(self.live.path("tree", "sub"))
        small = self.writeFile(os.path.join("tree", "small.bin"), 1000)
        self.writeFile(os.path.join("tree", "sub", "big.bin"), 9 * 1024 * 1024)
        base = [rclone, "--config", self.live.path("rclone.conf")]
        yield self.live.run(base + ["mkdir", "walrus:rclone-bucket"])
        yield self.live.run(base + ["copy", "tree", "walrus:rclone-bucket/tree"])
        yield self.live.run(base + ["check", "tree", "walrus:rclone-bucket/tree"])
        lsf = yield self.live.run(base + ["lsf", "walrus:rclone-bucket/tree"])
        self.assertEqual(sorted(lsf.stdout.split()), [b"small.bin", b"sub/"])
        cat = yield self.live.run(base + ["cat", "--offset", "10", "--count", "20",
                                          "walrus:rclone-bucket/tree/small.bin"])
        self.assertEqual(cat.stdout, small[10:30])
        yield self.live.run(base + ["copy", "walrus:rclone-bucket/tree", "down"])
        self.assertEqual(self.readFile(os.path.join("down", "sub", "big.bin")),
                         self.readFile(os.path.join("tree", "sub", "big.bin")))
        yield self.live.run(base + ["copyto", "walrus:rclone-bucket/tree/small.bin",
                                    "walrus:rclone-bucket/copied.bin"])
        yield self.live.run(base + ["deletefile", "walrus:rclone-bucket/copied.bin"])
        yield self.live.run(base + ["purge", "walrus:rclone-bucket"])
        lsd = yield self.live.run(base + ["lsd", "walrus:"])
        self.assertNotIn(b"rclone-bucket", lsd.stdout)

    @defer.inlineCallbacks
    def test_boto2(self):
        """boto 2.49 under /services/Walrus: keys, metadata, range, delimiter, copy, multipart."""
        try:
            from boto.s3.connection import OrdinaryCallingFormat, S3Connection
            from boto.s3.key import Key
        except ImportError:
            raise unittest.SkipTest("boto 2.49 is not installed (pip install boto==2.49.0)")
        port = self.live.port.getHost().port

        def scenario():
            connection = S3Connection(
                aws_access_key_id=self.live.alice[0], aws_secret_access_key=self.live.alice[1],
                host="127.0.0.1", port=port, is_secure=False,
                calling_format=OrdinaryCallingFormat(), path="/services/Walrus")
            bucket = connection.create_bucket("boto2-bucket")
            key = Key(bucket, "dir/hello world.txt")
            key.set_metadata("color", "red")
            key.set_contents_from_string("hello boto2")
            fetched = connection.get_bucket("boto2-bucket").get_key("dir/hello world.txt")
            self.assertEqual((fetched.get_contents_as_string(), fetched.get_metadata("color")),
                             (b"hello boto2", "red"))
            self.assertEqual(fetched.get_contents_as_string(headers={"Range": "bytes=0-4"}),
                             b"hello")
            Key(bucket, "top").set_contents_from_string("t")
            self.assertEqual(sorted(k.name for k in bucket.list(delimiter="/")),
                             ["dir/", "top"])
            bucket.copy_key("copied", "boto2-bucket", "dir/hello world.txt")
            self.assertEqual(bucket.get_key("copied").get_contents_as_string(), b"hello boto2")
            upload = bucket.initiate_multipart_upload("multi")
            upload.upload_part_from_file(io.BytesIO(b"a" * 5 * 1024 * 1024), 1)
            upload.upload_part_from_file(io.BytesIO(b"b" * 100), 2)
            upload.complete_upload()
            self.assertEqual(bucket.get_key("multi").size, 5 * 1024 * 1024 + 100)
            for item in bucket.list():
                item.delete()
            connection.delete_bucket("boto2-bucket")
        yield self.live.inThread(scenario)

    @defer.inlineCallbacks
    def test_curlPresignedAndAnonymous(self):
        """curl: presigned PUT and GET (V4 and V2); anonymous GET of public-read vs private."""
        curl = requireCommand("curl")

        def prepare():
            urls = []
            for version in ("s3v4", "s3"):
                s3 = self.boto3Client(signature_version=version)
                if version == "s3v4":
                    s3.create_bucket(Bucket="curl-bucket")
                    s3.put_object(Bucket="curl-bucket", Key="public", Body=b"for all",
                                  ACL="public-read")
                    s3.put_object(Bucket="curl-bucket", Key="private", Body=b"for alice")
                key = "presigned-" + version
                urls.append((key,
                             s3.generate_presigned_url("put_object", Params={
                                 "Bucket": "curl-bucket", "Key": key}, ExpiresIn=300),
                             s3.generate_presigned_url("get_object", Params={
                                 "Bucket": "curl-bucket", "Key": key}, ExpiresIn=300)))
            return urls
        urls = yield self.live.inThread(prepare)
        for key, putUrl, getUrl in urls:
            data = self.writeFile(key, 100000)
            put = yield self.live.run([curl, "-sS", "-f", "-X", "PUT", "-T", key, putUrl])
            self.assertEqual(put.returncode, 0)
            got = yield self.live.run([curl, "-sS", "-f", getUrl])
            self.assertEqual(got.stdout, data)
        public = yield self.live.run([curl, "-sS", "-w", " %{http_code}",
                                      self.live.endpoint + "/curl-bucket/public"])
        self.assertEqual(public.stdout, b"for all 200")
        private = yield self.live.run([curl, "-sS", "-w", " %{http_code}",
                                       self.live.endpoint + "/curl-bucket/private"])
        self.assertTrue(private.stdout.endswith(b" 403"), private.stdout)
        self.assertIn(b"<Code>AccessDenied</Code>", private.stdout)
