"""SSH key material for key pairs: making RSA keys, reading users' public
keys, and the fingerprints EC2 shows for each kind.

EC2 fingerprints differ by how the key pair came to be, and clients (and
users comparing with ``ssh-keygen``/``openssl`` output) expect exactly these:

- a key pair the cloud created (RSA): SHA-1 of the private key's PKCS#8 DER;
- an imported RSA public key: MD5 of the public key's DER (SubjectPublicKeyInfo);
- an ed25519 key, created or imported: base64 of the SHA-256 of the OpenSSH
  public key blob (what ``ssh-keygen -l`` prints after ``SHA256:``, padded).

Used by ``eucad.clc.keypairstore``; nothing here touches the database.
"""

import base64
import binascii
import hashlib

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from eucad.common.errors import CloudError

RSA, ED25519 = "rsa", "ed25519"

#: Size of the RSA keys CreateKeyPair makes (as EC2).
CREATED_RSA_BITS = 2048

#: RSA sizes EC2 accepts on import.
IMPORTED_RSA_BITS = (1024, 2048, 4096)

#: Longest public key text accepted (a 4096-bit OpenSSH key is ~750 bytes).
MAX_PUBLIC_KEY_BYTES = 16384


def _colonHex(digest):
    return ":".join("%02x" % (byte,) for byte in digest)


def _openSshBlob(publicKey):
    """The base64-decoded blob of an OpenSSH ``ssh-xxx BLOB`` line."""
    line = publicKey.public_bytes(serialization.Encoding.OpenSSH,
                                  serialization.PublicFormat.OpenSSH)
    return base64.b64decode(line.split()[1])


def ed25519Fingerprint(publicKey):
    return base64.b64encode(hashlib.sha256(_openSshBlob(publicKey)).digest()).decode()


def importedRsaFingerprint(publicKey):
    der = publicKey.public_bytes(serialization.Encoding.DER,
                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    return _colonHex(hashlib.md5(der).digest())


def createdRsaFingerprint(privateKey):
    der = privateKey.private_bytes(serialization.Encoding.DER,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    return _colonHex(hashlib.sha1(der).digest())


def openSshLine(publicKey):
    return publicKey.public_bytes(serialization.Encoding.OpenSSH,
                                  serialization.PublicFormat.OpenSSH).decode("ascii")


class NewKey:
    """A key pair the cloud made: the private half goes to the user once."""

    def __init__(self, kind, privatePem, publicLine, fingerprint):
        self.kind = kind
        self.privatePem = privatePem
        self.publicLine = publicLine
        self.fingerprint = fingerprint


def createKey(kind=RSA):
    """
    A fresh key: RSA 2048 (private key in PEM, "BEGIN RSA PRIVATE KEY" as
    EC2 hands out) or ed25519 (private key in OpenSSH format, as EC2).
    """
    if kind == RSA:
        private = rsa.generate_private_key(public_exponent=65537,
                                           key_size=CREATED_RSA_BITS)
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()).decode("ascii")
        return NewKey(RSA, pem, openSshLine(private.public_key()),
                      createdRsaFingerprint(private))
    if kind == ED25519:
        private = ed25519.Ed25519PrivateKey.generate()
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption()).decode("ascii")
        return NewKey(ED25519, pem, openSshLine(private.public_key()),
                      ed25519Fingerprint(private.public_key()))
    raise CloudError("InvalidParameterValue",
                     "Invalid value '%s' for KeyType (rsa or ed25519)" % (kind,))


class ImportedKey:
    """A user's public key, checked: its kind, OpenSSH line and fingerprint."""

    def __init__(self, kind, publicLine, fingerprint):
        self.kind = kind
        self.publicLine = publicLine
        self.fingerprint = fingerprint


def _invalidFormat():
    return CloudError("InvalidKey.Format",
                      "Key is not in valid OpenSSH public key format")


def _loadPublicKey(text):
    data = text.strip().encode("ascii")
    if data.startswith(b"-----BEGIN"):
        return serialization.load_pem_public_key(data)
    if data.startswith(b"ssh-"):
        return serialization.load_ssh_public_key(data)
    # EC2 also takes the base64 of a DER SubjectPublicKeyInfo.
    return serialization.load_der_public_key(base64.b64decode(data, validate=True))


def _candidates(material):
    """
    The texts ``PublicKeyMaterial`` may mean: the API says base64 of the
    key file (boto3, awscli), while older clients sent the key file itself.
    """
    yield material
    compact = "".join(material.split())
    try:
        decoded = base64.b64decode(compact, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return
    yield decoded


def importPublicKey(material):
    """
    Read an RSA or ed25519 public key from ``PublicKeyMaterial`` (OpenSSH
    line, PEM, or base64 DER; itself base64-encoded or not).

    @raise CloudError: ``InvalidKey.Format`` for anything else.
    """
    if not material or len(material) > MAX_PUBLIC_KEY_BYTES:
        raise _invalidFormat()
    for text in _candidates(material):
        try:
            publicKey = _loadPublicKey(text)
        except (ValueError, UnicodeError, UnsupportedAlgorithm, binascii.Error,
                TypeError):
            continue
        if isinstance(publicKey, rsa.RSAPublicKey):
            if publicKey.key_size not in IMPORTED_RSA_BITS:
                raise CloudError("InvalidKey.Format",
                                 "RSA keys must be 1024, 2048 or 4096 bits long")
            return ImportedKey(RSA, openSshLine(publicKey),
                               importedRsaFingerprint(publicKey))
        if isinstance(publicKey, ed25519.Ed25519PublicKey):
            return ImportedKey(ED25519, openSshLine(publicKey),
                               ed25519Fingerprint(publicKey))
        raise CloudError("InvalidKey.Format",
                         "Only RSA and ed25519 keys can be imported")
    raise _invalidFormat()
