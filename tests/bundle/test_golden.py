"""The golden bundle: made once by ``eucad-image bundle`` with its own test keys, kept in tests/bundle/golden.

It pins the format: if the reader (or a change to the writer's
conventions) stops understanding bundles made by an earlier version, this
fails.  To remake it (only when the format deliberately changes):
``eucad-image bundle -i golden.img -d tests/bundle/golden --part-size 32k``
with EC2_CERT/EC2_PRIVATE_KEY/EUCALYPTUS_CERT naming the key files there
and the image from ``goldenImage()``.
"""

import hashlib
import io
import os

from twisted.trial import unittest

from eucad.bundle import crypto, reader
from eucad.bundle.manifest import parseManifest
from tests.bundle.helpers import independentUnbundle

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def goldenImage():
    """96 KiB of pseudo-random blocks and zero runs, the same on every run."""
    blocks = []
    seed = b"eucad golden image"
    for index in range(24):
        if index % 3 == 2:
            blocks.append(bytes(4096))
        else:
            block = b""
            while len(block) < 4096:
                seed = hashlib.sha256(seed).digest()
                block += seed
            blocks.append(block[:4096])
    return b"".join(blocks)


def _read(name):
    with open(os.path.join(GOLDEN, name), "rb") as f:
        return f.read()


class GoldenBundleTests(unittest.TestCase):

    def setUp(self):
        self.manifest = parseManifest(_read("golden.img.manifest.xml"))
        self.cloudKey = crypto.loadPrivateKey(_read("cloud-pk.pem"))
        self.userKey = crypto.loadPrivateKey(_read("user-pk.pem"))
        self.userCert = crypto.loadCertificate(_read("user-cert.pem"))

    def decrypt(self, key):
        aesKey = crypto.decryptSecret(key, self.manifest.ec2EncryptedKey
                                      if key is self.cloudKey else
                                      self.manifest.userEncryptedKey)
        iv = crypto.decryptSecret(key, self.manifest.ec2EncryptedIv
                                  if key is self.cloudKey else
                                  self.manifest.userEncryptedIv)
        output = io.BytesIO()
        result = reader.decryptBundle(
            self.manifest, aesKey, iv, lambda name: open(os.path.join(GOLDEN, name), "rb"),
            output)
        return output.getvalue(), result

    def test_decryptsByteForByte(self):
        """The cloud's key opens the golden bundle into exactly the golden image."""
        data, (sha1, size) = self.decrypt(self.cloudKey)
        self.assertEqual(data, goldenImage())
        self.assertEqual((sha1, size), (hashlib.sha1(goldenImage()).hexdigest(), 98304))

    def test_userCopyOfKey(self):
        """The user's copy of the key opens it too."""
        data, _ = self.decrypt(self.userKey)
        self.assertEqual(data, goldenImage())

    def test_signatureAndLayout(self):
        """The signature verifies on the bytes as stored; three 32 KiB-or-less parts."""
        self.assertIsNotNone(crypto.verifyManifest(self.manifest, [self.userCert]))
        self.assertEqual([part.filename for part in self.manifest.parts],
                         ["golden.img.part.%02d" % i for i in range(len(self.manifest.parts))])
        self.assertGreater(len(self.manifest.parts), 1)
        self.assertEqual((self.manifest.name, self.manifest.size, self.manifest.imageType),
                         ("golden.img", 98304, "machine"))

    def test_independentReader(self):
        """A reader sharing no code with the project's opens the golden bundle."""
        image = independentUnbundle(os.path.join(GOLDEN, "golden.img.manifest.xml"),
                                    self.cloudKey)
        self.assertEqual(image, goldenImage())
