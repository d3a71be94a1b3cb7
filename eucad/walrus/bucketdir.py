"""The bucket directory Walrus keeps its blobs in, which the administrator may move.

``MovableBlobs`` stands where the store expects a ``BlobDirectory`` and
serves from one root, or from two while the blobs are being moved: new
blobs are always written to the new root (``primary``); a blob is read from
the new root once it is there and from the old one (``previous``) until
then; a removed blob is unlinked from both.  So requests keep working
during a move, and what the database names is always in one root or both.

``copyBlobs`` is the move itself: every blob of the old root is copied
into the new one (temporary file, fsync, rename, as an upload is made
durable), then the caller records the switch and ``removeRoot`` deletes the
old copies.  A move interrupted at any point (a kill, a full disk) leaves
every blob whole in the old root, and possibly also in the new one: started
again it copies only what is missing.

Everything here blocks (disk I/O): callers run it in Walrus's I/O threads.
"""

import errno
import os
import shutil
import threading

from eucad.walrus.blobs import TEMP_PREFIX, BlobDirectory, _fsyncDirectory

#: How many bytes one read of a copy takes.
COPY_CHUNK = 1024 * 1024
#: Seconds an I/O thread waits for Walrus to learn where its blobs are.
ROOTS_TIMEOUT = 30.0


class MovableBlobs:
    """
    A ``BlobDirectory`` whose root can change while Walrus runs.

    @param root: where the blobs are when Walrus starts, until
        ``useRoots`` says otherwise.
    @param waitForRoots: whether the root is known only once ``ready`` is
        set (the daemon reads it from the database when it starts): until
        then every operation but ``prepare`` waits, in its I/O thread.
    """

    finishTemp = staticmethod(BlobDirectory.finishTemp)
    discardTemp = staticmethod(BlobDirectory.discardTemp)

    def __init__(self, root, waitForRoots=False):
        self._lock = threading.Lock()
        self.primary = BlobDirectory(root)
        self.previous = None
        self.ready = threading.Event()
        self._known = not waitForRoots
        if not waitForRoots:
            self.ready.set()

    def rootsKnown(self):
        """The roots ``useRoots`` set are the real ones: waiting operations go on."""
        self._known = True
        self.ready.set()

    def abandon(self):
        """Walrus stops: operations still waiting for the roots fail now rather than later."""
        self.ready.set()

    @property
    def root(self):
        return self.primary.root

    def useRoots(self, primary, previous=None):
        """Write to ``primary`` from now on; read from ``previous`` what ``primary`` lacks."""
        with self._lock:
            if self.primary.root != primary:
                self.primary = BlobDirectory(primary)
            if previous is None or previous == primary:
                self.previous = None
            elif self.previous is None or self.previous.root != previous:
                self.previous = BlobDirectory(previous)

    def _roots(self):
        if not self.ready.wait(ROOTS_TIMEOUT) or not self._known:
            raise OSError(errno.EAGAIN, "Walrus does not know its bucket directory yet")
        with self._lock:
            return self.primary, self.previous

    def prepare(self):
        """Create the root's directories (in the reactor's thread at start: no wait)."""
        with self._lock:
            primary = self.primary
        primary.prepare()

    def path(self, name):
        primary, previous = self._roots()
        path = primary.path(name)
        if previous is not None and not os.path.exists(path):
            old = previous.path(name)
            if os.path.exists(old):
                return old
        return path

    def open(self, name):
        try:
            return open(self.path(name), "rb", buffering=0)
        except FileNotFoundError:
            # Copied and its old copy removed between the lookup and the open.
            return open(self.path(name), "rb", buffering=0)

    def size(self, name):
        return os.stat(self.path(name)).st_size

    copyRanges = BlobDirectory.copyRanges

    def createTemp(self):
        primary, _ = self._roots()
        return primary.createTemp()

    def install(self, tempPath):
        """
        Install a finished temporary file as a blob of the primary root; one
        made in the old root before a move began is copied across first, so
        that nothing new lands where the move has already been.
        """
        primary, _ = self._roots()
        if os.path.dirname(os.path.dirname(tempPath)) == primary.data:
            return primary.install(tempPath)
        target = _tempBeside(primary, os.path.basename(tempPath)[len(TEMP_PREFIX):])
        try:
            _copyDurably(tempPath, target)
        except BaseException:
            self.discardTemp(target)
            raise
        self.discardTemp(tempPath)
        return primary.install(target)

    def installBytes(self, data):
        primary, _ = self._roots()
        return primary.installBytes(data)

    def remove(self, names):
        primary, previous = self._roots()
        primary.remove(names)
        if previous is not None:
            previous.remove(names)

    def temporaryFiles(self):
        primary, previous = self._roots()
        found = primary.temporaryFiles()
        if previous is not None:
            found.extend(previous.temporaryFiles())
        return found

    def sweep(self, referenced, olderThan=None):
        primary, previous = self._roots()
        named = []

        def once():
            if not named:
                named.append(referenced())
            return named[0]
        removed = primary.sweep(once, olderThan)
        if previous is not None:
            more = previous.sweep(once, olderThan)
            removed = (removed[0] + more[0], removed[1] + more[1])
        return removed


def usable(root):
    """Whether Walrus can make its directories under ``root`` and write a file there."""
    try:
        BlobDirectory(root).prepare()
        probe = os.path.join(root, "blobs", ".probe-%d" % (os.getpid(),))
        with open(probe, "wb") as f:
            f.write(b"walrus")
        os.unlink(probe)
        return True
    except OSError:
        return False


def _tempBeside(directory, name):
    """The temporary file's path for blob ``name`` of ``directory`` (its fan-out made)."""
    path = directory.path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return os.path.join(os.path.dirname(path), TEMP_PREFIX + name)


def _copyDurably(source, target):
    """Copy ``source`` over ``target`` (0600) and fsync it."""
    with open(source, "rb") as reading, open(target, "wb") as writing:
        os.fchmod(writing.fileno(), 0o600)
        shutil.copyfileobj(reading, writing, COPY_CHUNK)
        writing.flush()
        os.fsync(writing.fileno())


def blobNames(root):
    """The names of the blobs under ``root`` (temporary files left out)."""
    data = os.path.join(root, "blobs")
    names = []
    for fanout in _listdir(data):
        for name in _listdir(os.path.join(data, fanout)):
            if not name.startswith(TEMP_PREFIX):
                names.append(name)
    return names


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


def copyBlobs(old, new, stop=None):
    """
    Copy every blob of root ``old`` that root ``new`` lacks into ``new``,
    durably; a blob removed from ``old`` meanwhile is not left in ``new``.
    Returns how many were copied.

    @param stop: a ``threading.Event``; when set the copy stops between blobs.
    """
    source, target = BlobDirectory(old), BlobDirectory(new)
    target.prepare()
    copied = 0
    for name in blobNames(old):
        if stop is not None and stop.is_set():
            break
        destination = target.path(name)
        if os.path.exists(destination):
            continue
        temp = _tempBeside(target, name)
        try:
            _copyDurably(source.path(name), temp)
        except FileNotFoundError:
            # Removed (a DELETE) since the listing: nothing to copy.
            target.discardTemp(temp)
            continue
        except BaseException:
            target.discardTemp(temp)
            raise
        os.rename(temp, destination)
        _fsyncDirectory(os.path.dirname(destination))
        if not os.path.exists(source.path(name)):
            # Removed while it was being copied: the new copy would be an orphan.
            target.remove([name])
        copied += 1
    return copied


def removeRoot(root):
    """
    Delete the blobs and temporary files Walrus kept under ``root`` (after a
    move away from it), then its empty directories; the root itself and
    anything Walrus did not make there stay.
    """
    for sub in ("blobs", "tmp"):
        top = os.path.join(root, sub)
        for fanout in _listdir(top):
            path = os.path.join(top, fanout)
            if os.path.isdir(path):
                for name in _listdir(path):
                    _unlink(os.path.join(path, name))
                _rmdir(path)
            else:
                _unlink(path)
        _rmdir(top)


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _rmdir(path):
    try:
        os.rmdir(path)
    except (FileNotFoundError, OSError):
        pass
