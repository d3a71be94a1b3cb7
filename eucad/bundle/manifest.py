"""The bundle manifest: its model, a safe parser and its serialisation.

The parser accepts what euca2ools 3 and ec2-ami-tools write; it never
resolves entities, DTDs or network references, refuses documents over a
size limit, and keeps the raw bytes of ``<machine_configuration>`` and
``<image>`` exactly as received, since the signature covers those bytes and
not a re-serialisation of them.  ``image/digest`` is kept but trusted by
nobody: some tool versions wrote the SHA1 of nothing there.
"""

import dataclasses
import re

from lxml import etree

#: Largest manifest read: a 10 GiB image in 10 MiB parts is ~200 KiB of XML.
MAX_MANIFEST_BYTES = 1024 * 1024

MANIFEST_VERSION = "2007-10-10"
IMAGE_TYPES = ("machine", "kernel", "ramdisk")
#: A part file name as the tools write it: no directories, no dot names.
_PART_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_HEX = re.compile(r"^[0-9a-fA-F]*$")


class ManifestError(ValueError):
    """The manifest is not a bundle manifest this cloud can use; says why."""


@dataclasses.dataclass(frozen=True)
class Part:
    index: int
    filename: str
    sha1: str


@dataclasses.dataclass(frozen=True)
class Manifest:
    """
    One bundle's manifest.

    @ivar signedBytes: the bytes the signature covers, as received:
        ``<machine_configuration>…</machine_configuration>`` followed by
        ``<image>…</image>`` (empty for a manifest built here and not yet
        serialised).
    """

    name: str
    user: str
    imageType: str
    size: int
    bundledSize: int
    digest: str
    architecture: str
    kernelId: str | None
    ramdiskId: str | None
    ec2EncryptedKey: str
    ec2EncryptedIv: str
    userEncryptedKey: str
    userEncryptedIv: str
    parts: tuple
    signature: str = ""
    version: str = MANIFEST_VERSION
    bundlerName: str = "eucad-image"
    bundlerVersion: str = "0.1.0"
    bundlerRelease: str = "0"
    blockDeviceMapping: tuple = ()
    productCodes: tuple = ()
    signedBytes: bytes = b""


def _parser():
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_pis=True,
                           remove_comments=True)


def _text(root, path, required=True):
    node = root.find(path)
    if node is None or node.text is None or not node.text.strip():
        if required:
            raise ManifestError("The manifest has no %s" % (path,))
        return None
    return node.text.strip()


def _integer(root, path):
    text = _text(root, path)
    if not text.isdigit():
        raise ManifestError("The manifest's %s is not a size: %r" % (path, text[:40]))
    return int(text)


def _hexText(root, path):
    text = _text(root, path)
    if not _HEX.match(text) or len(text) % 2:
        raise ManifestError("The manifest's %s is not hex" % (path,))
    return text.lower()


def _rawElement(raw, tag):
    """The raw bytes of the one ``<tag>…</tag>`` in ``raw``, start to end tag."""
    opening, closing = b"<%s>" % tag, b"</%s>" % tag
    if raw.count(opening) != 1 or raw.count(closing) != 1:
        raise ManifestError("The manifest must have exactly one <%s> element"
                            % (tag.decode(),))
    start = raw.index(opening)
    end = raw.index(closing) + len(closing)
    if end <= start:
        raise ManifestError("The manifest's <%s> element is malformed" % (tag.decode(),))
    return start, end


def signedRegion(raw):
    """
    ``<machine_configuration>…</machine_configuration><image>…</image>`` as
    received: each element's own bytes, joined (whitespace between them, as
    a pretty-printing writer leaves it, is not part of either element).
    """
    mcStart, mcEnd = _rawElement(raw, b"machine_configuration")
    imageStart, imageEnd = _rawElement(raw, b"image")
    if imageStart < mcEnd:
        raise ManifestError("<machine_configuration> must come before <image>")
    return raw[mcStart:mcEnd] + raw[imageStart:imageEnd]


def parseManifest(raw, maxBytes=MAX_MANIFEST_BYTES):
    """
    The ``Manifest`` of the manifest document ``raw`` (bytes); raises
    ``ManifestError`` saying what is wrong.
    """
    if not isinstance(raw, bytes):
        raise TypeError("parseManifest takes bytes")
    if len(raw) > maxBytes:
        raise ManifestError("The manifest is larger than %d bytes" % (maxBytes,))
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise ManifestError("The manifest may not have a DTD or entities")
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as e:
        raise ManifestError("The manifest is not well-formed XML: %s" % (e,))
    if root.tag != "manifest":
        raise ManifestError("The document is not a manifest (root <%s>)" % (root.tag,))
    signed = signedRegion(raw)
    imageType = _text(root, "image/type", required=False) or "machine"
    if imageType not in IMAGE_TYPES:
        raise ManifestError("Unknown image type %r" % (imageType[:40],))
    parts = []
    partsNode = root.find("image/parts")
    if partsNode is None:
        raise ManifestError("The manifest lists no parts")
    for node in partsNode.findall("part"):
        try:
            index = int(node.get("index", ""))
        except ValueError:
            raise ManifestError("A part has no index")
        filename = _text(node, "filename")
        if not _PART_NAME.match(filename) or ".." in filename:
            raise ManifestError("Bad part file name %r" % (filename[:80],))
        sha1 = _hexText(node, "digest")
        if len(sha1) != 40:
            raise ManifestError("Part %d's digest is not a SHA1" % (index,))
        parts.append(Part(index, filename, sha1))
    if not parts:
        raise ManifestError("The manifest lists no parts")
    parts.sort(key=lambda part: part.index)
    if [part.index for part in parts] != list(range(len(parts))):
        raise ManifestError("The part indexes are not 0..%d" % (len(parts) - 1,))
    if len({part.filename for part in parts}) != len(parts):
        raise ManifestError("Two parts have the same file name")
    mapping = tuple(
        (_text(node, "virtual"), _text(node, "device"))
        for node in root.findall("machine_configuration/block_device_mapping/mapping"))
    codes = tuple(node.text.strip() for node in
                  root.findall("machine_configuration/product_codes/product_code")
                  if node.text and node.text.strip())
    return Manifest(
        name=_text(root, "image/name"),
        user=_text(root, "image/user", required=False) or "",
        imageType=imageType,
        size=_integer(root, "image/size"),
        bundledSize=_integer(root, "image/bundled_size"),
        digest=_text(root, "image/digest", required=False) or "",
        architecture=_text(root, "machine_configuration/architecture",
                           required=False) or "x86_64",
        kernelId=_text(root, "machine_configuration/kernel_id", required=False),
        ramdiskId=_text(root, "machine_configuration/ramdisk_id", required=False),
        ec2EncryptedKey=_hexText(root, "image/ec2_encrypted_key"),
        ec2EncryptedIv=_hexText(root, "image/ec2_encrypted_iv"),
        userEncryptedKey=_hexText(root, "image/user_encrypted_key"),
        userEncryptedIv=_hexText(root, "image/user_encrypted_iv"),
        parts=tuple(parts),
        signature=_hexText(root, "signature"),
        version=_text(root, "version", required=False) or "",
        bundlerName=_text(root, "bundler/name", required=False) or "",
        bundlerVersion=_text(root, "bundler/version", required=False) or "",
        bundlerRelease=_text(root, "bundler/release", required=False) or "",
        blockDeviceMapping=mapping,
        productCodes=codes,
        signedBytes=signed)


def _element(parent, tag, text=None, **attributes):
    node = etree.SubElement(parent, tag, **attributes)
    if text is not None:
        node.text = str(text)
    return node


def signedElements(manifest):
    """
    The serialised ``<machine_configuration>`` and ``<image>`` elements of
    ``manifest`` (the bytes to sign), with no whitespace inside or between.
    """
    config = etree.Element("machine_configuration")
    _element(config, "architecture", manifest.architecture)
    if manifest.blockDeviceMapping:
        mappings = _element(config, "block_device_mapping")
        for virtual, device in manifest.blockDeviceMapping:
            mapping = _element(mappings, "mapping")
            _element(mapping, "virtual", virtual)
            _element(mapping, "device", device)
    if manifest.productCodes:
        codes = _element(config, "product_codes")
        for code in manifest.productCodes:
            _element(codes, "product_code", code)
    if manifest.kernelId:
        _element(config, "kernel_id", manifest.kernelId)
    if manifest.ramdiskId:
        _element(config, "ramdisk_id", manifest.ramdiskId)
    image = etree.Element("image")
    _element(image, "name", manifest.name)
    _element(image, "user", manifest.user)
    _element(image, "type", manifest.imageType)
    _element(image, "digest", manifest.digest, algorithm="SHA1")
    _element(image, "size", manifest.size)
    _element(image, "bundled_size", manifest.bundledSize)
    _element(image, "ec2_encrypted_key", manifest.ec2EncryptedKey,
             algorithm="AES-128-CBC")
    _element(image, "user_encrypted_key", manifest.userEncryptedKey,
             algorithm="AES-128-CBC")
    _element(image, "ec2_encrypted_iv", manifest.ec2EncryptedIv)
    _element(image, "user_encrypted_iv", manifest.userEncryptedIv)
    parts = _element(image, "parts", count=str(len(manifest.parts)))
    for part in manifest.parts:
        node = _element(parts, "part", index=str(part.index))
        _element(node, "filename", part.filename)
        _element(node, "digest", part.sha1, algorithm="SHA1")
    return etree.tostring(config) + etree.tostring(image)


def serialiseManifest(manifest, signedBytes, signature):
    """
    The manifest document: ``signedBytes`` (from ``signedElements``) placed
    verbatim between the bundler and the signature, as ec2-ami-tools lays
    it out, so that the signed bytes are exactly those a reader finds.
    """
    head = etree.Element("manifest")
    _element(head, "version", manifest.version)
    bundler = _element(head, "bundler")
    _element(bundler, "name", manifest.bundlerName)
    _element(bundler, "version", manifest.bundlerVersion)
    _element(bundler, "release", manifest.bundlerRelease)
    opening = etree.tostring(head)
    # tostring gives <manifest>…</manifest>; the signed elements and the
    # signature go in before the closing tag.
    body = opening[:-len(b"</manifest>")]
    signatureNode = etree.Element("signature")
    signatureNode.text = signature
    signatureXml = etree.tostring(signatureNode)
    return (b'<?xml version="1.0" encoding="UTF-8"?>' + body + signedBytes
            + signatureXml + b"</manifest>")
