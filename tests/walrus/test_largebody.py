"""The large-body path: writev, early writeback, the write/hash pipeline, hash lanes."""

import base64
import hashlib
import os
import threading
import zlib

from twisted.internet import defer
from twisted.trial import unittest

from eucad.walrus import blobs as blobsModule
from eucad.walrus import bodywriter as writerModule
from eucad.walrus.blobs import BlobDirectory, writeAll
from eucad.walrus.body import BodySpool
from eucad.walrus.bodyplan import BodyPlan
from eucad.walrus.bodywriter import BodyWriter
from eucad.walrus.checksums import BodyDigests


class WriteAllTests(unittest.TestCase):
    def _drain(self, readEnd, into):
        while True:
            data = os.read(readEnd, 1 << 20)
            if not data:
                return
            into.append(data)

    def test_partialWritesAreResumed(self):
        """Every byte reaches a pipe, whose writes are partial, in order and once."""
        pieces = [os.urandom(70000) for _ in range(5)] + [b"", memoryview(b"tail")]
        readEnd, writeEnd = os.pipe()
        received = []
        reader = threading.Thread(target=self._drain, args=(readEnd, received))
        reader.start()
        try:
            writeAll(writeEnd, pieces)
        finally:
            os.close(writeEnd)
            reader.join(30)
            os.close(readEnd)
        self.assertEqual(b"".join(received), b"".join(bytes(p) for p in pieces))

    def test_moreBuffersThanOneWritevTakes(self):
        """More pieces than IOV_MAX are written by several writev calls."""
        path = self.mktemp()
        pieces = [bytes([index % 251]) * 3 for index in range(3000)]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            writeAll(fd, pieces)
        finally:
            os.close(fd)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"".join(pieces))


class StartWritebackTests(unittest.TestCase):
    def test_leavesDataIntact(self):
        """Starting writeback on a range neither changes nor loses the file's bytes."""
        path = self.mktemp()
        data = os.urandom(3 * 1024 * 1024)
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            blobsModule.startWriteback(f.fileno(), 0, len(data))
            blobsModule.startWriteback(f.fileno(), 0, 0)
            os.fsync(f.fileno())
        with open(path, "rb") as f:
            self.assertEqual(f.read(), data)

    def test_availableOnLinux(self):
        """On Linux the call really reaches sync_file_range (it is not a silent no-op)."""
        if not os.uname().sysname == "Linux":
            raise unittest.SkipTest("sync_file_range is Linux's")
        self.assertIsNotNone(blobsModule._syncFileRange)


class RecordingIo:
    """An I/O runner that runs each job at once and records which ran."""

    def __init__(self):
        self.names = []

    def __call__(self, fn, *args):
        self.names.append(getattr(fn, "__name__", repr(fn)))
        return defer.maybeDeferred(fn, *args)


class BodyWriterTests(unittest.TestCase):
    def setUp(self):
        self.blobs = BlobDirectory(self.mktemp())
        self.blobs.prepare()

    def _spool(self, plan=None, runIo=None):
        """A spool on file (unknown length) whose jobs run inline."""
        return BodySpool(plan or BodyPlan(), self.blobs, runIo or RecordingIo())

    def test_writebackCoversWhatWasWritten(self):
        """Writeback is started on consecutive ranges, each at least a step long."""
        calls = []
        self.patch(writerModule, "WRITEBACK_STEP", 100000)
        self.patch(writerModule, "startWriteback",
                   lambda fd, offset, length: calls.append((offset, length)))
        writer = BodyWriter(BodyPlan(), self.blobs)
        writer.toFile()
        pieces = [os.urandom(60000) for _ in range(10)]
        for index in range(0, 10, 2):
            writer.process(pieces[index:index + 2])
        result = writer.close()
        self.assertEqual(calls, [(0, 120000), (120000, 120000), (240000, 120000),
                                 (360000, 120000), (480000, 120000)])
        with open(result.tempPath, "rb") as f:
            self.assertEqual(f.read(), b"".join(pieces))
        self.assertEqual(result.md5Hex, hashlib.md5(b"".join(pieces)).hexdigest())

    def test_failedWriteFailsTheBodyAndRemovesTheFile(self):
        """A write that fails while the next batch is hashed fails the body, and no temp file stays."""
        def failingWrite(fd, pieces):
            raise OSError(28, "No space left on device")
        self.patch(writerModule, "writeAll", failingWrite)
        spool = self._spool()
        spool.write(b"a" * 1000)
        spool.write(b"b" * 1000)
        failure = self.failureResultOf(spool.finish())
        self.assertEqual(failure.value.code, "InternalError")
        self.flushLoggedErrors(OSError)
        self.assertEqual(self.blobs.temporaryFiles(), [])

    def test_lastWriteFailureSurfacesAtClose(self):
        """A failure of the last batch's write is raised when the body finishes, not lost."""
        def failingWrite(fd, pieces):
            raise OSError(5, "Input/output error")
        self.patch(writerModule, "writeAll", failingWrite)
        jobs = []

        def queued(fn, *args):
            d = defer.Deferred()
            jobs.append((fn, args, d))
            return d

        def runFirst(name):
            [job] = [j for j in jobs if j[0].__name__ == name]
            jobs.remove(job)
            fn, args, d = job
            try:
                d.callback(fn(*args))
            except Exception:
                d.errback()
        spool = self._spool(runIo=queued)
        runFirst("toFile")
        spool.write(b"a" * 1000)
        runFirst("hashMd5")
        # The batch is hashed and no earlier write was pending: the spool moves on
        # while this batch's write has not run yet.
        self.assertFalse(spool.busy)
        finished = spool.finish()
        runFirst("write")
        self.assertFalse(any(fn.__name__ == "close" for fn, _, _ in jobs))
        while jobs:
            runFirst(jobs[0][0].__name__)
        failure = self.failureResultOf(finished)
        self.assertEqual(failure.value.code, "InternalError")
        self.flushLoggedErrors(OSError)
        self.assertEqual(self.blobs.temporaryFiles(), [])

    def test_allDigestsOfASignedUpload(self):
        """With SHA-256 and CRC32 wanted, the two hashing lanes give the same digests as one thread."""
        plan = BodyPlan(sha256=True, algorithms=["CRC32", "SHA1"])
        runIo = RecordingIo()
        spool = self._spool(plan, runIo)
        pieces = [os.urandom(300000) for _ in range(7)]
        for piece in pieces:
            spool.write(piece)
        result = self.successResultOf(spool.finish())
        self.assertIn("hashOthers", runIo.names)
        data = b"".join(pieces)
        self.assertEqual(result.md5Hex, hashlib.md5(data).hexdigest())
        self.assertEqual(result.sha256Hex, hashlib.sha256(data).hexdigest())
        self.assertEqual(result.checksums["CRC32"], base64.b64encode(
            zlib.crc32(data).to_bytes(4, "big")).decode())
        self.assertEqual(result.checksums["SHA1"], base64.b64encode(
            hashlib.sha1(data).digest()).decode())
        self.assertEqual(result.size, len(data))
        with open(result.tempPath, "rb") as f:
            self.assertEqual(f.read(), data)
        result.discard()

    def test_md5OnlyNeedsNoHelper(self):
        """An unsigned upload without checksums runs no second hashing job."""
        runIo = RecordingIo()
        spool = self._spool(runIo=runIo)
        spool.write(b"x" * 5000)
        result = self.successResultOf(spool.finish())
        self.assertNotIn("hashOthers", runIo.names)
        self.assertIn("hashMd5", runIo.names)
        self.assertEqual(result.md5Hex, hashlib.md5(b"x" * 5000).hexdigest())
        result.discard()


class HashLaneTests(unittest.TestCase):
    def test_sameAsSequential(self):
        """The MD5 lane and the other lane together equal update piece by piece, size included."""
        pieces = [os.urandom(size) for size in (0, 1, 5000, 200000)]
        sequential = BodyDigests(True, ["CRC32"])
        for piece in pieces:
            sequential.update(piece)
        parallel = BodyDigests(True, ["CRC32"])
        for batch in (pieces[:2], pieces[2:]):
            lane = threading.Thread(target=parallel.updateOthers, args=(batch,))
            lane.start()
            parallel.updateMd5(batch)
            lane.join()
        self.assertEqual(parallel.md5Hex(), sequential.md5Hex())
        self.assertEqual(parallel.sha256Hex(), sequential.sha256Hex())
        self.assertEqual(parallel.checksumsBase64(), sequential.checksumsBase64())
        self.assertEqual(parallel.size, sequential.size)
