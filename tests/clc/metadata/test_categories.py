"""The meta-data tree of one instance, per version."""

from twisted.trial import unittest

from eucad.clc.metadata import categories
from eucad.clc.metadata.categories import Directory, find, metadataTree


def record(**overrides):
    values = {
        "id": "i-12345678", "reservationId": "r-87654321", "imageId": "emi-1a2b3c4d",
        "kernelId": "eki-00000001", "ramdiskId": "eri-00000002", "vmType": "c1.medium",
        "privateIp": "10.77.0.100", "publicIp": "192.0.2.10", "launchIndex": 2,
        "cluster": "zone-a", "keyName": "alice-key", "keyData": "ssh-rsa AAAAB3 alice\n\n",
        "userData": None, "groups": ["default", "web"],
        "manifestPath": "images/test.img.manifest.xml"}
    values.update(overrides)
    return values


class TreeTests(unittest.TestCase):
    """What ``metadataTree`` holds for each version."""

    def test_latestListing(self):
        """latest lists every category, sorted, directories with a trailing slash."""
        self.assertEqual(metadataTree(record()).listing().split("\n"), [
            "ami-id", "ami-launch-index", "ami-manifest-path", "block-device-mapping/",
            "hostname", "instance-id", "instance-type", "kernel-id", "local-hostname",
            "local-ipv4", "placement/", "public-hostname", "public-ipv4", "public-keys/",
            "ramdisk-id", "reservation-id", "security-groups"])

    def test_values(self):
        """Each leaf holds the record's value in EC2's text form."""
        tree = metadataTree(record())
        expected = {
            ("ami-id",): "emi-1a2b3c4d", ("ami-launch-index",): "2",
            ("ami-manifest-path",): "images/test.img.manifest.xml",
            ("hostname",): "10.77.0.100", ("local-hostname",): "10.77.0.100",
            ("local-ipv4",): "10.77.0.100", ("public-hostname",): "192.0.2.10",
            ("public-ipv4",): "192.0.2.10", ("instance-id",): "i-12345678",
            ("instance-type",): "c1.medium", ("reservation-id",): "r-87654321",
            ("kernel-id",): "eki-00000001", ("ramdisk-id",): "eri-00000002",
            ("security-groups",): "default\nweb",
            ("placement", "availability-zone"): "zone-a",
            ("block-device-mapping", "ami"): "sda1",
            ("block-device-mapping", "root"): "/dev/sda1",
            ("block-device-mapping", "ephemeral0"): "sda2",
            ("block-device-mapping", "swap"): "sda3",
            ("public-keys", "0", "openssh-key"): "ssh-rsa AAAAB3 alice\n",
        }
        self.assertEqual({path: find(tree, path) for path in expected}, expected)

    def test_publicKeysListings(self):
        """public-keys/ lists 0=NAME; public-keys/0/ lists openssh-key."""
        tree = metadataTree(record())
        self.assertEqual(find(tree, ["public-keys"]).listing(), "0=alice-key")
        self.assertEqual(find(tree, ["public-keys", "0"]).listing(), "openssh-key")
        self.assertIsNone(find(tree, ["public-keys", "0=alice-key"]))

    def test_blockDeviceMappingListing(self):
        """block-device-mapping/ lists ami, root, ephemeral0 and swap."""
        self.assertEqual(find(metadataTree(record()), ["block-device-mapping"]).listing(),
                         "ami\nroot\nephemeral0\nswap")

    def test_withoutOptionalParts(self):
        """No key, kernel or ramdisk: their categories are absent, not empty."""
        tree = metadataTree(record(keyName=None, keyData=None, kernelId=None, ramdiskId=None))
        names = tree.listing().split("\n")
        for absent in ("kernel-id", "ramdisk-id", "public-keys/"):
            self.assertNotIn(absent, names)

    def test_keyNameWithoutKeyData(self):
        """A key name whose key text is unknown offers no public-keys at all."""
        self.assertIsNone(find(metadataTree(record(keyData=None)), ["public-keys"]))

    def test_noPublicAddress(self):
        """Without a public address (or with the CC's 0.0.0.0) the private one is public."""
        for publicIp in (None, "0.0.0.0"):
            tree = metadataTree(record(publicIp=publicIp))
            self.assertEqual(find(tree, ["public-ipv4"]), "10.77.0.100")
            self.assertEqual(find(tree, ["public-hostname"]), "10.77.0.100")

    def test_datedVersions(self):
        """A dated version shows only what EC2 had introduced by then."""
        def names(version):
            return set(metadataTree(record(), version).listing().split("\n"))
        first = names("1.0")
        self.assertEqual(first, {"ami-id", "ami-launch-index", "ami-manifest-path", "hostname",
                                 "instance-id", "local-ipv4", "public-keys/", "reservation-id",
                                 "security-groups"})
        self.assertEqual(names("2007-01-19") - first,
                         {"local-hostname", "public-hostname", "public-ipv4"})
        self.assertIn("instance-type", names("2007-08-29"))
        self.assertNotIn("block-device-mapping/", names("2007-10-10"))
        self.assertIn("ramdisk-id", names("2007-10-10"))
        self.assertIn("block-device-mapping/", names("2007-12-15"))
        self.assertNotIn("placement/", names("2007-12-15"))
        self.assertEqual(names("2008-02-01"), names("2009-04-04"))
        self.assertEqual(names("2009-04-04"), names(categories.LATEST))

    def test_findStopsAtLeaves(self):
        """A path through a value, or to a missing name, finds nothing."""
        tree = metadataTree(record())
        self.assertIsNone(find(tree, ["instance-id", "more"]))
        self.assertIsNone(find(tree, ["nothing"]))
        self.assertIsInstance(find(tree, []), Directory)
