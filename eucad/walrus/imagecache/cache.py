"""``ImageCache``: one decryption per bundle, off the reactor, LRU on disk.

A bundle is known by the SHA1 of its manifest's bytes, so a bundle uploaded
again under the same name with new content is a new entry.  ``fetch`` parses
the manifest and unwraps the AES key with the cloud's private key, reserves
room (evicting the least recently used images), then decrypts straight into
``<key>.partial`` and renames it: all of that in the thread pool.  Callers
asking for a bundle being decrypted wait for that decryption.  Each caller
gets the image already opened for reading, so that an eviction racing with
it (an unlink) cannot take the bytes away; deleting an evicted entry's files
is ordered before any new decryption of the same bundle.
"""

import dataclasses
import hashlib
import os

from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.failure import Failure

from eucad.bundle import crypto, reader
from eucad.bundle.errors import ImageUnavailable
from eucad.bundle.manifest import ManifestError, parseManifest
from eucad.walrus.imagecache import directory as files

log = Logger()


class ImageCacheError(ImageUnavailable):
    """An image cannot be decrypted or cached; ``str()`` is the reason."""


@dataclasses.dataclass(frozen=True)
class CachedImage:
    """A decrypted image on disk, with what was measured while writing it."""

    key: str
    path: str
    sha1: str
    size: int


@dataclasses.dataclass(frozen=True)
class OpenedImage:
    """
    A cached image and a file opened on it for reading, which the caller
    must close.  Once opened, an eviction (which unlinks) cannot take the
    bytes from under the reader.
    """

    image: CachedImage
    file: object


def _entryImage(entry):
    return CachedImage(entry.key, entry.path, entry.sha1, entry.size)


def _openForReading(path):
    """Worker thread: open the image and mark it used (the LRU order on disk)."""
    f = open(path, "rb")
    files.markUsed(path)
    return f


#: How often a fetch tries again when its image was evicted before it could
#: be opened (only a cache far too small for its load does that).
OPEN_ATTEMPTS = 3


class ImageCache:
    """
    @param directory: where decrypted images live (created 0700).
    @param capacity: the most bytes of images kept.
    @param cloudKey: the cloud's RSA private key (``crypto.loadPrivateKey``),
        to which bundles' ``ec2_encrypted_key`` is wrapped.
    @param runInThread: ``runInThread(f, *args)`` returns a Deferred of
        ``f(*args)`` run in a worker thread; usually
        ``partial(deferToThreadPool, reactor, pool)``.
    """

    def __init__(self, directory, capacity, cloudKey, runInThread):
        self.directory = directory
        self.cloudKey = cloudKey
        self._run = runInThread
        self._index = files.CacheIndex(capacity)
        self._waiting = {}
        #: key -> Deferred of the job deleting that evicted entry's files; a
        #: new decryption of the same bundle waits for it, so that a late
        #: deletion never removes the new files.
        self._removing = {}
        self.decryptions = 0

    @classmethod
    def withThreadPool(cls, directory, capacity, cloudKey, reactor, pool):
        return cls(directory, capacity, cloudKey,
                   lambda f, *args: threads.deferToThreadPool(reactor, pool, f, *args))

    @defer.inlineCallbacks
    def start(self):
        """Load what an earlier run left complete; delete what it left half done."""
        entries = yield self._run(files.scan, self.directory)
        self._index.load(entries)

    @property
    def capacity(self):
        """The most bytes of images kept."""
        return self._index.capacity

    @property
    def used(self):
        """Bytes of the images kept and of the decryptions under way."""
        return self._index.used

    def setCapacity(self, capacity):
        """
        Keep at most ``capacity`` bytes from now on (the administrator's
        image cache size, changed while Walrus runs): the least recently used
        images are evicted at once until the rest fit, as a decryption would
        evict them.  A reader that opened an evicted image keeps reading it.

        @return: a Deferred firing with the keys evicted once their files
            are deleted.
        """
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError("the image cache's capacity must be a positive number of "
                             "bytes, not %r" % (capacity,))
        evicted = self._index.setCapacity(capacity)
        for entry in evicted:
            self._evict(entry.key)
        if evicted:
            log.info("Image cache limited to {capacity} bytes: evicted {n} image(s)",
                     capacity=capacity, n=len(evicted))
        keys = [entry.key for entry in evicted]
        d = defer.DeferredList([self._removing[key] for key in keys if key in self._removing])
        return d.addCallback(lambda _: keys)

    def cached(self, manifestBytes):
        """The ``CachedImage`` of a bundle already decrypted, or None."""
        entry = self._index.get(hashlib.sha1(manifestBytes).hexdigest())
        return None if entry is None else _entryImage(entry)

    @defer.inlineCallbacks
    def fetch(self, manifestBytes, openPart):
        """
        A Deferred of the bundle's ``OpenedImage``, decrypting it unless it
        is cached; fails with ``ImageCacheError`` saying why.

        @param openPart: ``openPart(filename)`` opens one part for reading
            (called in a worker thread; OSError or LookupError: missing).
        """
        for _ in range(OPEN_ATTEMPTS):
            image = yield self._cachedOrDecrypted(manifestBytes, openPart)
            try:
                opened = yield self._run(_openForReading, image.path)
            except FileNotFoundError:
                continue
            return OpenedImage(image, opened)
        raise ImageCacheError("The image was evicted as soon as it was decrypted: "
                              "the image cache is too small for its load")

    def _cachedOrDecrypted(self, manifestBytes, openPart):
        key = hashlib.sha1(manifestBytes).hexdigest()
        entry = self._index.get(key)
        if entry is not None:
            return defer.succeed(_entryImage(entry))
        waiter = defer.Deferred()
        if key in self._waiting:
            self._waiting[key].append(waiter)
            return waiter
        self._waiting[key] = [waiter]
        self._decrypt(key, manifestBytes, openPart).addBoth(self._finished, key)
        return waiter

    def _finished(self, result, key):
        for waiter in self._waiting.pop(key):
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)

    @defer.inlineCallbacks
    def _decrypt(self, key, manifestBytes, openPart):
        manifest, aesKey, iv = yield self._run(self._unwrap, manifestBytes)
        try:
            evicted = self._index.reserve(key, manifest.size)
        except files.CacheFull as e:
            raise ImageCacheError(str(e))
        for old in evicted:
            self._evict(old.key)
        try:
            if key in self._removing:
                yield self._removing[key]
            sha1, size = yield self._run(self._write, key, manifest, aesKey, iv, openPart)
        except BaseException:
            self._index.release(key)
            raise
        entry = files.Entry(key, files.imagePath(self.directory, key), sha1, size)
        self._index.add(entry)
        self.decryptions += 1
        log.info("Decrypted bundle {name} ({size} bytes, sha1 {sha1})",
                 name=manifest.name, size=size, sha1=sha1)
        return _entryImage(entry)

    def _unwrap(self, manifestBytes):
        """Worker thread: the manifest and its AES key and IV."""
        try:
            manifest = parseManifest(manifestBytes)
            aesKey = crypto.decryptSecret(self.cloudKey, manifest.ec2EncryptedKey)
            iv = crypto.decryptSecret(self.cloudKey, manifest.ec2EncryptedIv)
        except (ManifestError, crypto.BundleKeyError) as e:
            raise ImageCacheError(str(e))
        return manifest, aesKey, iv

    def _evict(self, key):
        d = self._run(files.removeEntry, self.directory, key)
        d.addErrback(lambda f: log.failure("evicting {key}", f, key=key))
        self._removing[key] = d

        def removed(_):
            if self._removing.get(key) is d:
                del self._removing[key]
        d.addCallback(removed)

    def _write(self, key, manifest, aesKey, iv, openPart):
        """Worker thread: decrypt into ``.partial``, rename, record."""
        partial = files.partialPath(self.directory, key)
        files.removeEntry(self.directory, key)
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as e:
            raise ImageCacheError("Cannot write to the image cache: %s" % (e,))
        try:
            with os.fdopen(fd, "wb", buffering=0) as output:
                sha1, size = reader.decryptBundle(manifest, aesKey, iv, openPart, output)
            os.rename(partial, files.imagePath(self.directory, key))
            files.writeRecord(self.directory, key, sha1, size)
        except (reader.BundleReadError, OSError) as e:
            files.removeEntry(self.directory, key)
            raise ImageCacheError(str(e))
        except BaseException:
            files.removeEntry(self.directory, key)
            raise
        return sha1, size
