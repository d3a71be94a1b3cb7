"""Key pairs over in-memory HTTP, answers parsed as boto3 parses them, and
fingerprints checked against openssl and ssh-keygen (independent tools)."""

import base64
import os
import subprocess

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from twisted.trial import unittest

from tests.clc import helpers
from tests.clc.test_api import ApiTestCase


def run(argv, data=None):
    return subprocess.run(argv, input=data, capture_output=True, check=True).stdout


def opensslColonDigest(kind, der):
    """``openssl dgst -c`` of ``der``: the colon-separated hex digest."""
    out = run(["openssl", "dgst", "-" + kind, "-c"], der).decode()
    return out.strip().split("= ")[-1]


def sshKeygenSha256(publicLine, tmp):
    path = os.path.join(tmp, "key.pub")
    with open(path, "w") as f:
        f.write(publicLine + "\n")
    out = run(["ssh-keygen", "-l", "-E", "sha256", "-f", path]).decode()
    return out.split()[1][len("SHA256:"):]


def rsaPublicLine(bits=2048):
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return private, private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


class KeyPairTests(ApiTestCase):

    def setUp(self):
        ApiTestCase.setUp(self)
        self.tmp = self.mktemp()
        os.makedirs(self.tmp)

    def test_createRsa(self):
        """CreateKeyPair returns an RSA 2048 key once; its fingerprint is
        openssl's SHA-1 of the PKCS#8 DER private key (as AWS computes it)."""
        answer = self.ec2.call("CreateKeyPair", KeyName="mykey")
        self.assertEqual(answer["KeyName"], "mykey")
        self.assertTrue(answer["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----"))
        private = serialization.load_pem_private_key(answer["KeyMaterial"].encode(), None)
        self.assertEqual(private.key_size, 2048)
        pkcs8 = run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-inform", "PEM",
                     "-outform", "DER"], answer["KeyMaterial"].encode())
        self.assertEqual(answer["KeyFingerprint"], opensslColonDigest("sha1", pkcs8))
        [described] = self.ec2.call("DescribeKeyPairs")["KeyPairs"]
        self.assertEqual((described["KeyName"], described["KeyFingerprint"]),
                         ("mykey", answer["KeyFingerprint"]))
        self.assertNotIn("KeyMaterial", described)

    def test_privateKeyNeverStored(self):
        """The database holds only the public half of a created key."""
        answer = self.ec2.call("CreateKeyPair", KeyName="mykey")
        body = answer["KeyMaterial"].split("-----")[2].strip().splitlines()[0]
        rows = self.everyRow()
        self.assertIn("ssh-rsa", rows)
        self.assertNotIn(body, rows)
        if self.cloud.db.url.startswith("sqlite:///"):
            # Nor in the bytes of its files (the write-ahead log included).
            path = self.cloud.db.url[len("sqlite:///"):]
            for name in (path, path + "-wal"):
                if os.path.exists(name):
                    with open(name, "rb") as f:
                        self.assertNotIn(body.encode(), f.read())

    def everyRow(self):
        """Every row of every table, as text (for an engine without one file)."""
        from sqlalchemy import select

        from eucad.common import schema

        with self.cloud.db.engine.connect() as connection:
            return "\n".join(
                repr(tuple(row)) for table in schema.modelMetadata().sorted_tables
                for row in connection.execute(select(table)))

    def test_importRsa(self):
        """ImportKeyPair takes an OpenSSH RSA key (base64 as boto3 sends it);
        the fingerprint is openssl's MD5 of the DER public key."""
        private, line = rsaPublicLine()
        answer = self.ec2.call("ImportKeyPair", KeyName="laptop",
                               PublicKeyMaterial=base64.b64encode(line.encode()).decode())
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.assertEqual(answer["KeyFingerprint"], opensslColonDigest("md5", der))

    def test_importPlainOpenSsh(self):
        """An OpenSSH line sent as is (2009 clients) is accepted too."""
        _, line = rsaPublicLine()
        answer = self.ec2.call("ImportKeyPair", KeyName="old",
                               PublicKeyMaterial=line + " user@host")
        self.assertEqual(answer["KeyName"], "old")

    def test_importEd25519(self):
        """An ed25519 key's fingerprint is ssh-keygen's SHA256 (base64, padded)."""
        line = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        answer = self.ec2.call("ImportKeyPair", KeyName="ed",
                               PublicKeyMaterial=base64.b64encode(line.encode()).decode())
        expected = sshKeygenSha256(line, self.tmp)
        self.assertEqual(answer["KeyFingerprint"].rstrip("="), expected)
        self.assertEqual(len(base64.b64decode(answer["KeyFingerprint"])), 32)
        [described] = self.ec2.call("DescribeKeyPairs", **{"KeyName.1": "ed"})["KeyPairs"]
        self.assertEqual(described["KeyType"], "ed25519")

    def test_createEd25519(self):
        """KeyType=ed25519 makes an OpenSSH private key whose public half
        ssh-keygen fingerprints as the answer says."""
        answer = self.ec2.call("CreateKeyPair", KeyName="ed", KeyType="ed25519")
        private = serialization.load_ssh_private_key(answer["KeyMaterial"].encode(), None)
        line = private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        self.assertEqual(answer["KeyFingerprint"].rstrip("="),
                         sshKeygenSha256(line, self.tmp))

    def test_badMaterial(self):
        """Garbage, a truncated key and RSA sizes EC2 refuses are InvalidKey.Format;
        no material at all is MissingParameter."""
        _, odd = rsaPublicLine(bits=3072)
        for material in ("not a key", base64.b64encode(b"ssh-rsa AAAA").decode(), odd):
            status, code, _ = self.ec2.error("ImportKeyPair", KeyName="bad",
                                             PublicKeyMaterial=material)
            self.assertEqual((status, code), (400, "InvalidKey.Format"))
        status, code, _ = self.ec2.error("ImportKeyPair", KeyName="bad")
        self.assertEqual(code, "MissingParameter")
        self.assertEqual(self.ec2.call("DescribeKeyPairs")["KeyPairs"], [])

    def test_duplicate(self):
        """A second key pair of the same name is InvalidKeyPair.Duplicate."""
        self.ec2.call("CreateKeyPair", KeyName="mykey")
        _, line = rsaPublicLine()
        for action, params in (("CreateKeyPair", {}),
                               ("ImportKeyPair", {"PublicKeyMaterial": line})):
            status, code, _ = self.ec2.error(action, KeyName="mykey", **params)
            self.assertEqual((status, code), (400, "InvalidKeyPair.Duplicate"))

    def test_deleteAndDescribe(self):
        """DeleteKeyPair removes one; naming a missing one in Describe is NotFound;
        filters select by name and fingerprint."""
        first = self.ec2.call("CreateKeyPair", KeyName="one")
        self.ec2.call("CreateKeyPair", KeyName="two")
        found = self.ec2.call("DescribeKeyPairs", **{
            "Filter.1.Name": "fingerprint", "Filter.1.Value.1": first["KeyFingerprint"]})
        self.assertEqual([k["KeyName"] for k in found["KeyPairs"]], ["one"])
        found = self.ec2.call("DescribeKeyPairs", **{
            "Filter.1.Name": "key-name", "Filter.1.Value.1": "t*"})
        self.assertEqual([k["KeyName"] for k in found["KeyPairs"]], ["two"])
        self.ec2.call("DeleteKeyPair", KeyName="one")
        self.assertEqual([k["KeyName"] for k in self.ec2.call("DescribeKeyPairs")["KeyPairs"]],
                         ["two"])
        status, code, _ = self.ec2.error("DescribeKeyPairs", **{"KeyName.1": "one"})
        self.assertEqual(code, "InvalidKeyPair.NotFound")
        # As in EC2, deleting what is not there succeeds.
        self.ec2.call("DeleteKeyPair", KeyName="one")

    def test_launchCarriesKey(self):
        """RunInstances with KeyName hands the public key to the cluster and
        keeps it on the instance row, even after the key pair is deleted."""
        _, line = rsaPublicLine()
        self.ec2.call("ImportKeyPair", KeyName="laptop", PublicKeyMaterial=line)
        answer = self.run_(KeyName="laptop")
        instanceId = answer["Instances"][0]["InstanceId"]
        self.assertEqual(answer["Instances"][0]["KeyName"], "laptop")
        [call] = [c for c in self.zone2.calls + self.zone1.calls if c[0] == "runInstances"]
        self.assertEqual(call[1][0][0]["keyData"], line)
        self.ec2.call("DeleteKeyPair", KeyName="laptop")
        self.assertEqual(helpers.instanceRows(self.cloud.db)[instanceId]["keyData"], line)

    def test_otherUsersKeyUnknown(self):
        """Bob cannot launch with Alice's key name."""
        self.ec2.call("CreateKeyPair", KeyName="mykey")
        status, code, _ = self.ec2.error("RunInstances", self.bob, ImageId=self.emi,
                                         MinCount="1", MaxCount="1", KeyName="mykey")
        self.assertEqual(code, "InvalidKeyPair.NotFound")


class SshKeysTests(unittest.TestCase):

    def test_pemPublicKey(self):
        """A PEM SubjectPublicKeyInfo is read like an OpenSSH line of the same key."""
        from eucad.clc import sshkeys
        private, line = rsaPublicLine()
        pem = private.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self.assertEqual(sshkeys.importPublicKey(pem).fingerprint,
                         sshkeys.importPublicKey(line).fingerprint)
