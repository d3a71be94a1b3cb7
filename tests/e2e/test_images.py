"""Issue 8's done-when, on the all-in-one: a fresh image from bundle to a booted VM.

After ``up`` (which itself registers the test image's kernel and ramdisk as
bundles through eucad-image), the admin bundles, uploads and registers a
fresh machine image with ``eucad-image`` and boto3; it becomes
``available``, and an instance of it boots from the image the node fetched
through Walrus's delivery port (it answers HTTP, and the node's cache holds
the image under its id and digest).  The bad inputs still refuse: a manifest
the user cannot read, a missing part, a wrong signature (InvalidManifest), a
corrupted part (the image ``failed`` with its reason).
"""

import os
import shutil

from twisted.internet import threads

from eucad.lab import labimages, testimage
from tests.e2e.test_boot import LabTestCase


class FreshImageTests(LabTestCase):

    def flow(self):
        from botocore.exceptions import ClientError
        cloud = self.cloud
        try:
            started = cloud.up(runInstance=False)
            creds = started["credentials"]
            ids = started["images"]
            ec2 = cloud.ec2(creds)
            eucarc = os.path.join(creds["EUCA_KEY_DIR"], "eucarc")
            env = labimages.sourcedEnvironment(eucarc)
            work = os.path.join(self.runDir, "fresh")
            os.makedirs(work)
            fresh = os.path.join(work, "fresh-root.img")
            shutil.copyfile(testimage.build(log=lambda m: None).path("root.img"), fresh)

            # Bundle, upload and register as three steps, the last through boto3.
            manifest = labimages.eucadImage(
                env, "bundle", "-i", fresh, "-d", work, "--kernel", ids["kernel"],
                "--ramdisk", ids["ramdisk"], "--part-size", "2k").strip()
            labimages.eucadImage(env, "upload", "-m", manifest, "-b", "fresh")
            imageId = ec2.register_image(ImageLocation="fresh/fresh-root.img.manifest.xml",
                                         Name="fresh")["ImageId"]
            image = labimages.waitAvailable(ec2, imageId)
            instance = cloud.runOne(ec2, imageId, timeout=300)
            cached = self.nodeCacheEntries()
            ec2.terminate_instances(InstanceIds=[instance["instanceId"]])

            refusals = self.badInputs(ec2, env, creds, work, fresh, ClientError)
            return imageId, image, instance, cached, refusals
        finally:
            cloud.down()

    def nodeCacheEntries(self):
        found = []
        for index in range(self.cloud.nodeCount):
            cache = os.path.join(self.cloud.nodePrefix("n%d" % (index + 1)), "instances",
                                 "eucalyptus", "cache")
            if os.path.isdir(cache):
                found += os.listdir(cache)
        return found

    def badInputs(self, ec2, env, creds, work, fresh, ClientError):
        """What each bad input gets: an EC2 error code, or the failed image's reason."""
        import boto3
        s3 = boto3.client("s3", endpoint_url=creds["S3_URL"], region_name="eucalyptus",
                          aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"])
        results = {}

        def register(location):
            try:
                return ec2.register_image(ImageLocation=location, Name="bad")["ImageId"]
            except ClientError as e:
                return e.response["Error"]["Code"]

        results["unreadable"] = register("nobody-has-this/none.manifest.xml")
        s3.delete_object(Bucket="fresh", Key="fresh-root.img.part.03")
        results["missing part"] = register("fresh/fresh-root.img.manifest.xml")
        body = s3.get_object(Bucket="fresh", Key="fresh-root.img.manifest.xml")["Body"].read()
        tampered = body.replace(b"<name>fresh-root.img</name>", b"<name>other-root.img</name>")
        s3.put_object(Bucket="fresh", Key="tampered.manifest.xml", Body=tampered)
        results["wrong signature"] = register("fresh/tampered.manifest.xml")
        # A part whose bytes changed: registered, then failed with the reason.
        manifest = labimages.eucadImage(env, "bundle", "-i", fresh, "-d", work,
                                        "-p", "corrupt", "--part-size", "2k").strip()
        part = os.path.join(work, "corrupt.part.02")
        with open(part, "r+b") as f:
            f.seek(100)
            f.write(b"not what was bundled")
        labimages.eucadImage(env, "upload", "-m", manifest, "-b", "fresh")
        corruptId = register("fresh/corrupt.manifest.xml")
        try:
            labimages.waitAvailable(ec2, corruptId)
            results["corrupt part"] = "available"
        except labimages.ImagePublishError as e:
            results["corrupt part"] = str(e)
        return results

    def test_freshImageBootsThroughWalrus(self):
        """A freshly bundled image becomes available, boots from the image the node
        fetched through Walrus, and the bad inputs of the issue are still refused."""
        d = threads.deferToThread(self.flow)

        def check(result):
            imageId, image, instance, cached, refusals = result
            self.assertEqual(image["State"], "available")
            self.assertEqual(image["ImageLocation"], "fresh/fresh-root.img.manifest.xml")
            self.assertTrue(instance["privateIp"])
            self.assertTrue(any(name.startswith(imageId + "-") for name in cached), cached)
            self.assertEqual(refusals["unreadable"], "InvalidManifest")
            self.assertEqual(refusals["missing part"], "InvalidManifest")
            self.assertEqual(refusals["wrong signature"], "InvalidManifest")
            self.assertIn("failed", refusals["corrupt part"])
            self.assertIn("SHA1", refusals["corrupt part"].upper())
            self.assertEqual(self.namespaces(), [])
        return d.addCallback(check)
