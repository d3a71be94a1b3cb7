"""make run's image registration through eucad-image, and the move from path images.

Against a real ``eucalyptus-clc`` daemon (Walrus on its port): a cloud that an
earlier ``make run`` left with images registered by path (with
``eucad-register-image``, its ``images.json`` naming them) gets the test
image's three files published as bundles by the admin, available, with
``ImageLocation`` ``bucket/name.manifest.xml``; the path images are
deregistered; its other user and that user's keys are untouched.  A second
``up`` reuses the bundles.
"""

import hashlib
import json
import os

import boto3
from twisted.internet import threads
from twisted.trial import unittest

from eucad.clc import register_local
from eucad.lab import labimages
from eucad.lab.testimage import TestImage
from tests.clc.livecloud import LiveCloud
from tests.commandline import run


def quiet(message):
    pass


def client(env):
    return boto3.client("ec2", endpoint_url=env["EC2_URL"], region_name="eucalyptus",
                        aws_access_key_id=env["EC2_ACCESS_KEY"],
                        aws_secret_access_key=env["EC2_SECRET_KEY"])


class PublishTestImageTests(unittest.TestCase):

    timeout = 400

    def test_pathImagesReplacedByBundles(self):
        """An earlier run's path images give way to bundles; users and their keys stay."""
        cloud = LiveCloud(self)
        return threads.deferToThread(self.scenario, cloud)

    def makeTestImage(self, directory):
        os.makedirs(directory)
        files = {}
        for name, size in (("vmlinuz", 70000), ("initrd.img", 30000), ("root.img", 200000)):
            data = hashlib.sha256(name.encode()).digest() * (size // 32)
            with open(os.path.join(directory, name), "wb") as f:
                f.write(data)
            files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        return TestImage(directory, {"files": files})

    def credentials(self, cloud, name, user=None):
        directory = os.path.join(cloud.prefix, name)
        code, _, err = cloud.euca_conf("--get-credentials", directory,
                                       *(["--user", user] if user else []))
        self.assertEqual(code, 0, err)
        return os.path.join(directory, "eucarc")

    def scenario(self, cloud):
        runDir = os.path.join(cloud.prefix, "run")
        os.makedirs(runDir)
        image = self.makeTestImage(os.path.join(cloud.prefix, "test-image"))
        # What an earlier make run did: path images, before the daemon started.
        old = {}
        for kind, name in labimages.FILES:
            argv = ["--prefix", cloud.prefix, "--kind", kind, "--path", image.path(name)]
            if kind == "machine":
                argv += ["--kernel", old["kernel"], "--ramdisk", old["ramdisk"]]
            code, out, err = run(register_local.main, argv)
            self.assertEqual(code, 0, err)
            old[kind] = out.split()[-1]
        with open(os.path.join(runDir, labimages.RECORD_FILE), "w") as f:
            json.dump({"digests": {n: image.manifest["files"][n]["sha256"]
                                   for _, n in labimages.FILES}, "ids": old}, f)
        cloud.start()
        code, _, err = cloud.euca_conf("--add-user", "bob", "--email", "bob@example.com")
        self.assertEqual(code, 0, err)
        bob = labimages.sourcedEnvironment(self.credentials(cloud, "bob", "bob"))
        adminRc = self.credentials(cloud, "admin")
        ec2 = client(labimages.sourcedEnvironment(adminRc))

        ids = labimages.publishTestImage(runDir, image, adminRc, ec2, log=quiet)

        self.assertEqual(sorted(ids), ["kernel", "machine", "ramdisk"])
        self.assertTrue(ids["kernel"].startswith("eki-"))
        self.assertTrue(ids["ramdisk"].startswith("eri-"))
        self.assertTrue(ids["machine"].startswith("emi-"))
        images = {i["ImageId"]: i for i in ec2.describe_images()["Images"]}
        self.assertEqual(sorted(images), sorted(ids.values()))
        for kind, name in labimages.FILES:
            described = images[ids[kind]]
            self.assertEqual(described["State"], "available")
            self.assertEqual(described["ImageLocation"], "%s/%s-%s.manifest.xml" % (
                labimages.BUCKET, name, image.manifest["files"][name]["sha256"][:12]))
        self.assertEqual(images[ids["machine"]]["KernelId"], ids["kernel"])
        self.assertEqual(images[ids["machine"]]["RamdiskId"], ids["ramdisk"])
        # bob is still there, with the keys he had.
        self.assertEqual(client(bob).describe_instances()["Reservations"], [])
        code, out, _ = cloud.euca_conf("--list-users")
        self.assertIn("bob", out)
        with open(os.path.join(runDir, labimages.RECORD_FILE)) as f:
            self.assertEqual(json.load(f)["source"], labimages.SOURCE)

        again = labimages.publishTestImage(runDir, image, adminRc, ec2, log=quiet)
        self.assertEqual(again, ids)
        self.assertEqual(len(ec2.describe_images()["Images"]), 3)
