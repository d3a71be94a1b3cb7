"""Credentials from the eucarc's variables, and the checks that they belong together."""

import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from twisted.trial import unittest

from eucad.bundle.credentials import CredentialError, Credentials, loadBundlingKeys
from tests.bundle.helpers import certPem, keyPair, writePems


def writeCaCert(directory):
    """A CA certificate (BasicConstraints ca=True), as the cloud's cacert.pem is."""
    key, _ = keyPair("ca")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    path = os.path.join(directory, "cacert.pem")
    with open(path, "wb") as f:
        f.write(certPem(cert))
    return path


class CredentialsTests(unittest.TestCase):

    def test_euca2oolsNamesFirst(self):
        """EC2_ACCESS_KEY wins over AWS_ACCESS_KEY_ID; every eucarc variable is read."""
        creds = Credentials.fromEnvironment({
            "EC2_URL": "http://e", "S3_URL": "http://s", "EC2_ACCESS_KEY": "A",
            "AWS_ACCESS_KEY_ID": "B", "AWS_SECRET_ACCESS_KEY": "S", "EC2_CERT": "c",
            "EC2_PRIVATE_KEY": "k", "EUCALYPTUS_CERT": "e"})
        self.assertEqual((creds.ec2Url, creds.s3Url, creds.accessKey, creds.secretKey,
                          creds.userCertPath, creds.userKeyPath, creds.cloudCertPath),
                         ("http://e", "http://s", "A", "S", "c", "k", "e"))

    def test_requireNamesVariable(self):
        """A missing value is reported by its eucarc variable name."""
        error = self.assertRaises(CredentialError, Credentials().require, "s3Url")
        self.assertIn("S3_URL is not set", str(error))

    def test_loadsMatchingKeys(self):
        """A user's key, certificate and the cloud certificate load together."""
        root = self.mktemp()
        os.makedirs(root)
        cert, key = writePems(root, "alice")
        cloud, _ = writePems(root, "cloud")
        userCert, _, cloudCert = loadBundlingKeys(
            Credentials(userCertPath=cert, userKeyPath=key, cloudCertPath=cloud))
        self.assertEqual(userCert, keyPair("alice")[1])
        self.assertEqual(cloudCert, keyPair("cloud")[1])

    def test_missingFile(self):
        """A certificate path that does not exist names the variable and the path."""
        root = self.mktemp()
        os.makedirs(root)
        cert, key = writePems(root, "alice")
        error = self.assertRaises(CredentialError, loadBundlingKeys, Credentials(
            userCertPath=cert, userKeyPath=key, cloudCertPath="/nonexistent/c.pem"))
        self.assertIn("EUCALYPTUS_CERT: cannot read /nonexistent/c.pem", str(error))

    def test_caRefused(self):
        """The CA certificate as EUCALYPTUS_CERT is refused with the reason."""
        root = self.mktemp()
        os.makedirs(root)
        cert, key = writePems(root, "alice")
        error = self.assertRaises(CredentialError, loadBundlingKeys, Credentials(
            userCertPath=cert, userKeyPath=key, cloudCertPath=writeCaCert(root)))
        self.assertIn("cloud-cert.pem", str(error))
