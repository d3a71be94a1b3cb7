"""What RegisterImage checks about a bundle before recording it.

The manifest is read from Walrus as the registering user (so a manifest they
cannot read is refused), parsed safely, its signature verified on the bytes
as received against the user's issued certificates (the admin's against any
user's), and every part it lists must be readable by that user.  When the
cloud's private key is at hand, the bundle's key must open with it: a bundle
encrypted to another certificate (the CA's, say) is refused now rather than
failing later on its way to a node.

The user's certificates come from ``certificatesFor(userName)`` (None: all
users'), a function the accounts store provides; it returns PEM bytes (or a
Deferred of them).  Failures are ``CloudError`` with EC2's codes.
"""

import dataclasses

from twisted.internet import defer, threads

from eucad.bundle import crypto
from eucad.bundle.manifest import ManifestError, parseManifest
from eucad.clc.bundlesource import BundleSourceError
from eucad.common.errors import CloudError

MANIFEST_SUFFIX = ".manifest.xml"
_TRUE = ("true", "yes")
KERNEL_NAMES = ("vmlinuz", "vmlinux")
RAMDISK_NAMES = ("initrd", "initramfs")


@dataclasses.dataclass(frozen=True)
class CheckedBundle:
    bucket: str
    key: str
    manifest: object
    raw: bytes

    @property
    def location(self):
        return "%s/%s" % (self.bucket, self.key)

    def partKey(self, filename):
        return partKey(self.key, filename)


def splitLocation(location):
    """``bucket/[prefix/]name.manifest.xml`` -> ``(bucket, key)``."""
    bucket, _, key = (location or "").lstrip("/").partition("/")
    name = key.rpartition("/")[2]
    if not bucket or not name.endswith(MANIFEST_SUFFIX) or name == MANIFEST_SUFFIX:
        raise CloudError("InvalidParameterValue",
                         "ImageLocation must be bucket/[prefix/]name.manifest.xml, not %r"
                         % ((location or "")[:200],))
    if ".." in key.split("/"):
        raise CloudError("InvalidParameterValue", "ImageLocation may not contain '..'")
    return bucket, key


def partKey(manifestKey, filename):
    """A part's object key: beside the manifest, under the same prefix."""
    prefix = manifestKey.rpartition("/")[0]
    return "%s/%s" % (prefix, filename) if prefix else filename


def bundleKind(manifest):
    """
    ``kernel``, ``ramdisk`` or ``machine``: the manifest's type, or its
    ``kernel_id``/``ramdisk_id`` of true/yes (ec2-bundle-image's way of
    marking a kernel), or a name starting vmlinuz/initrd.
    """
    if manifest.imageType in ("kernel", "ramdisk"):
        return manifest.imageType
    if (manifest.kernelId or "").lower() in _TRUE:
        return "kernel"
    if (manifest.ramdiskId or "").lower() in _TRUE:
        return "ramdisk"
    if manifest.name.startswith(KERNEL_NAMES):
        return "kernel"
    if manifest.name.startswith(RAMDISK_NAMES):
        return "ramdisk"
    return "machine"


def _invalid(message):
    return CloudError("InvalidManifest", message)


class BundleChecker:
    """
    @param source: a ``bundlesource.WalrusBundleSource``.
    @param certificatesFor: ``certificatesFor(userName)`` -> PEM certificates
        issued to that user (``None``: every user's), or a Deferred of them.
    @param cloudKey: the cloud's RSA private key, or None to skip that check.
    @param runInThread: runs parsing and RSA work off the reactor.
    """

    def __init__(self, source, certificatesFor, cloudKey=None, runInThread=None):
        self.source = source
        self.certificatesFor = certificatesFor
        self.cloudKey = cloudKey
        self.runInThread = runInThread or threads.deferToThread

    @defer.inlineCallbacks
    def check(self, caller, keys, location):
        """A Deferred ``CheckedBundle`` of ``location``, or a CloudError."""
        bucket, key = splitLocation(location)
        try:
            raw = yield self.source.getManifest(keys, bucket, key)
        except BundleSourceError as e:
            if e.code == "ManifestTooLarge":
                raise _invalid("The manifest %s/%s is too large: %s" % (bucket, key, e))
            if e.status in (403, 404):
                raise _invalid("Cannot read the manifest %s/%s: %s"
                               % (bucket, key, e.code or e.status))
            raise CloudError("InternalError", "Walrus failed: %s" % (e,), 500)
        pems = yield defer.maybeDeferred(self.certificatesFor,
                                         None if caller.isAdmin else caller.name)
        manifest = yield self.runInThread(self._verify, raw, list(pems or ()))
        missing = []
        for part in manifest.parts:
            found = yield self.source.exists(keys, bucket, partKey(key, part.filename))
            if not found:
                missing.append(part.filename)
        if missing:
            raise _invalid("The bundle's parts are missing from %s: %s"
                           % (bucket, ", ".join(missing[:10])))
        return CheckedBundle(bucket, key, manifest, raw)

    def _verify(self, raw, pems):
        """Worker thread: parse, check the signature and the cloud's key."""
        try:
            manifest = parseManifest(raw)
        except ManifestError as e:
            raise _invalid(str(e))
        certificates = []
        for pem in pems:
            try:
                certificates.append(crypto.loadCertificate(pem))
            except crypto.BundleKeyError:
                continue
        if not certificates:
            raise _invalid("No certificate has been issued to you: the manifest's "
                           "signature cannot be checked")
        if crypto.verifyManifest(manifest, certificates) is None:
            raise _invalid("The manifest's signature does not match your certificate")
        if self.cloudKey is not None:
            try:
                crypto.decryptSecret(self.cloudKey, manifest.ec2EncryptedKey)
                crypto.decryptSecret(self.cloudKey, manifest.ec2EncryptedIv)
            except crypto.BundleKeyError:
                raise _invalid("The bundle is not encrypted to this cloud's certificate "
                               "(bundle with EUCALYPTUS_CERT naming cloud-cert.pem)")
        return manifest
