"""RegisterImage against the real ``eucalyptus-clc`` daemon (Walrus on its port).

The admin and a second user take their credentials from ``euca_conf
--get-credentials``, source the eucarc in bash, and run the ``eucad-image``
console script and boto3 as a user would: a published bundle becomes
``available`` with its decrypted size and digest, a manifest the user cannot
read is refused with EC2's error.  The decrypted image is then served on the
delivery port over mutual TLS to a node's certificate and the admin's, and
refused to another user's.
"""

import hashlib
import http.client
import os
import ssl
import subprocess
import sys
import time
import zipfile

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from twisted.internet import threads
from twisted.trial import unittest

from eucad.common import trust
from tests.clc.livecloud import LiveCloud, freePort

IMAGE_BYTES = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(40000))


def userEnvironment(cloud, name, user=None):
    """The environment of a shell that sourced ``user``'s eucarc (from their zip)."""
    path = os.path.join(cloud.prefix, name + ".zip")
    code, _, err = cloud.euca_conf("--get-credentials", path,
                                   *(["--user", user] if user else []))
    if code != 0:
        raise AssertionError("--get-credentials failed: %s" % (err,))
    directory = os.path.join(cloud.prefix, name)
    with zipfile.ZipFile(path) as archive:
        archive.extractall(directory)
    home = os.path.join(cloud.prefix, "home-" + name)
    os.makedirs(home, exist_ok=True)
    dumped = subprocess.run(["bash", "-c", '. "%s/eucarc" && env -0' % (directory,)],
                            env=cloud.clientEnv(home), cwd=home, check=True,
                            stdout=subprocess.PIPE).stdout
    return dict(item.split("=", 1) for item in dumped.decode().split("\0") if "=" in item)


def eucadImage(env, *argv):
    """``(status, stdout, stderr)`` of the ``eucad-image`` console script."""
    script = os.path.join(os.path.dirname(sys.executable), "eucad-image")
    result = subprocess.run([script, "-q"] + list(argv), env=env, cwd=env["HOME"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=300)
    return result.returncode, result.stdout, result.stderr


def fetchImage(cloud, port, imageId, certPath, keyPath):
    """``(status, headers, body)`` of GET /images/ID on the delivery port with a client cert."""
    context = ssl.create_default_context(
        cafile=os.path.join(cloud.layout.keys, trust.CA_CERT))
    context.load_cert_chain(certPath, keyPath)
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=60)
    try:
        connection.request("GET", "/images/" + imageId)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def ec2(env):
    return boto3.client("ec2", endpoint_url=env["EC2_URL"], region_name="eucalyptus",
                        aws_access_key_id=env["EC2_ACCESS_KEY"],
                        aws_secret_access_key=env["EC2_SECRET_KEY"],
                        config=Config(retries={"max_attempts": 1}))


def waitForState(client, imageId, timeout=120):
    """The image once it left ``pending`` (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        image = client.describe_images(ImageIds=[imageId])["Images"][0]
        if image["State"] != "pending":
            return image
        time.sleep(0.3)
    raise AssertionError("%s still pending after %d s" % (imageId, timeout))


class RegisterImageLiveTests(unittest.TestCase):

    timeout = 400

    def test_publishedBundleBecomesAvailable(self):
        """eucad-image publish as the admin gives an emi- that turns available;
        bob cannot register the admin's manifest; the delivery port gives the
        decrypted bytes to a node's and the admin's certificates, not bob's."""
        self.imagePort = freePort()
        cloud = LiveCloud(self, extraSettings=["WALRUS_IMAGE_PORT=%d" % (self.imagePort,)])
        return threads.deferToThread(self.scenario, cloud)

    def scenario(self, cloud):
        cloud.start()
        code, _, err = cloud.euca_conf("--add-user", "bob", "--email", "bob@example.com")
        self.assertEqual(code, 0, err)
        admin = userEnvironment(cloud, "admin")
        bob = userEnvironment(cloud, "bob", user="bob")
        imagePath = os.path.join(admin["HOME"], "disk.img")
        with open(imagePath, "wb") as f:
            f.write(IMAGE_BYTES)

        code, out, err = eucadImage(admin, "publish", "-i", imagePath, "-b", "images",
                                    "--part-size", "256k")
        self.assertEqual(code, 0, err)
        imageId = out.split()[-1]
        self.assertTrue(imageId.startswith("emi-"), out)
        client = ec2(admin)
        image = waitForState(client, imageId)
        self.assertEqual(image["State"], "available", image.get("StateReason"))
        self.assertEqual(image["ImageLocation"], "images/disk.img.manifest.xml")

        with self.assertRaises(ClientError) as caught:
            ec2(bob).register_image(ImageLocation="images/disk.img.manifest.xml",
                                    Name="stolen")
        self.assertEqual(caught.exception.response["Error"]["Code"], "InvalidManifest")

        keys = cloud.layout.keys
        nodeCert, nodeKey = trust.certPath(keys, "node"), trust.keyPath(keys, "node")
        status, headers, body = fetchImage(cloud, self.imagePort, imageId, nodeCert, nodeKey)
        self.assertEqual(status, 200, body[:200])
        self.assertEqual(body, IMAGE_BYTES)
        self.assertEqual(headers["X-Image-Sha1"], hashlib.sha1(IMAGE_BYTES).hexdigest())
        status, _, body = fetchImage(cloud, self.imagePort, imageId, admin["EC2_CERT"],
                                     admin["EC2_PRIVATE_KEY"])
        self.assertEqual((status, body), (200, IMAGE_BYTES))
        status, _, body = fetchImage(cloud, self.imagePort, imageId, bob["EC2_CERT"],
                                     bob["EC2_PRIVATE_KEY"])
        self.assertEqual(status, 403, body)
        status, _, _ = fetchImage(cloud, self.imagePort, "emi-00000000", nodeCert, nodeKey)
        self.assertEqual(status, 404)
