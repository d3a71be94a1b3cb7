"""The cache's files: ``<key>.img`` with ``<key>.json`` beside it, LRU by use.

Every method that touches the disk is meant for a worker thread; the index
itself (``CacheIndex``) is plain bookkeeping kept by the reactor thread.  An
entry exists only once both its image and its record are complete: the image
is written as ``<key>.partial`` and renamed, the record written atomically
after it, and ``scan`` at start deletes whatever a crash left half done.
"""

import collections
import dataclasses
import json
import os
import re

from eucad.common.atomicfile import writeAtomically

_KEY = re.compile(r"^[0-9a-f]{40}$")


@dataclasses.dataclass(frozen=True)
class Entry:
    key: str
    path: str
    sha1: str
    size: int


def imagePath(directory, key):
    return os.path.join(directory, key + ".img")


def partialPath(directory, key):
    return os.path.join(directory, key + ".partial")


def recordPath(directory, key):
    return os.path.join(directory, key + ".json")


def prepare(directory):
    """Create the cache directory (0700) if needed."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)


def scan(directory):
    """
    The complete entries on disk, least recently used first; partial files
    and entries missing a half (or of the wrong size) are deleted.
    """
    prepare(directory)
    names = set(os.listdir(directory))
    found = []
    for name in names:
        key, _, suffix = name.partition(".")
        if suffix == "partial" or not _KEY.match(key):
            _remove(os.path.join(directory, name))
            continue
        if suffix != "json":
            continue
        entry = _readRecord(directory, key)
        if entry is None or key + ".img" not in names:
            removeEntry(directory, key)
            continue
        found.append((os.stat(entry.path).st_mtime, entry))
    for name in names:
        key, _, suffix = name.partition(".")
        if suffix == "img" and key + ".json" not in names:
            _remove(os.path.join(directory, name))
    return [entry for _, entry in sorted(found, key=lambda pair: pair[0])]


def _readRecord(directory, key):
    try:
        with open(recordPath(directory, key), "rb") as f:
            record = json.loads(f.read())
        entry = Entry(key, imagePath(directory, key), str(record["sha1"]),
                      int(record["size"]))
        if os.path.getsize(entry.path) != entry.size:
            return None
        return entry
    except (OSError, ValueError, KeyError, TypeError):
        return None


def writeRecord(directory, key, sha1, size):
    writeAtomically(recordPath(directory, key),
                    json.dumps({"sha1": sha1, "size": size}), mode=0o600)


def removeEntry(directory, key):
    for path in (recordPath(directory, key), imagePath(directory, key),
                 partialPath(directory, key)):
        _remove(path)


def markUsed(path):
    """Record a use in the image's mtime, the order ``scan`` restores."""
    try:
        os.utime(path)
    except OSError:
        pass


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


class CacheFull(Exception):
    """Even after evicting every idle entry there is no room."""


class CacheIndex:
    """
    Which entries exist, in LRU order, and how many bytes are promised to
    decryptions in progress.  Reactor-thread only.
    """

    def __init__(self, capacity):
        self.capacity = capacity
        self._entries = collections.OrderedDict()
        self._reserved = {}

    def load(self, entries):
        for entry in entries:
            self._entries[entry.key] = entry

    def get(self, key):
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    @property
    def used(self):
        return (sum(entry.size for entry in self._entries.values())
                + sum(self._reserved.values()))

    def reserve(self, key, size):
        """
        Promise ``size`` bytes to ``key``'s decryption; return the entries
        evicted to make room (their files are the caller's to delete).
        """
        if size > self.capacity:
            raise CacheFull("The image (%d bytes) is larger than the whole image "
                            "cache (%d bytes)" % (size, self.capacity))
        evicted = []
        while self.used + size > self.capacity and self._entries:
            _, entry = self._entries.popitem(last=False)
            evicted.append(entry)
        if self.used + size > self.capacity:
            kept = list(self._entries.items())
            self._entries.clear()
            self._entries.update((entry.key, entry) for entry in evicted)
            self._entries.update(kept)
            raise CacheFull("The image cache is full of images being decrypted")
        self._reserved[key] = size
        return evicted

    def setCapacity(self, capacity):
        """
        Keep at most ``capacity`` bytes from now on; return the least
        recently used entries evicted until the rest fit (their files are
        the caller's to delete).  Room promised to decryptions in progress
        is not taken back: they finish, and count against the new limit.
        """
        self.capacity = capacity
        evicted = []
        while self.used > capacity and self._entries:
            _, entry = self._entries.popitem(last=False)
            evicted.append(entry)
        return evicted

    def release(self, key):
        self._reserved.pop(key, None)

    def add(self, entry):
        self._reserved.pop(entry.key, None)
        self._entries[entry.key] = entry

    def keys(self):
        return list(self._entries)
