"""The rules RegisterImage applies to a bundle's location and kind."""

import dataclasses

from twisted.trial import unittest

from eucad.bundle.manifest import Manifest
from eucad.clc.bundlecheck import bundleKind, partKey, splitLocation
from eucad.common.errors import CloudError


def manifest(**fields):
    base = Manifest(name="disk.img", user="", imageType="machine", size=1, bundledSize=16,
                    digest="", architecture="x86_64", kernelId=None, ramdiskId=None,
                    ec2EncryptedKey="", ec2EncryptedIv="", userEncryptedKey="",
                    userEncryptedIv="", parts=())
    return dataclasses.replace(base, **fields)


class BundleRulesTests(unittest.TestCase):

    def test_splitLocation(self):
        """bucket/[prefix/]name.manifest.xml splits into bucket and key."""
        self.assertEqual(splitLocation("b/x.manifest.xml"), ("b", "x.manifest.xml"))
        self.assertEqual(splitLocation("/b/p/q/x.manifest.xml"), ("b", "p/q/x.manifest.xml"))
        for bad in ("", "b", "b/", "b/x.xml", "b/.manifest.xml", "b/../x.manifest.xml"):
            self.assertRaises(CloudError, splitLocation, bad)

    def test_partKey(self):
        """Parts live beside the manifest, under its prefix."""
        self.assertEqual(partKey("x.manifest.xml", "x.part.0"), "x.part.0")
        self.assertEqual(partKey("p/q/x.manifest.xml", "x.part.0"), "p/q/x.part.0")

    def test_kinds(self):
        """The type element, kernel_id/ramdisk_id of true/yes, and vmlinuz/initrd names
        make kernels and ramdisks; the rest are machine images."""
        self.assertEqual(bundleKind(manifest()), "machine")
        self.assertEqual(bundleKind(manifest(imageType="ramdisk")), "ramdisk")
        self.assertEqual(bundleKind(manifest(kernelId="true")), "kernel")
        self.assertEqual(bundleKind(manifest(ramdiskId="YES")), "ramdisk")
        self.assertEqual(bundleKind(manifest(name="vmlinuz-6.1")), "kernel")
        self.assertEqual(bundleKind(manifest(name="initrd.img-6.1")), "ramdisk")
        self.assertEqual(bundleKind(manifest(kernelId="eki-12345678")), "machine")
