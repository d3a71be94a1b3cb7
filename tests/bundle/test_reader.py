"""Decrypting bundles: round trips both ways between independent implementations, and every damaged or hostile bundle refused with its reason."""

import gzip
import hashlib
import io
import os
import tarfile

from twisted.trial import unittest

from eucad.bundle import crypto, reader, writer
from eucad.bundle.manifest import parseManifest
from tests.bundle.helpers import independentBundle, independentUnbundle, keyPair


def imageBytes(size):
    """Half random, half zeros: compressible like a real disk image."""
    return os.urandom(size // 2) + bytes(size - size // 2)


class ReaderTests(unittest.TestCase):

    def setUp(self):
        self.userKey, self.userCert = keyPair("alice")
        self.cloudKey, self.cloudCert = keyPair("cloud")
        self.directory = self.mktemp()
        os.makedirs(self.directory)

    def openPart(self, name):
        return open(os.path.join(self.directory, name), "rb")

    def decrypt(self, manifestPath, key=None):
        with open(manifestPath, "rb") as f:
            manifest = parseManifest(f.read())
        key = key or self.cloudKey
        aesKey = crypto.decryptSecret(key, manifest.ec2EncryptedKey)
        iv = crypto.decryptSecret(key, manifest.ec2EncryptedIv)
        output = io.BytesIO()
        sha1, size = reader.decryptBundle(manifest, aesKey, iv, self.openPart, output)
        return output.getvalue(), sha1, size

    def ownBundle(self, image, partSize=64 * 1024):
        path = os.path.join(self.directory, "disk.img")
        with open(path, "wb") as f:
            f.write(image)
        bundleDir = os.path.join(self.directory)
        manifestPath, _ = writer.bundleImage(path, bundleDir, self.userCert, self.userKey,
                                             self.cloudCert, prefix="disk",
                                             partSize=partSize)
        return manifestPath

    def independent(self, image=b"", **kwargs):
        return independentBundle(image, self.directory, "img", self.userKey,
                                 self.userCert, self.cloudCert, **kwargs)

    def assertRefused(self, manifestPath, fragment, errorType=reader.BundleReadError):
        error = self.assertRaises(errorType, self.decrypt, manifestPath)
        self.assertIn(fragment, str(error))
        return error

    def test_ownRoundTrip(self):
        """The writer's bundle decrypts byte for byte, with its SHA1 and size."""
        image = imageBytes(300 * 1024)
        data, sha1, size = self.decrypt(self.ownBundle(image))
        self.assertEqual(data, image)
        self.assertEqual((sha1, size), (hashlib.sha1(image).hexdigest(), len(image)))

    def test_userCanDecryptToo(self):
        """The user's copy of the key (user_encrypted_*) opens the same bundle."""
        image = imageBytes(10000)
        manifestPath = self.ownBundle(image)
        self.assertEqual(independentUnbundle(manifestPath, self.userKey, "user"), image)

    def test_independentReaderReadsOwnBundle(self):
        """A reader sharing no code (etree, openssl enc, tarfile) reads the writer's bundle."""
        image = imageBytes(200 * 1024)
        self.assertEqual(independentUnbundle(self.ownBundle(image), self.cloudKey), image)

    def test_readsIndependentBundle(self):
        """A bundle from a writer sharing no code decrypts byte for byte."""
        image = imageBytes(50000)
        data, sha1, _ = self.decrypt(self.independent(image))
        self.assertEqual(data, image)

    def test_emptyImage(self):
        """An empty image is a valid bundle of zero bytes."""
        data, sha1, size = self.decrypt(self.ownBundle(b""))
        self.assertEqual((data, size), (b"", 0))

    def test_corruptedPart(self):
        """A part whose bytes changed is refused as corrupt, naming the part."""
        manifestPath = self.ownBundle(imageBytes(300 * 1024))
        with open(os.path.join(self.directory, "disk.part.01"), "r+b") as f:
            f.seek(100)
            f.write(b"\0\1\2\3")
        self.assertRefused(manifestPath, "disk.part.01 is corrupt", reader.CorruptPart)

    def test_corruptedLastBytes(self):
        """Damage at the very end (the padding) is still found."""
        manifestPath = self.ownBundle(imageBytes(100 * 1024))
        last = sorted(n for n in os.listdir(self.directory) if ".part." in n)[-1]
        with open(os.path.join(self.directory, last), "r+b") as f:
            f.seek(-1, os.SEEK_END)
            byte = f.read(1)
            f.seek(-1, os.SEEK_END)
            f.write(bytes([byte[0] ^ 1]))
        self.assertRefused(manifestPath, "is corrupt", reader.CorruptPart)

    def test_missingPart(self):
        """A missing part is refused, naming it."""
        manifestPath = self.ownBundle(imageBytes(300 * 1024))
        os.remove(os.path.join(self.directory, "disk.part.02"))
        self.assertRefused(manifestPath, "disk.part.02 of the bundle is missing",
                           reader.MissingPart)

    def test_wrongCloudKey(self):
        """A bundle encrypted to another cloud (the CA's certificate, say) is refused."""
        manifestPath = self.ownBundle(b"abc")
        otherKey, _ = keyPair("bob")
        self.assertRaises(crypto.BundleKeyError, self.decrypt, manifestPath, otherKey)

    def test_symlinkMember(self):
        """A tar whose member is a symbolic link is refused."""
        link = tarfile.TarInfo("img")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/shadow"
        self.assertRefused(self.independent(tarMember=link), "not a plain file")

    def test_hardlinkMember(self):
        """A hard link is refused."""
        link = tarfile.TarInfo("img")
        link.type = tarfile.LNKTYPE
        link.linkname = "other"
        self.assertRefused(self.independent(tarMember=link), "not a plain file")

    def test_deviceMember(self):
        """A device node is refused."""
        device = tarfile.TarInfo("img")
        device.type = tarfile.CHRTYPE
        self.assertRefused(self.independent(tarMember=device), "not a plain file")

    def test_absolutePath(self):
        """A member named by an absolute path is refused."""
        member = tarfile.TarInfo("/etc/cron.d/evil")
        member.size = 5
        tarBuffer = io.BytesIO()
        with tarfile.open(fileobj=tarBuffer, mode="w") as t:
            t.addfile(member, io.BytesIO(b"hello"))
        manifestPath = self.independent(b"hello", tarBytes=tarBuffer.getvalue())
        self.assertRefused(manifestPath, "unsafe name")

    def test_dotDotPath(self):
        """A member whose name climbs out (../) is refused."""
        member = tarfile.TarInfo("../../evil")
        member.size = 5
        tarBuffer = io.BytesIO()
        with tarfile.open(fileobj=tarBuffer, mode="w") as t:
            t.addfile(member, io.BytesIO(b"hello"))
        self.assertRefused(self.independent(b"hello", tarBytes=tarBuffer.getvalue()),
                           "unsafe name")

    def test_tarBomb(self):
        """A member larger than the manifest's size is refused before it is written."""
        big = bytes(4 * 1024 * 1024)
        tarBuffer = io.BytesIO()
        with tarfile.open(fileobj=tarBuffer, mode="w") as t:
            member = tarfile.TarInfo("img")
            member.size = len(big)
            t.addfile(member, io.BytesIO(big))
        manifestPath = self.independent(b"tiny", tarBytes=tarBuffer.getvalue())
        self.assertRefused(manifestPath, "more than the manifest's 4")

    def test_gzipBombAfterMember(self):
        """Endless inflated bytes after the member stop at the manifest's bound."""
        image = b"small image"
        tarBuffer = io.BytesIO()
        with tarfile.open(fileobj=tarBuffer, mode="w") as t:
            member = tarfile.TarInfo("img")
            member.size = len(image)
            t.addfile(member, io.BytesIO(image))
        tarBytes = tarBuffer.getvalue() + b"\1" * (reader.TAR_OVERHEAD + 1024)
        manifestPath = self.independent(image, tarBytes=tarBytes)
        self.assertRefused(manifestPath, "inflates to more than")

    def test_twoMembers(self):
        """A tar with a second file is refused."""
        tarBuffer = io.BytesIO()
        with tarfile.open(fileobj=tarBuffer, mode="w") as t:
            for name in ("img", "extra"):
                member = tarfile.TarInfo(name)
                member.size = 3
                t.addfile(member, io.BytesIO(b"abc"))
        self.assertRefused(self.independent(b"abc", tarBytes=tarBuffer.getvalue()),
                           "more than one file")

    def test_notGzip(self):
        """An encrypted stream that is not gzip is refused as damaged."""
        manifestPath = self.independent(b"abc", compressed=b"plain bytes, no gzip" * 50)
        self.assertRefused(manifestPath, "gzip stream is damaged")

    def _tarOf(self, data):
        tarBuffer = io.BytesIO()
        with tarfile.open(fileobj=tarBuffer, mode="w") as t:
            member = tarfile.TarInfo("img")
            member.size = len(data)
            t.addfile(member, io.BytesIO(data))
        return tarBuffer.getvalue()

    def test_truncatedGzip(self):
        """A gzip stream cut short (no trailer) is refused."""
        compressed = gzip.compress(self._tarOf(b"abc"))[:-6]
        manifestPath = self.independent(b"abc", compressed=compressed)
        self.assertRefused(manifestPath, "truncated")

    def test_gzipCrcMismatch(self):
        """A gzip trailer whose CRC does not match the data is refused."""
        compressed = bytearray(gzip.compress(self._tarOf(b"abc")))
        compressed[-8] ^= 0xFF
        manifestPath = self.independent(b"abc", compressed=bytes(compressed))
        self.assertRefused(manifestPath, "gzip stream is damaged")

    def test_concatenatedGzipMembers(self):
        """A gzip stream in several members (as some gzip writers do) is read whole."""
        tarBytes = self._tarOf(b"abc" * 1000)
        compressed = gzip.compress(tarBytes[:700]) + gzip.compress(tarBytes[700:])
        manifestPath = self.independent(b"abc" * 1000, compressed=compressed)
        self.assertEqual(self.decrypt(manifestPath)[0], b"abc" * 1000)
