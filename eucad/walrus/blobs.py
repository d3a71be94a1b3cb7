"""Object data on disk: blob files under ``var/lib/eucalyptus/bukkits``.

A blob is named by a random hex id, never by its key, and lives in
``blobs/<first two hex digits>/<id>``.  New data is written to a temporary
file beside it, ``blobs/<xx>/put-<id>``, fsynced, and renamed to ``<id>``
(and the directory fsynced) before the database row that names it is
committed; old blobs are unlinked only after the commit that stops naming
them.  So a crash at any point leaves each key on its old data or its new
data, and what it can leave behind is only files nobody names: temporary
files and blobs missing from the database, which ``sweep`` removes at start.

The temporary file is made in the blob's own directory, not in a shared
``tmp/``, because a rename between directories takes the filesystem-wide
rename lock: eight writers fsyncing 4 KiB files managed 1500 creates a
second through ``tmp/`` and 3400 renaming within the fan-out directory
(bench/s3.py's machine).  Older versions used ``tmp/``; ``sweep`` still
empties it.

Small objects whose body arrived in memory are not blobs at all: their
bytes are kept in their database row (eucad.walrus.inline), made durable
by the commit itself.

Every method here blocks (disk I/O): callers run them in a thread pool.
"""

import ctypes
import errno
import os
import secrets
import time

TEMP_PREFIX = "put-"
COPY_CHUNK = 1024 * 1024

_SYNC_FILE_RANGE_WRITE = 2


def _loadSyncFileRange():
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


_syncFileRange = _loadSyncFileRange()


def startWriteback(fd, offset, length):
    """
    Ask the kernel to start writing ``length`` bytes at ``offset`` of
    ``fd`` to disk now, without waiting (Linux ``sync_file_range`` with
    ``SYNC_FILE_RANGE_WRITE``; nothing elsewhere).

    Only a head start, never a durability promise: the fsync before a blob
    is installed still decides.  Without it the kernel holds a large upload
    in the page cache until that fsync, which then writes all of it while
    the client waits (about 0.12 s of a 0.5 s 256 MiB PUT here); started as
    the data arrives, the disk works while the body is still being hashed.
    """
    if _syncFileRange is not None and length > 0:
        _syncFileRange(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def newBlobName():
    """A fresh blob id (128 random bits, hex)."""
    return secrets.token_hex(16)


#: The most buffers one writev takes (Linux's IOV_MAX).
_IOV_MAX = 1024


def writeAll(fd, pieces):
    """
    Write every byte of ``pieces`` (bytes-like objects) to ``fd`` with
    writev: one system call for a batch, and no copy into a Python-side
    buffer (a buffered file would copy each piece once more before the
    kernel copies it again).
    """
    pending = [memoryview(piece).cast("B") for piece in pieces if len(piece)]
    first = 0
    while first < len(pending):
        written = os.writev(fd, pending[first:first + _IOV_MAX])
        while written:
            size = len(pending[first])
            if written >= size:
                written -= size
                first += 1
            else:
                pending[first] = pending[first][written:]
                written = 0


def _fsyncDirectory(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobDirectory:
    """The blob files of one Walrus and their temporary files."""

    def __init__(self, root):
        self.root = root
        self.tmp = os.path.join(root, "tmp")
        self.data = os.path.join(root, "blobs")

    def prepare(self):
        """Create the directory (at service start)."""
        os.makedirs(self.data, exist_ok=True)

    def path(self, name):
        if len(name) != 32 or not all(c in "0123456789abcdef" for c in name):
            raise ValueError("not a blob name: %r" % (name,))
        return os.path.join(self.data, name[:2], name)

    def _createTempFd(self):
        """A new temporary file beside its future blob: (fd open for writing, path)."""
        name = newBlobName()
        directory = os.path.join(self.data, name[:2])
        path = os.path.join(directory, TEMP_PREFIX + name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            return os.open(path, flags, 0o600), path
        except FileNotFoundError:
            os.makedirs(directory, exist_ok=True)
            return os.open(path, flags, 0o600), path

    def createTemp(self):
        """A new temporary file opened for writing: (file object, path)."""
        fd, path = self._createTempFd()
        return os.fdopen(fd, "wb", buffering=1024 * 1024), path

    def temporaryFiles(self):
        """Paths of every temporary file there is (unfinished or abandoned uploads)."""
        found = [entry.path for entry in _scandir(self.tmp)]
        for fanout in _scandir(self.data):
            if fanout.is_dir():
                found.extend(entry.path for entry in _scandir(fanout.path)
                             if entry.name.startswith(TEMP_PREFIX))
        return found

    @staticmethod
    def finishTemp(handle):
        """Flush, fsync and close a temporary file created by createTemp."""
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()

    def install(self, tempPath):
        """
        Rename a finished temporary file (from createTemp) to its blob, in
        the same directory, and make the rename durable; the blob's name.
        """
        directory, filename = os.path.split(tempPath)
        if not filename.startswith(TEMP_PREFIX):
            raise ValueError("not a temporary file: %r" % (tempPath,))
        name = filename[len(TEMP_PREFIX):]
        target = self.path(name)
        if os.path.dirname(target) != directory:
            raise ValueError("temporary file %r is not beside its blob" % (tempPath,))
        os.rename(tempPath, target)
        _fsyncDirectory(directory)
        return name

    def installBytes(self, data):
        """Write ``data`` as a new blob (temp, fsync, rename); its name."""
        fd, tempPath = self._createTempFd()
        try:
            try:
                writeAll(fd, [data])
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            self.discardTemp(tempPath)
            raise
        return self.install(tempPath)

    @staticmethod
    def discardTemp(tempPath):
        try:
            os.unlink(tempPath)
        except FileNotFoundError:
            pass

    def remove(self, names):
        """Unlink blobs that no row names any more (missing ones are fine)."""
        for name in names:
            try:
                os.unlink(self.path(name))
            except FileNotFoundError:
                pass

    def open(self, name):
        """An unbuffered read handle on a blob (raises FileNotFoundError)."""
        return open(self.path(name), "rb", buffering=0)

    def size(self, name):
        return os.stat(self.path(name)).st_size

    def copyRanges(self, pieces, handle, digests=None):
        """
        Append to ``handle`` the byte ranges ``pieces`` = [(blob, offset,
        length)], updating ``digests`` (a BodyDigests) if given.
        """
        for name, offset, length in pieces:
            with self.open(name) as source:
                source.seek(offset)
                remaining = length
                while remaining > 0:
                    data = source.read(min(COPY_CHUNK, remaining))
                    if not data:
                        raise IOError(errno.EIO, "blob %s is shorter than recorded" % (name,))
                    remaining -= len(data)
                    if digests is not None:
                        digests.update(data)
                    handle.write(data)

    def sweep(self, referenced, olderThan=None):
        """
        Remove every temporary file, and every blob that ``referenced()``
        (the set of blob names the database names, asked for once and only
        if needed) does not contain, if it is older than ``olderThan``
        (epoch seconds, default now): uploads begun since are left alone.
        Returns (temporary files removed, blobs removed).
        """
        olderThan = time.time() if olderThan is None else olderThan
        removedTemp = removedBlobs = 0
        for entry in _scandir(self.tmp):
            if entry.is_file() and entry.stat().st_mtime < olderThan:
                self.discardTemp(entry.path)
                removedTemp += 1
        named = None
        for fanout in _scandir(self.data):
            if not fanout.is_dir():
                continue
            for entry in _scandir(fanout.path):
                if not entry.is_file() or entry.stat().st_mtime >= olderThan:
                    continue
                if entry.name.startswith(TEMP_PREFIX):
                    self.discardTemp(entry.path)
                    removedTemp += 1
                    continue
                if named is None:
                    named = referenced()
                if entry.name not in named:
                    try:
                        os.unlink(entry.path)
                        removedBlobs += 1
                    except FileNotFoundError:
                        pass
        return removedTemp, removedBlobs


def _scandir(path):
    try:
        with os.scandir(path) as entries:
            return list(entries)
    except FileNotFoundError:
        return []
