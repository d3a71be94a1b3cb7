"""Test keys and a second, independent implementation of the bundle format.

``independentBundle`` writes a bundle with nothing but ``cryptography``,
``tarfile``, ``gzip`` and string templates (the ec2-ami-tools layout: one
element per line, the signed elements compact), and ``independentUnbundle``
reads one with ``xml.etree``, ``openssl enc`` and ``tarfile``, so that the
project's reader and writer are each checked against code that shares
nothing with them.
"""

import datetime
import gzip
import hashlib
import io
import os
import subprocess
import tarfile
import xml.etree.ElementTree as ElementTree

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding as blockpadding, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID

_KEYS = {}


def keyPair(commonName):
    """``(private key, certificate)`` for ``commonName``, made once per run."""
    if commonName not in _KEYS:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, commonName)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .sign(key, hashes.SHA256()))
        _KEYS[commonName] = (key, cert)
    return _KEYS[commonName]


def keyPem(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def certPem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def writePems(directory, commonName):
    """Write ``<cn>-cert.pem`` and ``<cn>-pk.pem``; return their paths."""
    key, cert = keyPair(commonName)
    certPath = os.path.join(directory, "%s-cert.pem" % (commonName,))
    keyPath = os.path.join(directory, "%s-pk.pem" % (commonName,))
    with open(certPath, "wb") as f:
        f.write(certPem(cert))
    with open(os.open(keyPath, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
        f.write(keyPem(key))
    return certPath, keyPath


def _rsaHex(cert, secret):
    return cert.public_key().encrypt(secret.hex().encode(), padding.PKCS1v15()).hex()


def independentBundle(image, directory, prefix, userKey, userCert, cloudCert,
                      partSize=4096, tarMember=None, tarBytes=None, signWith=None,
                      compressed=None):
    """
    Bundle the bytes ``image`` the way ec2-ami-tools does, in plain code.

    @param tarMember: a ``tarfile.TarInfo`` to use instead of a plain file
        (links, devices, bad names); ``tarBytes`` replaces the whole tar and
    ``compressed`` the whole gzip stream.
    @return: the manifest's path.
    """
    if tarBytes is None:
        tarBuffer = io.BytesIO()
        with tarfile.open(fileobj=tarBuffer, mode="w", format=tarfile.USTAR_FORMAT) as t:
            info = tarMember or tarfile.TarInfo(prefix)
            if tarMember is None:
                info.size = len(image)
            t.addfile(info, io.BytesIO(image) if info.isreg() else None)
        tarBytes = tarBuffer.getvalue()
    if compressed is None:
        compressed = gzip.compress(tarBytes)
    key, iv = os.urandom(16), os.urandom(16)
    padder = blockpadding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    encrypted = (encryptor.update(padder.update(compressed) + padder.finalize())
                 + encryptor.finalize())
    partsXml = []
    for index, start in enumerate(range(0, len(encrypted), partSize)):
        chunk = encrypted[start:start + partSize]
        name = "%s.part.%d" % (prefix, index)
        with open(os.path.join(directory, name), "wb") as f:
            f.write(chunk)
        partsXml.append('<part index="%d"><filename>%s</filename>'
                        '<digest algorithm="SHA1">%s</digest></part>'
                        % (index, name, hashlib.sha1(chunk).hexdigest()))
    config = ("<machine_configuration><architecture>i386</architecture>"
              "<block_device_mapping><mapping><virtual>ami</virtual>"
              "<device>sda1</device></mapping></block_device_mapping>"
              "</machine_configuration>")
    imageXml = ("<image><name>%s</name><user>000000000001</user><type>machine</type>"
                '<digest algorithm="SHA1">%s</digest><size>%d</size>'
                "<bundled_size>%d</bundled_size>"
                '<ec2_encrypted_key algorithm="AES-128-CBC">%s</ec2_encrypted_key>'
                '<user_encrypted_key algorithm="AES-128-CBC">%s</user_encrypted_key>'
                "<ec2_encrypted_iv>%s</ec2_encrypted_iv>"
                "<user_encrypted_iv>%s</user_encrypted_iv>"
                '<parts count="%d">%s</parts></image>'
                % (prefix, hashlib.sha1(b"").hexdigest(), len(image), len(encrypted),
                   _rsaHex(cloudCert, key), _rsaHex(userCert, key),
                   _rsaHex(cloudCert, iv), _rsaHex(userCert, iv),
                   len(partsXml), "".join(partsXml)))
    signed = (config + imageXml).encode()
    signature = (signWith or userKey).sign(signed, padding.PKCS1v15(), hashes.SHA1()).hex()
    document = ('<?xml version="1.0"?>\n<manifest>\n  <version>2007-10-10</version>\n'
                "  <bundler><name>ec2-ami-tools</name><version>1.3</version>"
                "<release>26357</release></bundler>\n  %s\n  %s\n"
                "  <signature>%s</signature>\n</manifest>\n"
                % (config, imageXml, signature))
    path = os.path.join(directory, "%s.manifest.xml" % (prefix,))
    with open(path, "w") as f:
        f.write(document)
    return path


def independentUnbundle(manifestPath, privateKey, which="ec2"):
    """
    The image bytes of a bundle, read without the project's code: etree for
    the manifest, ``openssl enc -d`` for AES, gzip and tarfile for the rest.
    Also checks every part's SHA1 and the signature's presence.
    """
    directory = os.path.dirname(manifestPath)
    root = ElementTree.parse(manifestPath).getroot()
    image = root.find("image")

    def secret(tag):
        hexText = privateKey.decrypt(bytes.fromhex(image.find(tag).text),
                                     padding.PKCS1v15())
        return hexText.decode()
    key, iv = secret(which + "_encrypted_key"), secret(which + "_encrypted_iv")
    encrypted = b""
    parts = sorted(image.find("parts"), key=lambda p: int(p.get("index")))
    for part in parts:
        with open(os.path.join(directory, part.find("filename").text), "rb") as f:
            data = f.read()
        assert hashlib.sha1(data).hexdigest() == part.find("digest").text
        encrypted += data
    assert root.find("signature").text
    compressed = subprocess.run(["openssl", "enc", "-d", "-aes-128-cbc", "-K", key,
                                 "-iv", iv], input=encrypted, capture_output=True,
                                check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(compressed))) as t:
        members = t.getmembers()
        assert len(members) == 1 and members[0].isreg()
        return t.extractfile(members[0]).read()
