"""The large-body path: writev, early writeback, the write/hash pipeline, hash lanes, read size."""

import base64
import hashlib
import io
import os
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

from twisted.internet.testing import StringTransport
from twisted.trial import unittest
from twisted.web.resource import Resource

from eucad.walrus import blobs as blobsModule
from eucad.walrus import body as bodyModule
from eucad.walrus import wire
from eucad.walrus.blobs import BlobDirectory
from eucad.walrus.body import BodyPlan, BodyWriter, writeAll
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


class BodyWriterTests(unittest.TestCase):
    def setUp(self):
        self.blobs = BlobDirectory(self.mktemp())
        self.blobs.prepare()

    def test_writebackCoversWhatWasWritten(self):
        """Writeback is started on consecutive ranges, each at least a step long."""
        calls = []
        self.patch(bodyModule, "WRITEBACK_STEP", 100000)
        self.patch(bodyModule, "startWriteback",
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
        self.patch(bodyModule, "writeAll", failingWrite)
        writer = BodyWriter(BodyPlan(), self.blobs)
        writer.toFile()
        writer.process([b"a" * 1000])
        self.assertRaises(OSError, writer.process, [b"b" * 1000])
        writer.abort()
        self.assertEqual(self.blobs.temporaryFiles(), [])

    def test_lastWriteFailureSurfacesAtClose(self):
        """A failure of the last batch's write is raised by close, not lost."""
        def failingWrite(fd, pieces):
            raise OSError(5, "Input/output error")
        self.patch(bodyModule, "writeAll", failingWrite)
        writer = BodyWriter(BodyPlan(), self.blobs)
        writer.toFile()
        writer.process([b"a" * 1000])
        self.assertRaises(OSError, writer.close)
        self.assertEqual(self.blobs.temporaryFiles(), [])

    def test_allDigestsOfASignedUpload(self):
        """With SHA-256 and CRC32 wanted, the helper lane gives the same digests as one thread."""
        plan = BodyPlan(sha256=True, algorithms=["CRC32", "SHA1"])
        writer = BodyWriter(plan, self.blobs)
        writer.toFile()
        self.assertIsNotNone(writer.hashHelper)
        pieces = [os.urandom(300000) for _ in range(7)]
        writer.process(pieces[:3])
        writer.process(pieces[3:])
        result = writer.close()
        data = b"".join(pieces)
        self.assertEqual(result.md5Hex, hashlib.md5(data).hexdigest())
        self.assertEqual(result.sha256Hex, hashlib.sha256(data).hexdigest())
        self.assertEqual(result.checksums["CRC32"], base64.b64encode(
            zlib.crc32(data).to_bytes(4, "big")).decode())
        self.assertEqual(result.checksums["SHA1"], base64.b64encode(
            hashlib.sha1(data).digest()).decode())
        self.assertEqual(result.size, len(data))

    def test_md5OnlyNeedsNoHelper(self):
        """An unsigned upload without checksums starts no hashing helper thread."""
        writer = BodyWriter(BodyPlan(), self.blobs)
        writer.toFile()
        self.assertIsNone(writer.hashHelper)
        writer.abort()


class UpdateManyTests(unittest.TestCase):
    def test_sameAsSequential(self):
        """updateMany with a helper equals update piece by piece, size included."""
        pieces = [os.urandom(size) for size in (0, 1, 5000, 200000)]
        sequential = BodyDigests(True, ["CRC32"])
        for piece in pieces:
            sequential.update(piece)
        parallel = BodyDigests(True, ["CRC32"])
        with ThreadPoolExecutor(max_workers=1) as helper:
            parallel.updateMany(pieces[:2], helper)
            parallel.updateMany(pieces[2:], helper)
        self.assertEqual(parallel.md5Hex(), sequential.md5Hex())
        self.assertEqual(parallel.sha256Hex(), sequential.sha256Hex())
        self.assertEqual(parallel.checksumsBase64(), sequential.checksumsBase64())
        self.assertEqual(parallel.size, sequential.size)


class ReadSizeTransport(StringTransport):
    """A StringTransport with tcp.Connection's read size attribute."""

    bufferSize = 65536


class ReadSizeTests(unittest.TestCase):
    def _channel(self):
        site = wire.makeSite(_Answer(), lambda headers, length, producer: io.BytesIO())
        channel = site.buildProtocol(None)
        transport = ReadSizeTransport()
        channel.makeConnection(transport)
        return channel, transport

    def test_largeBodyReadInLargePieces(self):
        """While a large body arrives the connection reads LARGE_READ bytes, then 64 KiB again."""
        channel, transport = self._channel()
        length = wire.LARGE_BODY + 10
        channel.dataReceived(b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                             % (length,))
        self.assertEqual(transport.bufferSize, wire.LARGE_READ)
        channel.dataReceived(b"x" * length)
        self.assertEqual(transport.bufferSize, 65536)
        self.assertNotIn("bufferSize", vars(transport))
        channel.connectionLost(None)

    def test_smallBodyKeepsDefault(self):
        """A small body leaves the read size alone."""
        channel, transport = self._channel()
        channel.dataReceived(b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        self.assertNotIn("bufferSize", vars(transport))
        channel.dataReceived(b"hello")
        self.assertEqual(transport.bufferSize, 65536)
        channel.connectionLost(None)


class _Answer(Resource):
    """Answers every request at once, so the channel moves on."""

    isLeaf = True

    def render(self, request):
        return b"ok"
