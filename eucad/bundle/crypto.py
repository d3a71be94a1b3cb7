"""The cryptography of bundles: who can read the key, who signed the manifest.

The AES key and IV are random; what is RSA-encrypted (PKCS#1 v1.5) to the
cloud's and the user's certificates is their 32-character *hex text*, as
euca2ools and ec2-ami-tools do, and the result is hex-encoded in the
manifest.  The signature is RSA-SHA1 (PKCS#1 v1.5) by the user's key.
"""

import os

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as blockpadding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_BYTES = 16


class BundleKeyError(ValueError):
    """A key, certificate or encrypted key is unusable; the message says which."""


def loadCertificate(pem):
    """An X.509 certificate (PEM bytes) with an RSA public key."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as e:
        raise BundleKeyError("Not a PEM certificate: %s" % (e,))
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise BundleKeyError("The certificate's key is not RSA")
    return cert


def loadPrivateKey(pem):
    """An RSA private key (unencrypted PEM bytes, PKCS#1 or PKCS#8)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        raise BundleKeyError("Not an unencrypted PEM private key: %s" % (e,))
    if not isinstance(key, rsa.RSAPrivateKey):
        raise BundleKeyError("The private key is not RSA")
    return key


def keyMatchesCertificate(key, cert):
    """Whether ``key`` is the private half of ``cert``'s public key."""
    return (key.public_key().public_numbers()
            == cert.public_key().public_numbers())


def newKeyAndIv():
    """A fresh random AES-128 key and IV."""
    return os.urandom(KEY_BYTES), os.urandom(KEY_BYTES)


def encryptSecret(cert, secret):
    """``secret`` (key or IV bytes) as the hex of its hex text encrypted to ``cert``."""
    text = secret.hex().encode("ascii")
    return cert.public_key().encrypt(text, padding.PKCS1v15()).hex()


def decryptSecret(key, encryptedHex):
    """
    The key or IV bytes from the manifest's hex ``encryptedHex``, with the
    private ``key`` it was encrypted to; ``BundleKeyError`` if it was not.
    """
    # OpenSSL's implicit rejection answers a wrong key with random bytes
    # rather than an error: wrong key and garbage look alike, and are.
    refusal = BundleKeyError(
        "The bundle's key was not encrypted to this certificate (or is damaged)")
    try:
        text = key.decrypt(bytes.fromhex(encryptedHex), padding.PKCS1v15())
        secret = bytes.fromhex(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise refusal
    if len(secret) != KEY_BYTES:
        raise refusal
    return secret


def sign(key, data):
    """The hex RSA-SHA1 signature of ``data`` by ``key``."""
    return key.sign(data, padding.PKCS1v15(), hashes.SHA1()).hex()


def verifySignature(cert, data, signatureHex):
    """Whether ``signatureHex`` is ``cert``'s holder's RSA-SHA1 signature of ``data``."""
    try:
        cert.public_key().verify(bytes.fromhex(signatureHex), data,
                                 padding.PKCS1v15(), hashes.SHA1())
    except (InvalidSignature, ValueError):
        return False
    return True


def verifyManifest(manifest, certificates):
    """
    The first of ``certificates`` whose holder signed ``manifest`` (its raw
    signed bytes), or None.
    """
    for cert in certificates:
        if verifySignature(cert, manifest.signedBytes, manifest.signature):
            return cert
    return None


def aesEncryptor(key, iv):
    return Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()


def aesDecryptor(key, iv):
    return Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()


def pkcs7Padder():
    return blockpadding.PKCS7(128).padder()


def pkcs7Unpadder():
    return blockpadding.PKCS7(128).unpadder()
