"""The bugs an S3 conformance suite and a hostile client found, each driven as they were found.

Every test here failed before its fix: checksums on CompleteMultipartUpload
(composite and full-object) and GetObjectAttributes, retried and repeated
completions, ListObjects V1's Prefix, Content-Encoding, SSE headers, bucket
names, form uploads; and, against a listening Walrus, the same through
boto3 (SigV2 bucket-level calls, checksummed multipart uploads).
"""

import base64
import hashlib
import hmac
import json
import os
import time
import zlib

import crc32c
from twisted.internet import defer
from twisted.trial import unittest

from eucad.walrus.uploadstore import MIN_PART_SIZE
from tests.walrus.helpers import WalrusHarness
from tests.walrus.live import LiveWalrus

BOUNDARY = "----peersuiteboundary"


def b64(raw):
    return base64.b64encode(raw).decode()


def crc32(data):
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def crc32cOf(data):
    return b64(crc32c.crc32c(data).to_bytes(4, "big"))


def completion(parts):
    body = "".join("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag>%s</Part>"
                   % (n, e, "".join("<Checksum%s>%s</Checksum%s>" % (a, v, a)
                                    for a, v in sums.items()))
                   for n, e, sums in parts)
    return ("<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % body).encode()


class MultipartChecksumTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("mpu")
        self.first = os.urandom(MIN_PART_SIZE)
        self.second = os.urandom(1234)

    def upload(self, algorithm, checksumType=None, key="obj"):
        """Start an upload with ``algorithm`` and send both parts with their checksums."""
        headers = {"x-amz-checksum-algorithm": algorithm}
        if checksumType:
            headers["x-amz-checksum-type"] = checksumType
        reply = self.walrus.request("POST", "/mpu/%s?uploads" % key, headers=headers)
        self.assertEqual(reply.code, 200, reply.body)
        uploadId = reply.findall("UploadId")[0]
        compute = crc32 if algorithm == "CRC32" else crc32cOf
        parts = []
        for number, data in ((1, self.first), (2, self.second)):
            value = compute(data)
            reply = self.walrus.request(
                "PUT", "/mpu/%s?partNumber=%d&uploadId=%s" % (key, number, uploadId),
                body=data, headers={"x-amz-checksum-" + algorithm.lower(): value})
            self.assertEqual(reply.code, 200, reply.body)
            parts.append((number, reply.header("ETag"), {algorithm: value}))
        return uploadId, parts

    def complete(self, uploadId, parts, headers=None, key="obj"):
        return self.walrus.request("POST", "/mpu/%s?uploadId=%s" % (key, uploadId),
                                   body=completion(parts), headers=headers)

    def test_compositeChecksumOnComplete(self):
        """A Complete whose x-amz-checksum-crc32 is the composite checksum succeeds and is kept."""
        uploadId, parts = self.upload("CRC32")
        raw = b"".join(base64.b64decode(sums["CRC32"]) for _, _, sums in parts)
        composite = crc32(raw) + "-2"
        reply = self.complete(uploadId, parts, {"x-amz-checksum-crc32": composite})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(reply.findall("ChecksumCRC32"), [composite])
        got = self.walrus.get("mpu", "obj", headers={"x-amz-checksum-mode": "ENABLED"})
        self.assertEqual(got.body, self.first + self.second)
        self.assertEqual((got.header("x-amz-checksum-crc32"), got.header("x-amz-checksum-type")),
                         (composite, "COMPOSITE"))

    def test_wrongWholeChecksumIsBadDigest(self):
        """A Complete whose whole-object checksum is wrong is BadDigest and stores nothing."""
        uploadId, parts = self.upload("CRC32")
        reply = self.complete(uploadId, parts, {"x-amz-checksum-crc32": "AAAAAA==-2"})
        self.assertEqual((reply.code, reply.errorCode()), (400, "BadDigest"))
        self.assertEqual(self.walrus.get("mpu", "obj").code, 404)

    def test_fullObjectChecksumAndAttributes(self):
        """A FULL_OBJECT CRC32C upload completes with the whole data's CRC32C; GetObjectAttributes reports it."""
        uploadId, parts = self.upload("CRC32C", "FULL_OBJECT")
        whole = crc32cOf(self.first + self.second)
        reply = self.complete(uploadId, parts, {"x-amz-checksum-crc32c": whole,
                                                "x-amz-checksum-type": "FULL_OBJECT"})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(reply.findall("ChecksumCRC32C"), [whole])
        reply = self.walrus.request("GET", "/mpu/obj?attributes", headers={
            "x-amz-object-attributes": "ETag,Checksum,ObjectParts,StorageClass,ObjectSize"})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(reply.findall("Checksum/ChecksumCRC32C"), [whole])
        self.assertEqual(reply.findall("Checksum/ChecksumType"), ["FULL_OBJECT"])
        self.assertEqual(reply.findall("ObjectParts/TotalPartsCount"), ["2"])
        self.assertEqual(reply.findall("ObjectParts/Part/Size"),
                         [str(len(self.first)), str(len(self.second))])
        self.assertEqual(reply.findall("ObjectSize"), [str(len(self.first + self.second))])
        self.assertEqual(reply.findall("StorageClass"), ["STANDARD"])
        self.assertTrue(reply.findall("ETag")[0].endswith("-2"))

    def test_retriedCompletionGetsTheSameAnswer(self):
        """A repeated Complete answers as the first did; one naming other parts is NoSuchUpload."""
        uploadId, parts = self.upload("CRC32")
        first = self.complete(uploadId, parts)
        self.assertEqual(first.code, 200, first.body)
        again = self.complete(uploadId, parts)
        self.assertEqual(again.code, 200, again.body)
        self.assertEqual(again.findall("ETag"), first.findall("ETag"))
        self.assertEqual(again.findall("ChecksumCRC32"), first.findall("ChecksumCRC32"))
        other = self.complete(uploadId, parts[:1])
        self.assertEqual(other.errorCode(), "NoSuchUpload")

    def test_repeatedPartNumberLastWins(self):
        """A part number listed twice takes its last entry, as S3 does."""
        uploadId, parts = self.upload("CRC32")
        stale = (1, '"%s"' % ("0" * 32), {})
        reply = self.complete(uploadId, [stale] + parts)
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.get("mpu", "obj").body, self.first + self.second)


class SmallFixesTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("fixes")

    def test_listV1PrefixNotEncoded(self):
        """ListObjects V1 with encoding-type=url returns Prefix as sent (SDKs do not decode it)."""
        self.walrus.put("fixes", "a b/c", b"x")
        reply = self.walrus.request("GET", "/fixes?encoding-type=url&prefix=a%20b%2F")
        self.assertEqual(reply.findall("Prefix"), ["a b/"])
        self.assertEqual(reply.findall("Contents/Key"), ["a%20b/c"])

    def test_serverSideEncryptionRefused(self):
        """SSE-S3, SSE-KMS and SSE-C on PUT, and SSE-C on GET, are NotImplemented and store nothing."""
        key = os.urandom(32)
        for headers in ({"x-amz-server-side-encryption": "AES256"},
                        {"x-amz-server-side-encryption": "aws:kms"},
                        {"x-amz-server-side-encryption-customer-algorithm": "AES256",
                         "x-amz-server-side-encryption-customer-key": b64(key),
                         "x-amz-server-side-encryption-customer-key-MD5":
                             b64(hashlib.md5(key).digest())}):
            reply = self.walrus.request("PUT", "/fixes/secret", body=b"data", headers=headers)
            self.assertEqual((reply.code, reply.errorCode()), (501, "NotImplemented"), headers)
        self.assertEqual(self.walrus.get("fixes", "secret").code, 404)
        self.walrus.put("fixes", "plain", b"data")
        reply = self.walrus.get("fixes", "plain", headers={
            "x-amz-server-side-encryption-customer-algorithm": "AES256",
            "x-amz-server-side-encryption-customer-key": b64(key)})
        self.assertEqual((reply.code, reply.errorCode()), (501, "NotImplemented"))

    def test_currentBucketNameRules(self):
        """Names S3 forbids today (underscores, capitals, -. and .-, reserved affixes) are InvalidBucketName."""
        for name in ("foo_bar", "foo-.bar", "foo.-bar", "Foobar", "xn--bucket", "a" * 64,
                     "sthree-bucket", "bucket-s3alias", "bucket--ol-s3"):
            reply = self.walrus.request("PUT", "/" + name)
            self.assertEqual(reply.errorCode(), "InvalidBucketName", name)
        self.walrus.createBucket("a" * 63)
        self.walrus.createBucket("good.name-1")


def formWithFilenames(fields, fileData, filename):
    """A form whose every part names a filename, as Python's requests writes one."""
    parts = []
    for name, value in fields:
        parts.append(('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                      '\r\n%s\r\n' % (BOUNDARY, name, name, value)).encode())
    parts.append(('--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
                  'Content-Type: text/plain\r\n\r\n' % (BOUNDARY, filename)).encode())
    parts.append(fileData + ("\r\n--%s--\r\n" % BOUNDARY).encode())
    return b"".join(parts)


class FormFixesTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("forms", headers={"x-amz-acl": "public-read-write"})

    def post(self, body):
        return self.walrus.request("POST", "/forms", body=body, keys=None, headers={
            "Content-Type": "multipart/form-data; boundary=" + BOUNDARY})

    def test_filenameSubstituted(self):
        """key=${filename} stores the object under the file's name."""
        reply = self.post(formWithFilenames([("key", "${filename}"), ("acl", "public-read"),
                                             ("Content-Type", "text/plain")], b"bar", "foo.txt"))
        self.assertEqual(reply.code, 204, reply.body)
        self.assertEqual(self.walrus.get("forms", "foo.txt", keys=None).body, b"bar")

    def test_policyWithoutConditionsIs400(self):
        """A signed policy without conditions is InvalidPolicyDocument (400), not 403."""
        accessKey, secret = self.walrus.alice
        expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 300))
        encoded = b64(json.dumps({"expiration": expiration}).encode())
        signature = b64(hmac.new(secret.encode(), encoded.encode(), hashlib.sha1).digest())
        reply = self.post(formWithFilenames([("key", "k"), ("AWSAccessKeyId", accessKey),
                                             ("policy", encoded), ("signature", signature)],
                                            b"x", "x.txt"))
        self.assertEqual((reply.code, reply.errorCode()), (400, "InvalidPolicyDocument"))

    def test_postResponseWithoutNamespace(self):
        """The 201 PostResponse's elements carry no namespace, so clients find a bare Key."""
        reply = self.post(formWithFilenames([("key", "n/${filename}"),
                                             ("success_action_status", "201")], b"x", "f.txt"))
        self.assertEqual(reply.code, 201, reply.body)
        root = reply.xml()
        self.assertEqual((root.tag, root.findtext("Key"), root.findtext("Bucket")),
                         ("PostResponse", "n/f.txt", "forms"))

    def test_encryptionFieldRefused(self):
        """A form asking for server-side encryption is NotImplemented and stores nothing."""
        reply = self.post(formWithFilenames([("key", "enc"),
                                             ("x-amz-server-side-encryption", "AES256")],
                                            b"x", "f.txt"))
        self.assertEqual((reply.code, reply.errorCode()), (501, "NotImplemented"))
        self.assertEqual(self.walrus.get("forms", "enc").code, 404)


class Boto3Tests(unittest.TestCase):
    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()

    def client(self, **config):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.live.endpoint,
                            aws_access_key_id=self.live.alice[0],
                            aws_secret_access_key=self.live.alice[1], region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, **config))

    @defer.inlineCallbacks
    def test_sigV2BucketLevel(self):
        """boto3 with SigV2 creates, lists, heads and deletes a bucket (it signs /bucket/, sends /bucket); Prefix and Content-Encoding come back as sent."""
        def scenario():
            s3 = self.client(signature_version="s3")
            s3.create_bucket(Bucket="v2bucket")
            s3.head_bucket(Bucket="v2bucket")
            s3.put_object(Bucket="v2bucket", Key="a b/c", Body=b"x",
                          ContentEncoding="deflate, gzip")
            listed = s3.list_objects(Bucket="v2bucket", Prefix="a b/")
            listed["encoding"] = s3.head_object(Bucket="v2bucket", Key="a b/c")[
                "ContentEncoding"]
            s3.delete_object(Bucket="v2bucket", Key="a b/c")
            s3.delete_bucket(Bucket="v2bucket")
            return listed
        listed = yield self.live.inThread(scenario)
        self.assertEqual(listed["Prefix"], "a b/")
        self.assertEqual(listed["encoding"], "deflate, gzip")
        self.assertEqual([o["Key"] for o in listed["Contents"]], ["a b/c"])

    @defer.inlineCallbacks
    def test_checksummedMultipartUpload(self):
        """boto3's multipart upload with ChecksumAlgorithm=CRC32 completes, and GetObjectAttributes answers."""
        first, second = os.urandom(MIN_PART_SIZE), os.urandom(4321)

        def scenario():
            s3 = self.client()
            s3.create_bucket(Bucket="sums")
            upload = s3.create_multipart_upload(Bucket="sums", Key="k", ChecksumAlgorithm="CRC32")
            parts = []
            for number, data in ((1, first), (2, second)):
                part = s3.upload_part(Bucket="sums", Key="k", PartNumber=number,
                                      UploadId=upload["UploadId"], Body=data,
                                      ChecksumAlgorithm="CRC32")
                parts.append({"PartNumber": number, "ETag": part["ETag"],
                              "ChecksumCRC32": part["ChecksumCRC32"]})
            done = s3.complete_multipart_upload(Bucket="sums", Key="k",
                                                UploadId=upload["UploadId"],
                                                MultipartUpload={"Parts": parts})
            attributes = s3.get_object_attributes(
                Bucket="sums", Key="k", ObjectAttributes=["ETag", "Checksum", "ObjectSize"])
            return done, attributes
        done, attributes = yield self.live.inThread(scenario)
        self.assertTrue(done["ChecksumCRC32"].endswith("-2"), done)
        self.assertEqual(attributes["Checksum"]["ChecksumCRC32"], done["ChecksumCRC32"])
        self.assertEqual(attributes["ObjectSize"], len(first) + len(second))
