"""Making a bundle: image -> tar -> gzip -> AES-128-CBC -> parts + manifest.

One pass over the image, streamed: nothing is held in memory beyond a
buffer, and nothing but the parts and the manifest is written.  Used by the
``eucad-image bundle`` command.
"""

import hashlib
import os
import tarfile
import zlib

from eucad.bundle import crypto
from eucad.bundle.manifest import Manifest, Part, serialiseManifest, signedElements

PART_SIZE = 10 * 1024 * 1024
_CHUNK = 1024 * 1024


class BundleError(ValueError):
    """The bundle cannot be made; the message says why, for the user."""


def partFileName(prefix, index):
    """``<prefix>.part.NN`` as euca2ools names parts (two digits at least)."""
    return "%s.part.%02d" % (prefix, index)


def manifestFileName(prefix):
    return "%s.manifest.xml" % (prefix,)


class _PartWriter:
    """Cuts the encrypted stream into ``partSize`` files, hashing each."""

    def __init__(self, directory, prefix, partSize):
        self.directory = directory
        self.prefix = prefix
        self.partSize = partSize
        self.parts = []
        self.total = 0
        self._file = None
        self._hash = None
        self._written = 0

    def _open(self):
        name = partFileName(self.prefix, len(self.parts))
        self._file = open(os.path.join(self.directory, name), "wb")
        self._hash = hashlib.sha1()
        self._written = 0
        self.parts.append(name)

    def _close(self):
        self._file.close()
        index = len(self.parts) - 1
        self.parts[index] = Part(index, self.parts[index], self._hash.hexdigest())
        self._file = None

    def write(self, data):
        view = memoryview(data)
        while view:
            if self._file is None:
                self._open()
            room = self.partSize - self._written
            chunk = view[:room]
            self._file.write(chunk)
            self._hash.update(chunk)
            self._written += len(chunk)
            self.total += len(chunk)
            view = view[len(chunk):]
            if self._written == self.partSize:
                self._close()

    def finish(self):
        if self._file is not None:
            self._close()
        return tuple(self.parts)


class _Pipeline:
    """A write-only file: tar bytes in, hashed, gzipped, encrypted, split."""

    def __init__(self, key, iv, parts):
        self.tarHash = hashlib.sha1()
        self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31)
        self._aes = crypto.aesEncryptor(key, iv)
        # PKCS#7 padding, as OpenSSL's enc (and so the tools) pad.
        self._padder = crypto.pkcs7Padder()
        self._parts = parts

    def write(self, data):
        self.tarHash.update(data)
        self._encrypt(self._gzip.compress(data))
        return len(data)

    def _encrypt(self, data):
        if data:
            self._parts.write(self._aes.update(self._padder.update(data)))

    def finish(self):
        self._encrypt(self._gzip.flush())
        self._parts.write(self._aes.update(self._padder.finalize())
                          + self._aes.finalize())


class _ProgressReader:
    def __init__(self, fileobj, progress):
        self.fileobj = fileobj
        self.progress = progress

    def read(self, size=-1):
        data = self.fileobj.read(size)
        if data and self.progress:
            self.progress(len(data))
        return data


def bundleImage(imagePath, destination, userCert, userKey, cloudCert,
                prefix=None, imageType="machine", architecture="x86_64",
                kernelId=None, ramdiskId=None, user="", partSize=PART_SIZE,
                progress=None, keyAndIv=None):
    """
    Bundle ``imagePath`` into ``destination``; return ``(manifestPath,
    Manifest)``.

    @param userCert, userKey, cloudCert: loaded ``cryptography`` objects
        (``crypto.loadCertificate``/``loadPrivateKey``).
    @param progress: called with the number of image bytes read, as it goes.
    @param keyAndIv: fixed AES key and IV (tests); random by default.
    """
    if not os.path.isfile(imagePath):
        raise BundleError("No such image file: %s" % (imagePath,))
    if not crypto.keyMatchesCertificate(userKey, userCert):
        raise BundleError("The private key does not belong to the user's certificate")
    if not os.path.isdir(destination):
        raise BundleError("No such destination directory: %s" % (destination,))
    name = os.path.basename(imagePath)
    prefix = prefix or name
    key, iv = keyAndIv or crypto.newKeyAndIv()
    size = os.path.getsize(imagePath)
    parts = _PartWriter(destination, prefix, partSize)
    pipeline = _Pipeline(key, iv, parts)
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = int(os.path.getmtime(imagePath))
    with open(imagePath, "rb") as image:
        with tarfile.open(fileobj=pipeline, mode="w|", format=tarfile.GNU_FORMAT,
                          bufsize=_CHUNK) as archive:
            archive.addfile(info, _ProgressReader(image, progress))
    pipeline.finish()
    manifest = Manifest(
        name=name, user=user, imageType=imageType, size=size,
        bundledSize=parts.total, digest=pipeline.tarHash.hexdigest(),
        architecture=architecture, kernelId=kernelId, ramdiskId=ramdiskId,
        ec2EncryptedKey=crypto.encryptSecret(cloudCert, key),
        ec2EncryptedIv=crypto.encryptSecret(cloudCert, iv),
        userEncryptedKey=crypto.encryptSecret(userCert, key),
        userEncryptedIv=crypto.encryptSecret(userCert, iv),
        parts=parts.finish())
    signed = signedElements(manifest)
    document = serialiseManifest(manifest, signed, crypto.sign(userKey, signed))
    manifestPath = os.path.join(destination, manifestFileName(prefix))
    with open(manifestPath, "wb") as out:
        out.write(document)
    return manifestPath, manifest
