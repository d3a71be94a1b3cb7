"""Moving Walrus's bucket directory while it serves: both roots during a move, nothing lost."""

import os
import threading

from twisted.internet import task
from twisted.trial import unittest

from eucad.common import bucketdirectory
from eucad.walrus import bucketdir
from eucad.walrus.blobs import BlobDirectory
from eucad.walrus.bucketdir import MovableBlobs
from eucad.walrus.bucketmove import BucketDirectoryService
from tests.walrus.helpers import InlineDatabase, inlineIo


class StopAfter(threading.Event):
    """An Event that sets itself once it was asked ``count`` times (a move cut short)."""

    def __init__(self, count):
        threading.Event.__init__(self)
        self.count = count

    def is_set(self):
        self.count -= 1
        if self.count < 0:
            self.set()
        return threading.Event.is_set(self)


class MovableBlobsTests(unittest.TestCase):

    def setUp(self):
        base = os.path.abspath(self.mktemp())
        self.old, self.new = os.path.join(base, "old"), os.path.join(base, "new")
        os.makedirs(self.new)
        self.blobs = MovableBlobs(self.old)
        self.blobs.prepare()
        self.stored = {self.blobs.installBytes(b"blob %d" % n): b"blob %d" % n
                       for n in range(5)}

    def read(self, name):
        with self.blobs.open(name) as f:
            return f.read()

    def assertAllReadable(self):
        for name, data in self.stored.items():
            self.assertEqual(self.read(name), data)

    def test_bothRootsDuringAMove(self):
        """During a move old blobs are read from the old root, new ones written to the new; a removal reaches both."""
        self.blobs.useRoots(self.new, self.old)
        self.assertAllReadable()
        added = self.blobs.installBytes(b"after")
        self.assertTrue(os.path.exists(os.path.join(self.new, "blobs", added[:2], added)))
        self.assertEqual(self.read(added), b"after")
        gone = next(iter(self.stored))
        bucketdir.copyBlobs(self.old, self.new)
        self.blobs.remove([gone])
        del self.stored[gone]
        self.assertEqual(sorted(bucketdir.blobNames(self.old)), sorted(self.stored))
        self.assertEqual(sorted(bucketdir.blobNames(self.new)), sorted(list(self.stored) + [added]))

    def test_uploadBegunInTheOldRootLandsInTheNew(self):
        """An upload whose temporary file was made in the old root before the move is installed in the new one."""
        handle, temp = self.blobs.createTemp()
        handle.write(b"slow upload")
        self.blobs.finishTemp(handle)
        self.blobs.useRoots(self.new, self.old)
        name = self.blobs.install(temp)
        self.assertFalse(os.path.exists(temp))
        self.assertEqual(bucketdir.blobNames(self.old), sorted(self.stored))
        self.assertIn(name, bucketdir.blobNames(self.new))
        self.assertEqual(self.read(name), b"slow upload")

    def test_interruptedCopyLosesNothingAndResumes(self):
        """A copy cut short leaves every blob whole in the old root; run again it copies only what is missing."""
        self.blobs.useRoots(self.new, self.old)
        copied = bucketdir.copyBlobs(self.old, self.new, stop=StopAfter(2))
        self.assertEqual(copied, 2)
        self.assertEqual(sorted(bucketdir.blobNames(self.old)), sorted(self.stored))
        self.assertEqual(len(bucketdir.blobNames(self.new)), 2)
        self.assertEqual(BlobDirectory(self.new).temporaryFiles(), [])
        self.assertAllReadable()
        self.assertEqual(bucketdir.copyBlobs(self.old, self.new), len(self.stored) - 2)
        bucketdir.removeRoot(self.old)
        self.blobs.useRoots(self.new)
        self.assertEqual(os.listdir(self.old), [])
        self.assertAllReadable()

    def test_abandonedWaitFailsAtOnce(self):
        """When Walrus stops before it learnt its roots, an operation waiting for them fails at once."""
        waiting = MovableBlobs(self.old, waitForRoots=True)
        failed = []

        def write():
            try:
                waiting.installBytes(b"x")
            except OSError as e:
                failed.append(e)
        thread = threading.Thread(target=write)
        thread.start()
        waiting.abandon()
        thread.join(10)
        self.assertFalse(thread.is_alive())
        self.assertEqual(len(failed), 1)

    def test_rootsUnknownUntilReady(self):
        """A daemon's blobs wait for their root before any I/O, and fail clearly if it never comes."""
        self.patch(bucketdir, "ROOTS_TIMEOUT", 0.01)
        waiting = MovableBlobs(self.old, waitForRoots=True)
        self.assertRaises(OSError, waiting.installBytes, b"x")
        waiting.useRoots(self.new)
        waiting.rootsKnown()
        name = waiting.installBytes(b"x")
        self.assertIn(name, bucketdir.blobNames(self.new))


class NewRootCheckTests(unittest.TestCase):

    def test_checks(self):
        """Only an absolute, normalised, existing, writable, empty directory apart from the current one is taken."""
        base = os.path.abspath(self.mktemp())
        current, empty, full = (os.path.join(base, n) for n in ("cur", "empty", "full"))
        for path in (current, empty, full):
            os.makedirs(path)
        with open(os.path.join(full, "x"), "w"):
            pass
        check = bucketdirectory.checkNewRoot
        self.assertIsNone(check(empty, current))
        self.assertIsNone(check(current, current))
        self.assertIn("absolute", check("relative/dir", current))
        self.assertIn("absolute", check(empty + "/", current))
        self.assertIn("absolute", check(empty + "/../empty", current))
        self.assertIn("overlaps", check(os.path.join(current, "sub"), current))
        self.assertIn("overlaps", check(base, current))
        self.assertIn("not an existing directory", check(os.path.join(base, "nope"), current))
        self.assertIn("not empty", check(full, current))


class BucketDirectoryServiceTests(unittest.TestCase):

    def setUp(self):
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        self.default, self.new = os.path.join(base, "bukkits"), os.path.join(base, "new")
        os.makedirs(self.new)
        self.db = InlineDatabase("sqlite:///" + os.path.join(base, "db.sqlite"))
        self.db.open()
        self.addCleanup(self.db.engine.dispose)
        self.clock = task.Clock()
        self.blobs = MovableBlobs(self.default)
        self.blobs.prepare()
        self.names = [self.blobs.installBytes(b"%d" % n) for n in range(3)]

    def service(self):
        blobs = MovableBlobs(self.default, waitForRoots=True)
        service = BucketDirectoryService(blobs, self.db, self.default, inlineIo,
                                         clock=self.clock, grace=2.0)
        service.startService()
        self.addCleanup(lambda: service.running and service.stopService())
        return service

    def rows(self):
        return self.db.transact(bucketdirectory.bucketRoots, self.default)

    def test_moveSwitchAndCleanUp(self):
        """Asked for a new directory, Walrus copies, records the switch, then deletes the old copies after the grace."""
        service = self.service()
        self.assertEqual(service.blobs.root, self.default)
        self.db.transact(bucketdirectory.askForMove, self.new)
        self.assertEqual(self.db.transact(bucketdirectory.moveUnderWay, self.default),
                         (self.default, self.new))
        self.clock.advance(1)
        self.assertEqual(self.rows(), (self.new, self.new, self.default))
        self.assertEqual(service.blobs.root, self.new)
        self.assertEqual(sorted(bucketdir.blobNames(self.new)), sorted(self.names))
        self.assertEqual(sorted(bucketdir.blobNames(self.default)), sorted(self.names))
        self.clock.advance(2)
        self.assertEqual(self.rows(), (self.new, self.new, None))
        self.assertEqual(bucketdir.blobNames(self.default), [])
        self.assertIsNone(self.db.transact(bucketdirectory.moveUnderWay, self.default))

    def test_killedMidMoveResumes(self):
        """A Walrus that died mid-move serves from both roots when it starts again and finishes the move."""
        self.db.transact(bucketdirectory.askForMove, self.new)
        bucketdir.copyBlobs(self.default, self.new, stop=StopAfter(1))
        service = self.service()
        # Before the switch nothing of the old root is deleted.
        self.assertEqual(sorted(bucketdir.blobNames(self.default)), sorted(self.names))
        self.clock.advance(2)
        self.assertEqual(self.rows()[:2], (self.new, self.new))
        self.assertEqual(bucketdir.blobNames(self.default), [])
        for n, name in enumerate(self.names):
            with service.blobs.open(name) as f:
                self.assertEqual(f.read(), b"%d" % n)

    def test_killedAfterTheSwitchDeletesLeftovers(self):
        """A Walrus that died after the switch but before deleting the old copies deletes them when it starts."""
        bucketdir.copyBlobs(self.default, self.new)
        self.db.transact(bucketdirectory.askForMove, self.new)
        self.db.transact(bucketdirectory.switchRoots, self.default, self.new)
        service = self.service()
        self.assertEqual(service.blobs.root, self.new)
        self.assertEqual(bucketdir.blobNames(self.default), [])
        self.assertEqual(self.rows(), (self.new, self.new, None))

    def test_unwritableDirectoryKeepsTheCurrentOne(self):
        """A wanted directory Walrus cannot write to is not used: blobs stay and go where they were."""
        blocked = os.path.join(self.new, "file")
        with open(blocked, "w"):
            pass
        self.db.transact(bucketdirectory.askForMove, os.path.join(blocked, "bukkits"))
        service = self.service()
        self.assertEqual(service.blobs.root, self.default)
        self.assertIsNone(service.moving)
        name = service.blobs.installBytes(b"still here")
        self.assertIn(name, bucketdir.blobNames(self.default))

