"""Body spooling, aws-chunked decoding, blob files and the download producer, piece by piece."""

import hashlib
import os
import time

from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from twisted.internet.testing import StringTransport
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from eucad.walrus import blobs as blobsModule
from eucad.walrus.blobs import BlobDirectory
from eucad.walrus.awschunked import AwsChunkedDecoder
from eucad.walrus.body import HIGH_WATER, SMALL_BODY, BodySpool
from eucad.walrus.bodyplan import BodyPlan
from eucad.walrus.errors import S3Error
from eucad.walrus.producer import SegmentProducer


class QueuedIo:
    """An I/O runner whose jobs run only when the test says so."""

    def __init__(self):
        self.jobs = []

    def __call__(self, fn, *args):
        d = defer.Deferred()
        self.jobs.append((fn, args, d))
        return d

    def runAll(self):
        while self.jobs:
            fn, args, d = self.jobs.pop(0)
            try:
                d.callback(fn(*args))
            except Exception:
                d.errback()


class PausableProducer:
    def __init__(self):
        self.paused = False
        self.events = []

    def pauseProducing(self):
        self.paused = True
        self.events.append("pause")

    def resumeProducing(self):
        self.paused = False
        self.events.append("resume")


class BodySpoolTests(unittest.TestCase):
    def setUp(self):
        self.blobs = BlobDirectory(self.mktemp())
        self.blobs.prepare()

    def test_flowControlBoundsMemory(self):
        """The connection is paused above the high-water mark and resumed once written."""
        io = QueuedIo()
        producer = PausableProducer()
        spool = BodySpool(BodyPlan(), self.blobs, io, producer, length=64 * 1024 * 1024)
        chunk = b"x" * 65536
        writes = 0
        while not producer.paused and writes < 1000:
            spool.write(chunk)
            writes += 1
        self.assertTrue(producer.paused)
        self.assertLessEqual(writes * len(chunk), HIGH_WATER + 2 * len(chunk))
        io.runAll()
        self.assertEqual(producer.events, ["pause", "resume"])
        d = spool.finish()
        io.runAll()
        result = self.successResultOf(d)
        self.assertEqual(result.size, writes * len(chunk))
        self.assertEqual(result.md5Hex, hashlib.md5(chunk * writes).hexdigest())
        with open(result.tempPath, "rb") as f:
            self.assertEqual(len(f.read()), writes * len(chunk))
        spool.close()
        io.runAll()
        self.assertEqual(self.blobs.temporaryFiles(), [])

    def test_smallBodyStaysInMemory(self):
        """A body under the small limit is hashed inline and never touches the disk."""
        io = QueuedIo()
        spool = BodySpool(BodyPlan(sha256=True), self.blobs, io, None, length=5)
        spool.write(b"hello")
        result = self.successResultOf(spool.finish())
        self.assertEqual((result.data, result.sha256Hex),
                         (b"hello", hashlib.sha256(b"hello").hexdigest()))
        self.assertEqual(io.jobs, [])
        self.assertLess(5, SMALL_BODY)

    def test_disconnectRemovesTemporaryFile(self):
        """Closing a spool mid-upload (client gone) removes its temporary file."""
        io = QueuedIo()
        spool = BodySpool(BodyPlan(), self.blobs, io, None, length=10 * 1024 * 1024)
        spool.write(b"y" * 1024 * 1024)
        io.runAll()
        self.assertEqual(len(self.blobs.temporaryFiles()), 1)
        spool.close()
        io.runAll()
        self.assertEqual(self.blobs.temporaryFiles(), [])

    def test_tooLargeDeclaredLength(self):
        """A Content-Length above the maximum object size is EntityTooLarge at once."""
        spool = BodySpool(BodyPlan(), self.blobs, QueuedIo(), None, length=6 * 1024 ** 3)
        self.failureResultOf(spool.finish(), S3Error)


class AwsChunkedTests(unittest.TestCase):
    BODY = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n"

    def test_decodesAcrossAnySplit(self):
        """Every way of splitting the body gives the same payload and trailers."""
        for size in range(1, len(self.BODY) + 1):
            decoder = AwsChunkedDecoder(signed=False)
            out = b""
            for start in range(0, len(self.BODY), size):
                out += b"".join(bytes(p) for p in decoder.feed(self.BODY[start:start + size]))
            decoder.close()
            self.assertEqual(out, b"hello world", size)
            self.assertEqual(decoder.trailers, {"x-amz-checksum-crc32": "AAAA"})

    def test_truncatedAndMalformed(self):
        """A missing final chunk is IncompleteBody; a bad size line is refused."""
        decoder = AwsChunkedDecoder(signed=False)
        decoder.feed(b"5\r\nhello\r\n")
        self.assertRaises(S3Error, decoder.close)
        self.assertRaises(S3Error, AwsChunkedDecoder(signed=False).feed, b"zz\r\n")
        self.assertRaises(S3Error, AwsChunkedDecoder(signed=True).feed, b"5\r\nhello\r\n")


class BlobSweepTests(unittest.TestCase):
    def test_sweepRemovesOnlyOrphans(self):
        """Start-up removes temp files and unnamed old blobs, keeping named and new ones."""
        blobs = BlobDirectory(self.mktemp())
        blobs.prepare()
        named = blobs.installBytes(b"named")
        orphan = blobs.installBytes(b"orphan")
        handle, temp = blobs.createTemp()
        handle.close()
        start = time.time() + 1
        fresh = blobs.installBytes(b"fresh")
        os.utime(blobs.path(fresh), (start + 5, start + 5))
        removed = blobs.sweep(lambda: {named}, start)
        self.assertEqual(removed, (1, 1))
        self.assertTrue(os.path.exists(blobs.path(named)))
        self.assertTrue(os.path.exists(blobs.path(fresh)))
        self.assertFalse(os.path.exists(blobs.path(orphan)))
        self.assertFalse(os.path.exists(temp))

    def test_blobNamesAreChecked(self):
        """Only 32-hex-digit names map to paths."""
        blobs = BlobDirectory("/nonexistent")
        self.assertRaises(ValueError, blobs.path, "../../etc/passwd")
        self.assertEqual(len(blobsModule.newBlobName()), 32)


class ProducerTests(unittest.TestCase):
    def test_isAPushProducer(self):
        """SegmentProducer declares and provides IPushProducer, as the transport takes it."""
        self.assertTrue(verifyObject(IPushProducer, SegmentProducer([], 0, 0, None)))

    def test_streamsRangeAcrossSegmentsWithPauses(self):
        """A range spanning segments arrives whole, in order, through pause and resume."""
        directory = self.mktemp()
        os.makedirs(directory)
        pieces = [os.urandom(1000), os.urandom(10), os.urandom(3000)]
        handles = []
        for index, data in enumerate(pieces):
            path = os.path.join(directory, str(index))
            with open(path, "wb") as f:
                f.write(data)
            handles.append((open(path, "rb"), len(data)))
        io = QueuedIo()
        transport = StringTransport()
        producer = SegmentProducer(handles, 500, 3000, io, chunk=256)
        done = producer.beginProducing(transport)
        for _ in range(100):
            if not io.jobs:
                break
            producer.pauseProducing()
            io.runAll()
            producer.resumeProducing()
            io.runAll()
        self.successResultOf(done)
        self.assertEqual(transport.value(), b"".join(pieces)[500:3500])
        self.assertTrue(all(handle.closed for handle, _ in handles))

    def test_stopClosesFiles(self):
        """A client that goes away stops the reads and closes the blobs."""
        directory = self.mktemp()
        os.makedirs(directory)
        path = os.path.join(directory, "b")
        with open(path, "wb") as f:
            f.write(b"z" * 5000)
        handle = open(path, "rb")
        io = QueuedIo()
        producer = SegmentProducer([(handle, 5000)], 0, 5000, io, chunk=100)
        done = producer.beginProducing(StringTransport())
        producer.stopProducing()
        io.runAll()
        self.failureResultOf(done, defer.CancelledError)
        self.assertTrue(handle.closed)
