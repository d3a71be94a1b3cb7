"""Decrypting a bundle as one stream: parts -> SHA1 -> AES -> gunzip -> untar.

``decryptBundle`` reads the parts in manifest order through a caller's
``openPart`` (files in tests and tools, Walrus's store in the image cache),
checks each part against its SHA1, decrypts, inflates and unpacks the one
regular tar member straight into the caller's output file: no intermediate
copy is ever written.  It runs in a worker thread (it blocks on I/O and
CPU); Walrus's image cache calls it through its thread pool.

Untrusted input is bounded: the tar must hold exactly one plain file whose
name stays relative, no link, device or directory; its size and the whole
inflated stream are bounded by the manifest's ``image/size``, so a tar or
gzip bomb stops at that bound instead of filling the disk.
"""

import hashlib
import tarfile
import zlib

from eucad.bundle import crypto

CHUNK = 1024 * 1024
#: Inflated bytes allowed beyond the image itself: tar headers and padding.
TAR_OVERHEAD = 16 * 1024 * 1024


class BundleReadError(ValueError):
    """The bundle cannot be decrypted; ``str()`` is the reason for the user."""


class MissingPart(BundleReadError):
    pass


class CorruptPart(BundleReadError):
    pass


class OutputError(BundleReadError):
    """Writing the result failed (disk full...): not the bundle's fault."""


class _PartStream:
    """The parts' bytes in manifest order, each checked against its SHA1."""

    def __init__(self, parts, openPart):
        self._parts = list(parts)
        self._openPart = openPart
        self._file = None
        self._hash = None
        self.current = None

    def _next(self):
        if not self._parts:
            return False
        self.current = self._parts.pop(0)
        try:
            self._file = self._openPart(self.current.filename)
        except (OSError, KeyError, LookupError) as e:
            raise MissingPart("Part %s of the bundle is missing (%s)"
                              % (self.current.filename, e))
        self._hash = hashlib.sha1()
        return True

    def _finishPart(self):
        self._file.close()
        self._file = None
        if self._hash.hexdigest() != self.current.sha1:
            raise CorruptPart("Part %s is corrupt: its SHA1 does not match the manifest"
                              % (self.current.filename,))

    def read(self, size):
        while True:
            if self._file is None and not self._next():
                return b""
            data = self._file.read(size)
            if data:
                self._hash.update(data)
                return data
            self._finishPart()

    def checkCurrentPart(self):
        """
        After a failure downstream: read the rest of the current part and
        raise ``CorruptPart`` if it does not match, since a damaged part is
        the likelier and clearer reason.
        """
        if self._file is None:
            return
        try:
            while True:
                data = self._file.read(CHUNK)
                if not data:
                    break
                self._hash.update(data)
        except OSError:
            return
        self._finishPart()

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


class _Decrypting:
    """AES-128-CBC with PKCS#7 padding removed at the end."""

    def __init__(self, source, key, iv):
        self._source = source
        self._aes = crypto.aesDecryptor(key, iv)
        self._unpadder = crypto.pkcs7Unpadder()
        self._done = False

    def read(self, size):
        while not self._done:
            data = self._source.read(size)
            if data:
                out = self._unpadder.update(self._aes.update(data))
            else:
                self._done = True
                try:
                    out = self._unpadder.update(self._aes.finalize())
                    out += self._unpadder.finalize()
                except ValueError:
                    raise BundleReadError(
                        "The bundle does not decrypt: wrong key or truncated parts")
            if out:
                return out
        return b""


class _Gunzip:
    """gzip members inflated, at most ``limit`` bytes in all."""

    def __init__(self, source, limit):
        self._source = source
        self._limit = limit
        self._inflated = 0
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._input = b""
        self._ended = False

    def read(self, size=CHUNK):
        if size is None or size < 0:
            size = CHUNK
        while True:
            if not self._input and not self._ended:
                self._input = self._source.read(CHUNK)
                if not self._input:
                    self._ended = True
            if self._zlib.eof:
                rest = self._zlib.unused_data + self._input
                self._input = b""
                if not rest.strip(b"\0"):
                    if self._ended:
                        return b""
                    continue
                self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._input = rest
            if self._ended and not self._input:
                # Nothing left to feed: anything still held back is the end.
                try:
                    out = self._zlib.flush()
                except zlib.error as e:
                    raise BundleReadError("The bundle's gzip stream is damaged: %s" % (e,))
                if not self._zlib.eof:
                    raise BundleReadError("The bundle's gzip stream is truncated")
                return self._count(out)
            try:
                out = self._zlib.decompress(self._input, size)
            except zlib.error as e:
                raise BundleReadError("The bundle's gzip stream is damaged: %s" % (e,))
            self._input = self._zlib.unconsumed_tail
            if out:
                return self._count(out)

    def _count(self, out):
        self._inflated += len(out)
        if self._inflated > self._limit:
            raise BundleReadError(
                "The bundle inflates to more than the manifest's image size")
        return out


def _checkMember(member, maxSize):
    if not member.isreg():
        raise BundleReadError(
            "The bundle's tar member %r is not a plain file (links, devices and "
            "directories are refused)" % (member.name[:80],))
    name = member.name
    if name.startswith("/") or ".." in name.split("/") or not name.strip("./"):
        raise BundleReadError("The bundle's tar member has an unsafe name %r"
                              % (name[:80],))
    if member.size > maxSize:
        raise BundleReadError(
            "The bundle's tar member is %d bytes, more than the manifest's %d"
            % (member.size, maxSize))


def decryptBundle(manifest, key, iv, openPart, output, chunk=CHUNK):
    """
    Write the image of the bundle described by ``manifest`` to ``output``
    (a binary file object); return ``(sha1hex, size)`` of what was written.

    @param key, iv: the AES key and IV (``crypto.decryptSecret``).
    @param openPart: ``openPart(filename)`` returns a binary file object of
        that part; raising OSError or LookupError means the part is missing.
    @raise BundleReadError: with the reason, on any damage or refusal.
    """
    parts = _PartStream(manifest.parts, openPart)
    try:
        return _unpack(manifest, key, iv, parts, output, chunk)
    except (MissingPart, CorruptPart, OutputError):
        raise
    except BundleReadError:
        parts.checkCurrentPart()
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        parts.checkCurrentPart()
        raise BundleReadError("The bundle's tar stream is damaged: %s" % (e,))
    finally:
        parts.close()


def _unpack(manifest, key, iv, parts, output, chunk):
    limit = manifest.size + TAR_OVERHEAD
    inflated = _Gunzip(_Decrypting(parts, key, iv), limit)
    archive = tarfile.open(fileobj=inflated, mode="r|", bufsize=chunk)
    member = archive.next()
    if member is None:
        raise BundleReadError("The bundle's tar stream holds no file")
    _checkMember(member, manifest.size)
    digest = hashlib.sha1()
    written = 0
    source = archive.extractfile(member)
    while True:
        data = source.read(chunk)
        if not data:
            break
        written += len(data)
        if written > manifest.size:
            raise BundleReadError("The image is larger than the manifest says")
        digest.update(data)
        try:
            output.write(data)
        except OSError as e:
            raise OutputError("Cannot write the decrypted image: %s" % (e,))
    if written != member.size:
        raise BundleReadError("The bundle's tar member is truncated")
    if archive.next() is not None:
        raise BundleReadError("The bundle's tar stream holds more than one file")
    # Read to the end so that every part's SHA1, the padding and the gzip
    # trailer are checked too.
    while inflated.read(chunk):
        pass
    return digest.hexdigest(), written
