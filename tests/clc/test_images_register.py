"""RegisterImage and the image operations, driven by eucad-image and boto3 against a real CLC and Walrus."""

import hashlib
import os

from twisted.internet import defer, threads
from twisted.trial import unittest

from tests.bundle.helpers import keyPair, writePems
from tests.clc.imagecloud import ImageCloud


class RegisterImageTests(unittest.TestCase):

    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.c = ImageCloud(self)
        yield self.c.start()
        self.image = os.urandom(200 * 1024) + bytes(600 * 1024)

    @defer.inlineCallbacks
    def upload(self, user, name="disk.img", bucket=None, signer=None, cloudCertPath=None,
               data=None):
        """Bundle and upload as ``user``; the manifest's location."""
        path = self.c.imageFile(name, self.image if data is None else data)
        env = self.c.env(user, signer=signer, cloudCertPath=cloudCertPath)
        bundleDir = os.path.join(self.c.root, "bundle-" + name)
        os.makedirs(bundleDir, exist_ok=True)
        status, out, err = yield self.c.cli(["bundle", "-i", path, "-d", bundleDir,
                                             "--part-size", "1"], env)
        self.assertEqual(status, 0, err)
        status, out, err = yield self.c.cli(["upload", "-m", out.strip(), "-b",
                                             bucket or user + "-images"], env)
        self.assertEqual(status, 0, err)
        return out.split()[-1]

    @defer.inlineCallbacks
    def test_publishBecomesAvailable(self):
        """``eucad-image publish`` registers a pending image that becomes available,
        with the location bucket/name.manifest.xml and the decrypted bytes cached."""
        path = self.c.imageFile("root.img", self.image)
        status, out, err = yield self.c.cli(
            ["publish", "-i", path, "-b", "alice-images", "-n", "my image",
             "--part-size", "1"], self.c.env("alice"))
        self.assertEqual((status, err), (0, ""))
        self.assertRegex(out, r"^IMAGE\temi-[0-9a-f]{8}\n$")
        imageId = out.split()[1]
        item = yield self.c.settled(imageId)
        self.assertEqual(item["State"], "available")
        self.assertEqual(item["ImageLocation"], "alice-images/root.img.manifest.xml")
        self.assertEqual((item["OwnerId"], item["Name"], item["ImageType"], item["Public"]),
                         ("alice", "my image", "machine", False))
        cached = [n for n in os.listdir(self.c.cache.directory) if n.endswith(".img")]
        self.assertEqual(len(cached), 1)
        with open(os.path.join(self.c.cache.directory, cached[0]), "rb") as f:
            self.assertEqual(hashlib.sha1(f.read()).digest(), hashlib.sha1(self.image).digest())

    @defer.inlineCallbacks
    def test_registerWithBoto3(self):
        """boto3's RegisterImage with a prefix in the location gives an emi- id."""
        location = yield self.upload("alice", bucket="alice-images/v1")
        self.assertEqual(location, "alice-images/v1/disk.img.manifest.xml")
        answer = yield self.c.call("alice", "register_image", ImageLocation=location,
                                   Name="disk")
        self.assertRegex(answer["ImageId"], r"^emi-[0-9a-f]{8}$")
        item = yield self.c.settled(answer["ImageId"])
        self.assertEqual(item["State"], "available")

    @defer.inlineCallbacks
    def test_foreignBundle(self):
        """A bundle from an independent writer (ec2-ami-tools layout, uploaded with
        boto3) registers and decrypts to the same bytes."""
        from tests.bundle.helpers import independentBundle
        directory = os.path.join(self.c.root, "foreign")
        os.makedirs(directory)
        userKey, userCert = keyPair("alice")
        manifestPath = independentBundle(self.image, directory, "foreign", userKey,
                                         userCert, self.c.cloudCert, partSize=256 * 1024)
        s3 = self.c.s3("alice")

        def put():
            s3.create_bucket(Bucket="foreign")
            for name in sorted(os.listdir(directory)):
                s3.upload_file(os.path.join(directory, name), "foreign", name,
                               ExtraArgs={"ACL": "aws-exec-read"})
        yield threads.deferToThread(put)
        answer = yield self.c.call("alice", "register_image",
                                   ImageLocation="foreign/" + os.path.basename(manifestPath),
                                   Name="foreign")
        item = yield self.c.settled(answer["ImageId"])
        self.assertEqual((item["State"], item["Architecture"]), ("available", "i386"))
        cached = [n for n in os.listdir(self.c.cache.directory) if n.endswith(".img")]
        with open(os.path.join(self.c.cache.directory, cached[0]), "rb") as f:
            self.assertEqual(f.read(), self.image)

    @defer.inlineCallbacks
    def test_pendingResumedAtStart(self):
        """An image left pending by a stopped CLC is checked again and made
        available at start; one whose bundle is gone meanwhile fails with why."""
        from eucad.clc.imageprep import resumePending
        self.c.cloud.imagePreparer = None
        kept = yield self.upload("alice", name="kept.img")
        gone = yield self.upload("alice", name="gone.img")
        keptId = (yield self.c.call("alice", "register_image", ImageLocation=kept,
                                    Name="kept"))["ImageId"]
        goneId = (yield self.c.call("alice", "register_image", ImageLocation=gone,
                                    Name="gone"))["ImageId"]
        yield threads.deferToThread(self.c.s3("alice").delete_object,
                                    Bucket="alice-images", Key="gone.img.manifest.xml")
        resumed = yield resumePending(self.c.walrus.db, self.c.cloud.bundles,
                                      self.c.preparer)
        self.assertEqual(resumed, [keptId])
        item = yield self.c.settled(keptId)
        self.assertEqual(item["State"], "available")
        item = yield self.c.settled(goneId)
        self.assertEqual(item["State"], "failed")
        self.assertIn("Cannot read the manifest", item["StateReason"]["Message"])

    @defer.inlineCallbacks
    def test_kernelsOnlyByAdmin(self):
        """A kernel (by its vmlinuz name) is refused to a user and registered for the admin."""
        location = yield self.upload("alice", name="vmlinuz-6.1", data=b"kernel" * 100)
        code, message = yield self.c.error("alice", "register_image", ImageLocation=location,
                                           Name="kernel")
        self.assertEqual(code, "UnauthorizedOperation")
        self.assertIn("Only the administrator", message)
        location = yield self.upload("admin", name="vmlinuz-6.1", data=b"kernel" * 100)
        answer = yield self.c.call("admin", "register_image", ImageLocation=location,
                                   Name="kernel")
        self.assertRegex(answer["ImageId"], r"^eki-[0-9a-f]{8}$")
        item = yield self.c.settled(answer["ImageId"])
        self.assertEqual((item["ImageType"], item["State"]), ("kernel", "available"))

    @defer.inlineCallbacks
    def test_machineImageNamesKernel(self):
        """A machine image registered with KernelId/RamdiskId of available images keeps them."""
        kernel = yield self.upload("admin", name="vmlinuz", data=b"k" * 1000)
        ramdisk = yield self.upload("admin", name="initrd.img", data=b"r" * 1000)
        eki = (yield self.c.call("admin", "register_image", ImageLocation=kernel,
                                 Name="kernel"))["ImageId"]
        eri = (yield self.c.call("admin", "register_image", ImageLocation=ramdisk,
                                 Name="ramdisk"))["ImageId"]
        self.assertTrue(eri.startswith("eri-"))
        yield self.c.settled(eki)
        yield self.c.settled(eri)
        location = yield self.upload("admin")
        emi = (yield self.c.call("admin", "register_image", ImageLocation=location,
                                 Name="machine", KernelId=eki, RamdiskId=eri))["ImageId"]
        item = yield self.c.settled(emi)
        self.assertEqual((item["KernelId"], item["RamdiskId"]), (eki, eri))

    @defer.inlineCallbacks
    def test_wrongSignature(self):
        """A manifest signed by someone else's key is refused: InvalidManifest."""
        location = yield self.upload("alice", signer="bob")
        code, message = yield self.c.error("alice", "register_image", ImageLocation=location,
                                           Name="xxx")
        self.assertEqual(code, "InvalidManifest")
        self.assertIn("signature does not match", message)

    @defer.inlineCallbacks
    def test_adminAcceptsAnyUsersSignature(self):
        """The admin may register a bundle signed by any user's certificate."""
        location = yield self.upload("admin", signer="alice")
        answer = yield self.c.call("admin", "register_image", ImageLocation=location,
                                   Name="xxx")
        self.assertTrue(answer["ImageId"].startswith("emi-"))

    @defer.inlineCallbacks
    def test_noCertificateIssued(self):
        """A user without an issued certificate cannot register (nothing to check against)."""
        self.c.certificates["alice"] = []
        location = yield self.upload("alice")
        code, message = yield self.c.error("alice", "register_image", ImageLocation=location,
                                           Name="xxx")
        self.assertEqual(code, "InvalidManifest")
        self.assertIn("No certificate has been issued", message)

    @defer.inlineCallbacks
    def test_missingPart(self):
        """A manifest whose part is gone from Walrus is refused, naming the part."""
        location = yield self.upload("alice")
        yield threads.deferToThread(self.c.s3("alice").delete_object,
                                    Bucket="alice-images", Key="disk.img.part.00")
        code, message = yield self.c.error("alice", "register_image", ImageLocation=location,
                                           Name="xxx")
        self.assertEqual(code, "InvalidManifest")
        self.assertIn("parts are missing from alice-images: disk.img.part.00", message)

    @defer.inlineCallbacks
    def test_corruptPartFails(self):
        """A part replaced by other bytes registers, then goes to failed with the reason."""
        location = yield self.upload("alice")
        yield threads.deferToThread(self.c.s3("alice").put_object, Bucket="alice-images",
                                    Key="disk.img.part.00", Body=b"\0" * 5000)
        answer = yield self.c.call("alice", "register_image", ImageLocation=location,
                                   Name="xxx")
        item = yield self.c.settled(answer["ImageId"])
        self.assertEqual(item["State"], "failed")
        self.assertIn("disk.img.part.00 is corrupt", item["StateReason"]["Message"])
        code, _ = yield self.c.error("alice", "run_instances", ImageId=answer["ImageId"],
                                     MinCount=1, MaxCount=1)
        self.assertEqual(code, "InvalidAMIID.NotFound")
        self.assertEqual([n for n in os.listdir(self.c.cache.directory)], [])

    @defer.inlineCallbacks
    def test_manifestOfAnotherUser(self):
        """Bob cannot register Alice's manifest: he cannot read it."""
        location = yield self.upload("alice")
        code, message = yield self.c.error("bob", "register_image", ImageLocation=location,
                                           Name="xxx")
        self.assertEqual(code, "InvalidManifest")
        self.assertIn("Cannot read the manifest alice-images/disk.img.manifest.xml", message)

    @defer.inlineCallbacks
    def test_missingManifest(self):
        """A location with nothing there is refused."""
        code, message = yield self.c.error("alice", "register_image",
                                           ImageLocation="nobucket/x.manifest.xml", Name="xxx")
        self.assertEqual(code, "InvalidManifest")
        self.assertIn("NoSuchBucket", message)

    @defer.inlineCallbacks
    def test_oversizedManifest(self):
        """A manifest over the size limit is refused without being parsed."""
        s3 = self.c.s3("alice")
        yield threads.deferToThread(s3.create_bucket, Bucket="big")
        yield threads.deferToThread(s3.put_object, Bucket="big", Key="x.manifest.xml",
                                    Body=b"<manifest>" + b" " * (2 * 1024 * 1024))
        code, message = yield self.c.error("alice", "register_image",
                                           ImageLocation="big/x.manifest.xml", Name="xxx")
        self.assertEqual(code, "InvalidManifest")
        self.assertIn("too large", message)

    @defer.inlineCallbacks
    def test_unreadableManifest(self):
        """A manifest that is not XML is refused with the parser's reason."""
        s3 = self.c.s3("alice")
        yield threads.deferToThread(s3.create_bucket, Bucket="junk")
        yield threads.deferToThread(s3.put_object, Bucket="junk", Key="x.manifest.xml",
                                    Body=b"\x00 this is not xml")
        code, message = yield self.c.error("alice", "register_image",
                                           ImageLocation="junk/x.manifest.xml", Name="xxx")
        self.assertEqual(code, "InvalidManifest")
        self.assertIn("not well-formed", message)

    @defer.inlineCallbacks
    def test_encryptedToAnotherCertificate(self):
        """A bundle encrypted to a certificate that is not the cloud's is refused."""
        otherCert, _ = writePems(self.c.root, "elsewhere")
        location = yield self.upload("alice", cloudCertPath=otherCert)
        code, message = yield self.c.error("alice", "register_image", ImageLocation=location,
                                           Name="xxx")
        self.assertEqual(code, "InvalidManifest")
        self.assertIn("not encrypted to this cloud's certificate", message)

    @defer.inlineCallbacks
    def test_badLocation(self):
        """A location that is not bucket/[prefix/]name.manifest.xml is InvalidParameterValue."""
        for location in ("nobucket", "b/x.xml", "b/../x.manifest.xml", "b/.manifest.xml"):
            code, _ = yield self.c.error("alice", "register_image", ImageLocation=location,
                                         Name="xxx")
            self.assertEqual(code, "InvalidParameterValue", location)


class ImageOperationTests(unittest.TestCase):
    """Deregister, DescribeImages selections and launch permissions on one registered image."""

    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.c = ImageCloud(self)
        yield self.c.start()
        path = self.c.imageFile("shared.img", os.urandom(20000))
        status, out, err = yield self.c.cli(["publish", "-i", path, "-b", "alice-images"],
                                            self.c.env("alice"))
        self.assertEqual(status, 0, err)
        self.imageId = out.split()[1]
        yield self.c.settled(self.imageId)

    @defer.inlineCallbacks
    def visibleTo(self, user, **params):
        answer = yield self.c.call(user, "describe_images", **params)
        return [image["ImageId"] for image in answer["Images"]]

    @defer.inlineCallbacks
    def test_privateByDefault(self):
        """A registered image is its owner's (and the admin's) only."""
        self.assertEqual((yield self.visibleTo("alice")), [self.imageId])
        self.assertEqual((yield self.visibleTo("bob")), [])
        self.assertEqual((yield self.visibleTo("admin")), [self.imageId])
        code, _ = yield self.c.error("bob", "describe_images", ImageIds=[self.imageId])
        self.assertEqual(code, "InvalidAMIID.NotFound")

    @defer.inlineCallbacks
    def test_launchPermissionForUser(self):
        """Adding bob's launch permission shows him the image (ExecutableBy self);
        removing it hides it again."""
        yield self.c.call("alice", "modify_image_attribute", ImageId=self.imageId,
                          LaunchPermission={"Add": [{"UserId": "bob"}]})
        self.assertEqual((yield self.visibleTo("bob", ExecutableUsers=["self"])), [self.imageId])
        self.assertEqual((yield self.visibleTo("bob", ExecutableUsers=["all"])), [])
        attribute = yield self.c.call("alice", "describe_image_attribute",
                                      ImageId=self.imageId, Attribute="launchPermission")
        self.assertEqual(attribute["LaunchPermissions"], [{"UserId": "bob"}])
        yield self.c.call("alice", "modify_image_attribute", ImageId=self.imageId,
                          Attribute="launchPermission", OperationType="remove",
                          UserIds=["bob"])
        self.assertEqual((yield self.visibleTo("bob")), [])

    @defer.inlineCallbacks
    def test_publicAndReset(self):
        """Group all makes the image public; ResetImageAttribute makes it private again."""
        yield self.c.call("alice", "modify_image_attribute", ImageId=self.imageId,
                          LaunchPermission={"Add": [{"Group": "all"}]})
        self.assertEqual((yield self.visibleTo("bob", ExecutableUsers=["all"])), [self.imageId])
        attribute = yield self.c.call("alice", "describe_image_attribute",
                                      ImageId=self.imageId, Attribute="launchPermission")
        self.assertEqual(attribute["LaunchPermissions"], [{"Group": "all"}])
        code, _ = yield self.c.error("bob", "modify_image_attribute", ImageId=self.imageId,
                                     LaunchPermission={"Add": [{"UserId": "bob"}]})
        self.assertEqual(code, "AuthFailure")
        yield self.c.call("alice", "reset_image_attribute", ImageId=self.imageId,
                          Attribute="launchPermission")
        self.assertEqual((yield self.visibleTo("bob")), [])

    @defer.inlineCallbacks
    def test_unknownUserOrGroup(self):
        """Launch permission for a user that does not exist or a group other than all fails."""
        code, _ = yield self.c.error("alice", "modify_image_attribute", ImageId=self.imageId,
                                     LaunchPermission={"Add": [{"UserId": "nobody"}]})
        self.assertEqual(code, "InvalidUserID.Malformed")
        code, _ = yield self.c.error("alice", "modify_image_attribute", ImageId=self.imageId,
                                     LaunchPermission={"Add": [{"Group": "admins"}]})
        self.assertEqual(code, "InvalidParameterValue")

    @defer.inlineCallbacks
    def test_description(self):
        """The description is set, described and reset."""
        yield self.c.call("alice", "modify_image_attribute", ImageId=self.imageId,
                          Description={"Value": "a test image"})
        attribute = yield self.c.call("alice", "describe_image_attribute",
                                      ImageId=self.imageId, Attribute="description")
        self.assertEqual(attribute["Description"], {"Value": "a test image"})
        answer = yield self.c.call("alice", "describe_images", Filters=[
            {"Name": "description", "Values": ["a test*"]}])
        self.assertEqual([i["ImageId"] for i in answer["Images"]], [self.imageId])
        yield self.c.call("alice", "reset_image_attribute", ImageId=self.imageId,
                          Attribute="description")
        attribute = yield self.c.call("alice", "describe_image_attribute",
                                      ImageId=self.imageId, Attribute="description")
        self.assertNotIn("Value", attribute.get("Description", {}))

    @defer.inlineCallbacks
    def test_ownerAndFilters(self):
        """Owner=self / a user id and state filters select as EC2 does."""
        self.assertEqual((yield self.visibleTo("alice", Owners=["self"])), [self.imageId])
        self.assertEqual((yield self.visibleTo("admin", Owners=["alice"])), [self.imageId])
        self.assertEqual((yield self.visibleTo("admin", Owners=["self"])), [])
        self.assertEqual((yield self.visibleTo("alice", Filters=[
            {"Name": "state", "Values": ["pending"]}])), [])
        self.assertEqual((yield self.visibleTo("alice", Filters=[
            {"Name": "manifest-location", "Values": ["alice-images/*"]}])), [self.imageId])

    @defer.inlineCallbacks
    def test_deregister(self):
        """Only the owner (or admin) deregisters; then the image is gone."""
        code, _ = yield self.c.error("bob", "deregister_image", ImageId=self.imageId)
        self.assertEqual(code, "InvalidAMIID.NotFound")
        yield self.c.call("alice", "deregister_image", ImageId=self.imageId)
        self.assertEqual((yield self.visibleTo("alice")), [])
        code, _ = yield self.c.error("alice", "deregister_image", ImageId=self.imageId)
        self.assertEqual(code, "InvalidAMIID.NotFound")


class OpenImageTests(unittest.TestCase):
    """``ImageServices.openImage``, what the delivery port serves, over a real Walrus."""

    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        from eucad.clc.imageservices import ImageServices
        from eucad.walrus.imagecache.httpparts import S3PartOpener
        self.c = ImageCloud(self)
        yield self.c.start()
        self.image = os.urandom(100 * 1024) + bytes(300 * 1024)
        services = ImageServices(None, None, self.c.walrus.db, self.c.certificatesFor,
                                 None, makeImageCache=None, makePartOpener=S3PartOpener)
        # What startService would make from an install, from the test cloud instead.
        services.walrusUrl = self.c.walrus.endpoint
        services.cache = self.c.cache
        services.checker = self.c.cloud.bundles
        self.services = services

    @defer.inlineCallbacks
    def publish(self, name):
        path = self.c.imageFile(name, self.image)
        status, out, err = yield self.c.cli(["publish", "-i", path, "-b", "alice-images",
                                             "--part-size", "1"], self.c.env("alice"))
        self.assertEqual(status, 0, err)
        return out.split()[1]

    @defer.inlineCallbacks
    def read(self, imageId):
        opened = yield self.services.openImage(imageId)
        try:
            return opened.file.read()
        finally:
            opened.file.close()

    @defer.inlineCallbacks
    def test_availableEvictedAndChanged(self):
        """An available image opens; evicted, it is decrypted again; its bundle
        replaced by other bytes, it is refused; pending and unknown ids are told apart."""
        from eucad.bundle.errors import ImageNotDeliverable, ImageNotReady
        imageId = yield self.publish("disk.img")
        pending = self.services.openImage(imageId)
        yield self.assertFailure(pending, ImageNotReady)
        yield self.c.settled(imageId)
        self.assertEqual((yield self.read(imageId)), self.image)
        # The decrypted copy gone (a cache that lost it): decrypted again from the bundle.
        from eucad.walrus.imagecache import ImageCache
        empty = ImageCache(os.path.join(self.c.root, "empty-cache"), 16 * 1024 * 1024,
                           self.c.cloudKey, threads.deferToThread)
        yield empty.start()
        self.services.cache = empty
        self.assertEqual((yield self.read(imageId)), self.image)
        self.assertEqual(empty.decryptions, 1)

        self.image = os.urandom(400 * 1024)
        path = self.c.imageFile("disk.img", self.image)
        status, _, err = yield self.c.cli(["bundle", "-i", path, "-d", self.c.root,
                                           "--part-size", "1"], self.c.env("alice"))
        self.assertEqual(status, 0, err)
        status, _, err = yield self.c.cli(
            ["upload", "-m", os.path.join(self.c.root, "disk.img.manifest.xml"),
             "-b", "alice-images"], self.c.env("alice"))
        self.assertEqual(status, 0, err)
        failure = yield self.assertFailure(self.services.openImage(imageId),
                                           ImageNotDeliverable)
        self.assertIn("changed", str(failure))
        yield self.assertFailure(self.services.openImage("emi-00000000"),
                                 ImageNotDeliverable)
