"""Key wrapping and signatures as the bundle tools do them."""

from cryptography.hazmat.primitives.asymmetric import padding
from twisted.trial import unittest

from eucad.bundle import crypto
from tests.bundle.helpers import certPem, keyPair, keyPem


class CryptoTests(unittest.TestCase):

    def test_secretIsHexText(self):
        """What is RSA-encrypted is the 32-character hex text of the key."""
        key, cert = keyPair("cloud")
        secret = bytes(range(16))
        wrapped = crypto.encryptSecret(cert, secret)
        plain = key.decrypt(bytes.fromhex(wrapped), padding.PKCS1v15())
        self.assertEqual(plain, secret.hex().encode("ascii"))
        self.assertEqual(crypto.decryptSecret(key, wrapped), secret)

    def test_wrongKey(self):
        """A key encrypted to another certificate gives a clear BundleKeyError."""
        _, cert = keyPair("cloud")
        otherKey, _ = keyPair("alice")
        wrapped = crypto.encryptSecret(cert, bytes(16))
        error = self.assertRaises(crypto.BundleKeyError, crypto.decryptSecret,
                                  otherKey, wrapped)
        self.assertIn("not encrypted to this certificate", str(error))

    def test_signature(self):
        """RSA-SHA1 signatures verify with the signer's certificate only."""
        key, cert = keyPair("alice")
        _, other = keyPair("bob")
        signature = crypto.sign(key, b"data")
        self.assertTrue(crypto.verifySignature(cert, b"data", signature))
        self.assertFalse(crypto.verifySignature(other, b"data", signature))
        self.assertFalse(crypto.verifySignature(cert, b"datb", signature))
        self.assertFalse(crypto.verifySignature(cert, b"data", "zz"))

    def test_loading(self):
        """PEM keys and certificates load; a key matches only its certificate."""
        key, cert = keyPair("alice")
        _, other = keyPair("bob")
        loadedKey = crypto.loadPrivateKey(keyPem(key))
        loadedCert = crypto.loadCertificate(certPem(cert))
        self.assertTrue(crypto.keyMatchesCertificate(loadedKey, loadedCert))
        self.assertFalse(crypto.keyMatchesCertificate(loadedKey, other))
        self.assertRaises(crypto.BundleKeyError, crypto.loadCertificate, keyPem(key))
        self.assertRaises(crypto.BundleKeyError, crypto.loadPrivateKey, certPem(cert))
