"""The manifest parser: what it accepts, what it refuses, and the signed bytes."""

import os

from twisted.trial import unittest

from eucad.bundle import crypto, writer
from eucad.bundle.manifest import ManifestError, parseManifest, signedRegion
from tests.bundle.helpers import independentBundle, keyPair


class ManifestTests(unittest.TestCase):

    def setUp(self):
        self.userKey, self.userCert = keyPair("alice")
        self.cloudKey, self.cloudCert = keyPair("cloud")
        self.directory = self.mktemp()
        os.makedirs(self.directory)

    def independentManifest(self):
        path = independentBundle(b"x" * 10000, self.directory, "img", self.userKey,
                                 self.userCert, self.cloudCert)
        with open(path, "rb") as f:
            return f.read()

    def test_parsesIndependentManifest(self):
        """A manifest laid out one element a line (ec2-ami-tools) parses in full."""
        manifest = parseManifest(self.independentManifest())
        self.assertEqual(manifest.name, "img")
        self.assertEqual(manifest.user, "000000000001")
        self.assertEqual(manifest.size, 10000)
        self.assertEqual(manifest.architecture, "i386")
        self.assertEqual(manifest.blockDeviceMapping, (("ami", "sda1"),))
        self.assertEqual([p.index for p in manifest.parts],
                         list(range(len(manifest.parts))))
        self.assertEqual(manifest.parts[0].filename, "img.part.0")

    def test_signedBytesAsReceived(self):
        """The signed bytes are the two elements' raw bytes, without the whitespace between."""
        raw = self.independentManifest()
        manifest = parseManifest(raw)
        self.assertTrue(manifest.signedBytes.startswith(b"<machine_configuration>"))
        self.assertTrue(manifest.signedBytes.endswith(b"</image>"))
        self.assertIn(b"</machine_configuration><image>", manifest.signedBytes)
        self.assertIs(crypto.verifyManifest(manifest, [self.cloudCert, self.userCert]),
                      self.userCert)

    def test_reserialisedBytesAreNotTrusted(self):
        """A byte changed inside the signed region (even whitespace) breaks the signature."""
        raw = self.independentManifest().replace(b"<architecture>i386",
                                                 b"<architecture> i386")
        manifest = parseManifest(raw)
        self.assertIsNone(crypto.verifyManifest(manifest, [self.userCert]))

    def test_ownManifestRoundTrip(self):
        """The project's writer produces a manifest its parser reads back unchanged."""
        image = os.path.join(self.directory, "disk.img")
        with open(image, "wb") as f:
            f.write(b"\1" * 5000)
        path, written = writer.bundleImage(image, self.directory, self.userCert,
                                           self.userKey, self.cloudCert, kernelId="eki-12345678",
                                           user="alice")
        with open(path, "rb") as f:
            parsed = parseManifest(f.read())
        self.assertEqual(parsed.parts, written.parts)
        self.assertEqual(parsed.kernelId, "eki-12345678")
        self.assertEqual(parsed.user, "alice")
        self.assertEqual(parsed.bundledSize, written.bundledSize)
        self.assertIsNotNone(crypto.verifyManifest(parsed, [self.userCert]))

    def test_digestIsNotChecked(self):
        """image/digest holds the SHA1 of nothing in some tools' output: still accepted."""
        manifest = parseManifest(self.independentManifest())
        self.assertEqual(manifest.digest, "da39a3ee5e6b4b0d3255bfef95601890afd80709")

    def test_oversizedRefused(self):
        """A manifest above the size limit is refused before parsing."""
        raw = self.independentManifest()
        error = self.assertRaises(ManifestError, parseManifest, raw, maxBytes=len(raw) - 1)
        self.assertIn("larger than", str(error))

    def test_entitiesRefused(self):
        """A DTD with entities (billion laughs, external files) is refused."""
        raw = (b'<?xml version="1.0"?><!DOCTYPE manifest [<!ENTITY x SYSTEM '
               b'"file:///etc/passwd">]><manifest>&x;</manifest>')
        self.assertRaises(ManifestError, parseManifest, raw)

    def test_notXml(self):
        """Garbage is refused with a reason, not an exception of lxml's."""
        error = self.assertRaises(ManifestError, parseManifest, b"\x00\xffnot xml")
        self.assertIn("not well-formed", str(error))

    def test_wrongRoot(self):
        """A well-formed document that is not a manifest is refused."""
        self.assertRaises(ManifestError, parseManifest, b"<html></html>")

    def test_badPartNames(self):
        """A part whose file name leaves the bundle's prefix (paths, dot-dot) is refused."""
        raw = self.independentManifest().replace(b"<filename>img.part.0",
                                                 b"<filename>../img.part.0")
        error = self.assertRaises(ManifestError, parseManifest, raw)
        self.assertIn("part file name", str(error))

    def test_partIndexGap(self):
        """Part indexes must run 0..N-1."""
        raw = self.independentManifest().replace(b'<part index="0">', b'<part index="7">')
        self.assertRaises(ManifestError, parseManifest, raw)

    def test_twoImageElements(self):
        """A second <image> (which could hide what was signed) is refused."""
        raw = self.independentManifest().replace(b"</manifest>",
                                                 b"<image></image></manifest>")
        self.assertRaises(ManifestError, parseManifest, raw)

    def test_missingSize(self):
        """A manifest without image/size is refused, naming the element."""
        raw = self.independentManifest()
        start = raw.index(b"<size>")
        raw = raw[:start] + raw[raw.index(b"</size>") + 7:]
        error = self.assertRaises(ManifestError, parseManifest, raw)
        self.assertIn("image/size", str(error))

    def test_regionOrder(self):
        """<image> before <machine_configuration> is refused."""
        self.assertRaises(ManifestError, signedRegion,
                          b"<manifest><image></image><machine_configuration>"
                          b"</machine_configuration></manifest>")
