"""``eucad-image`` as a user runs it: bundling, uploading to a real Walrus, deleting, and its errors."""

import io
import os

import boto3
from botocore.config import Config
from twisted.internet import defer, threads
from twisted.trial import unittest

from eucad.bundle import cli
from tests.bundle.helpers import certPem, independentUnbundle, keyPair, writePems
from tests.walrus.live import LiveWalrus


def runCli(argv, environ):
    """``(status, stdout, stderr)`` of ``eucad-image argv``."""
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(["-q"] + argv, environ=environ, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


class CliFixture:
    """Keys on disk and an eucarc-like environment for one user."""

    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(self.root)
        self.userCertPath, self.userKeyPath = writePems(self.root, "alice")
        self.cloudCertPath, _ = writePems(self.root, "cloud")
        self.image = os.path.join(self.root, "disk.img")
        self.imageBytes = os.urandom(300 * 1024) + bytes(300 * 1024)
        with open(self.image, "wb") as f:
            f.write(self.imageBytes)
        self.env = {"EC2_CERT": self.userCertPath, "EC2_PRIVATE_KEY": self.userKeyPath,
                    "EUCALYPTUS_CERT": self.cloudCertPath, "EC2_USER_ID": "alice"}

    def bundleDir(self):
        path = os.path.join(self.root, "bundle")
        os.makedirs(path, exist_ok=True)
        return path


class BundleCommandTests(CliFixture, unittest.TestCase):

    def test_bundle(self):
        """``bundle`` writes parts and a manifest that an independent reader decrypts."""
        status, out, err = runCli(["bundle", "-i", self.image, "-d", self.bundleDir(),
                                   "--part-size", "1"], self.env)
        self.assertEqual((status, err), (0, ""))
        manifestPath = out.strip()
        self.assertEqual(manifestPath, os.path.join(self.bundleDir(), "disk.img.manifest.xml"))
        self.assertEqual(sorted(os.listdir(self.bundleDir())),
                         ["disk.img.manifest.xml", "disk.img.part.00"])
        cloudKey, _ = keyPair("cloud")
        self.assertEqual(independentUnbundle(manifestPath, cloudKey), self.imageBytes)

    def test_kernelByName(self):
        """An image named vmlinuz-* is bundled as a kernel."""
        kernel = os.path.join(self.root, "vmlinuz-6.1")
        with open(kernel, "wb") as f:
            f.write(b"kernel")
        status, out, _ = runCli(["bundle", "-i", kernel, "-d", self.bundleDir()], self.env)
        self.assertEqual(status, 0)
        with open(out.strip(), "rb") as f:
            self.assertIn(b"<type>kernel</type>", f.read())

    def test_missingImage(self):
        """A missing image file is one clear line and exit status 1."""
        status, out, err = runCli(["bundle", "-i", self.image + ".nope", "-d",
                                   self.bundleDir()], self.env)
        self.assertEqual((status, out), (1, ""))
        self.assertEqual(err, "eucad-image: No such image file: %s.nope\n" % (self.image,))

    def test_wrongCertificate(self):
        """A private key that is not the certificate's is refused before bundling."""
        bobCert, _ = writePems(self.root, "bob")
        env = dict(self.env, EC2_CERT=bobCert)
        status, _, err = runCli(["bundle", "-i", self.image, "-d", self.bundleDir()], env)
        self.assertEqual(status, 1)
        self.assertIn("is not the key of EC2_CERT", err)
        self.assertIn("wrong certificate", err)
        self.assertEqual(os.listdir(self.bundleDir()), [])

    def test_caCertificateRefused(self):
        """EUCALYPTUS_CERT naming a CA certificate (not the cloud's) is refused."""
        from tests.bundle.test_credentials import writeCaCert
        env = dict(self.env, EUCALYPTUS_CERT=writeCaCert(self.root))
        status, _, err = runCli(["bundle", "-i", self.image, "-d", self.bundleDir()], env)
        self.assertEqual(status, 1)
        self.assertIn("is a CA certificate, not the cloud's", err)

    def test_missingVariable(self):
        """Without EC2_CERT the error names the variable to set."""
        env = dict(self.env)
        del env["EC2_CERT"]
        status, _, err = runCli(["bundle", "-i", self.image, "-d", self.bundleDir()], env)
        self.assertEqual(status, 1)
        self.assertIn("EC2_CERT is not set", err)

    def test_unreadableKey(self):
        """A private key file that is not a key is named in the error."""
        bad = os.path.join(self.root, "bad.pem")
        with open(bad, "wb") as f:
            f.write(certPem(keyPair("alice")[1]))
        env = dict(self.env, EC2_PRIVATE_KEY=bad)
        status, _, err = runCli(["bundle", "-i", self.image, "-d", self.bundleDir()], env)
        self.assertEqual(status, 1)
        self.assertIn("EC2_PRIVATE_KEY (%s)" % (bad,), err)


class UploadTests(CliFixture, unittest.TestCase):
    """Upload and delete against a real Walrus on a loopback port."""

    @defer.inlineCallbacks
    def setUp(self):
        CliFixture.setUp(self)
        self.walrus = LiveWalrus(self)
        yield self.walrus.start()
        self.env.update({"S3_URL": self.walrus.endpoint,
                         "EC2_ACCESS_KEY": self.walrus.alice[0],
                         "EC2_SECRET_KEY": self.walrus.alice[1]})

    def s3(self, keys):
        return boto3.client("s3", endpoint_url=self.walrus.endpoint,
                            aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
                            region_name="eucalyptus",
                            config=Config(s3={"addressing_style": "path"}))

    def cli(self, argv, env=None):
        return threads.deferToThread(runCli, argv, env or self.env)

    @defer.inlineCallbacks
    def bundled(self):
        status, out, err = yield self.cli(["bundle", "-i", self.image, "-d",
                                           self.bundleDir(), "--part-size", "1"])
        self.assertEqual(status, 0, err)
        return out.strip()

    @defer.inlineCallbacks
    def test_uploadCreatesBucketAndReadsBack(self):
        """``upload`` creates the bucket, puts parts and manifest with aws-exec-read;
        what comes back decrypts to the image."""
        manifestPath = yield self.bundled()
        status, out, err = yield self.cli(["upload", "-m", manifestPath, "-b",
                                           "images/v1"])
        self.assertEqual((status, err), (0, ""))
        self.assertEqual(out, "Uploaded images/v1/disk.img.manifest.xml\n")
        s3 = self.s3(self.walrus.alice)

        def download():
            listed = s3.list_objects_v2(Bucket="images")["Contents"]
            target = os.path.join(self.root, "download")
            os.makedirs(target)
            for item in listed:
                name = item["Key"].rpartition("/")[2]
                s3.download_file("images", item["Key"], os.path.join(target, name))
            return sorted(i["Key"] for i in listed), target
        keys, target = yield threads.deferToThread(download)
        self.assertEqual(keys, ["v1/disk.img.manifest.xml", "v1/disk.img.part.00"])
        cloudKey, _ = keyPair("cloud")
        self.assertEqual(independentUnbundle(os.path.join(target, "disk.img.manifest.xml"),
                                             cloudKey), self.imageBytes)

    @defer.inlineCallbacks
    def test_partsFirstWithExecReadAcl(self):
        """Every part goes up before the manifest, each PUT with x-amz-acl aws-exec-read."""
        from eucad.bundle import transfer
        from eucad.bundle.credentials import Credentials
        manifestPath = yield self.bundled()
        client = transfer.s3Client(Credentials.fromEnvironment(self.env))
        sent = []

        def record(request, **kwargs):
            if request.method == "PUT" and "/images/" in request.url:
                sent.append((request.url.rpartition("/")[2],
                             request.headers.get("x-amz-acl")))
        client.meta.events.register("before-send.s3.PutObject", record)
        location = yield threads.deferToThread(transfer.uploadBundle, client,
                                               manifestPath, "images")
        self.assertEqual(location, "images/disk.img.manifest.xml")
        self.assertEqual(sent, [("disk.img.part.00", b"aws-exec-read"),
                                ("disk.img.manifest.xml", b"aws-exec-read")])

    @defer.inlineCallbacks
    def test_bucketOfAnother(self):
        """Uploading into another user's bucket says it exists and is not yours."""
        yield threads.deferToThread(self.s3(self.walrus.bob).create_bucket, Bucket="taken")
        manifestPath = yield self.bundled()
        status, _, err = yield self.cli(["upload", "-m", manifestPath, "-b", "taken"])
        self.assertEqual(status, 1)
        self.assertEqual(err, "eucad-image: Bucket taken exists and is not yours\n")

    @defer.inlineCallbacks
    def test_missingPartNotUploaded(self):
        """A bundle with a part missing on disk is refused before anything is sent."""
        manifestPath = yield self.bundled()
        os.remove(os.path.join(self.bundleDir(), "disk.img.part.00"))
        status, _, err = yield self.cli(["upload", "-m", manifestPath, "-b", "images"])
        self.assertEqual(status, 1)
        self.assertIn("Part disk.img.part.00 of the bundle is missing", err)
        buckets = yield threads.deferToThread(self.s3(self.walrus.alice).list_buckets)
        self.assertEqual(buckets["Buckets"], [])

    @defer.inlineCallbacks
    def test_deleteBundle(self):
        """``delete-bundle`` removes every part and the manifest (and with --clear the bucket)."""
        manifestPath = yield self.bundled()
        status, _, err = yield self.cli(["upload", "-m", manifestPath, "-b", "images"])
        self.assertEqual(status, 0, err)
        status, out, err = yield self.cli(["delete-bundle", "-b", "images", "-p",
                                           "disk.img", "--clear"])
        self.assertEqual((status, out, err), (0, "Deleted 2 objects from images\n", ""))
        buckets = yield threads.deferToThread(self.s3(self.walrus.alice).list_buckets)
        self.assertEqual(buckets["Buckets"], [])

    @defer.inlineCallbacks
    def test_deleteMissingBundle(self):
        """Deleting a bundle that is not there is a clear error."""
        status, _, err = yield self.cli(["delete-bundle", "-b", "nobucket", "-p", "x"])
        self.assertEqual(status, 1)
        self.assertIn("Cannot read nobucket/x.manifest.xml: NoSuchBucket", err)
