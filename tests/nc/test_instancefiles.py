"""Tests for eucad.nc.instancefiles: an instance's directory and disks."""

import json
import os
import shutil

from twisted.internet import defer
from twisted.trial import unittest

from eucad.common.process import ProcessRunner
from eucad.nc.instancefiles import (EPHEMERAL_MKFS, GIB, MIB, SWAP_BYTES, DiskTooSmall,
                                    InstanceDisks, diskSizes)
from tests.nc.commands import ExpectedRunner

QEMU_IMG = shutil.which("qemu-img")
SMALL = {"name": "m1.small", "cpu": 1, "ram": 128, "disk": 10}


def runNow(function, *args):
    return defer.maybeDeferred(function, *args)


class DiskSizesTests(unittest.TestCase):
    """How a VM type's disk is split between root, ephemeral and swap."""

    def test_split(self):
        """Root + ephemeral + swap fill the VM type's disk exactly."""
        ephemeral, swap = diskSizes(10, 300 * MIB)
        self.assertEqual(swap, SWAP_BYTES)
        self.assertEqual(300 * MIB + ephemeral + swap, 10 * GIB)

    def test_noRoomForSwap(self):
        """When less than twice the swap size is left, all of it is ephemeral."""
        self.assertEqual(diskSizes(1, 100 * MIB), (1 * GIB - 100 * MIB, 0))

    def test_exactFit(self):
        """An image as big as the disk leaves no ephemeral and no swap."""
        self.assertEqual(diskSizes(1, GIB), (0, 0))

    def test_tooBig(self):
        """An image larger than the disk is refused."""
        self.assertRaises(DiskTooSmall, diskSizes, 1, GIB + 1)


class PrepareTests(unittest.TestCase):
    """Laying out an instance directory."""

    def setUp(self):
        self.base = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.base, "cache"))
        self.machine = os.path.join(self.base, "cache", "machine")
        self.kernel = os.path.join(self.base, "cache", "kernel")
        with open(self.machine, "wb") as f:
            f.truncate(8 * MIB)
        with open(self.kernel, "wb") as f:
            f.write(b"vmlinuz")
        self.instancePath = os.path.join(self.base, "instances")

    @defer.inlineCallbacks
    def test_expectedCommands(self):
        """The overlay, ext4 and swap are made by exactly these commands."""
        disks = InstanceDisks(self.instancePath, None, runInThread=runNow)
        files = disks.filesFor("alice", "i-0000f00d")
        disks.runner = ExpectedRunner([
            (["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
              self.machine, files.root], 0),
            (["mkfs.ext4", "-F", "-q", "-L", "ephemeral", "-E",
              "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
              files.directory + "/ephemeral.img"], 0),
            (["mkswap", "-L", "swap", files.directory + "/swap.img"], 0),
        ])
        yield disks.prepare(files, SMALL, self.machine, self.kernel, None)
        self.assertEqual(disks.runner.expected, [])
        self.assertEqual(files.directory, os.path.join(self.instancePath, "alice", "i-0000f00d"))
        with open(files.kernel, "rb") as f:
            self.assertEqual(f.read(), b"vmlinuz")
        self.assertIsNone(files.ramdisk)
        self.assertEqual(os.path.getsize(files.swap), SWAP_BYTES)
        self.assertEqual(os.path.getsize(files.ephemeral), 10 * GIB - 8 * MIB - SWAP_BYTES)
        # Sparse: nothing is written into them by the layout itself.
        self.assertEqual(os.stat(files.ephemeral).st_blocks, 0)

    @defer.inlineCallbacks
    def test_commandFailureFails(self):
        """A failing qemu-img fails the preparation."""
        disks = InstanceDisks(self.instancePath, None, runInThread=runNow)
        files = disks.filesFor("alice", "i-0000f00d")
        disks.runner = ExpectedRunner([(["qemu-img"] + [Ellipsis] * 8, 1)])
        yield self.assertFailure(disks.prepare(files, SMALL, self.machine), Exception)

    @defer.inlineCallbacks
    def test_realOverlay(self):
        """With the real tools the root disk is a qcow2 overlay backed by the cached image."""
        if QEMU_IMG is None or not shutil.which(EPHEMERAL_MKFS[0]):
            raise unittest.SkipTest("qemu-img or mkfs.ext4 missing")
        runner = ProcessRunner()
        disks = InstanceDisks(self.instancePath, runner)
        files = disks.filesFor("bob", "i-0000beef")
        yield disks.prepare(files, SMALL, self.machine, self.kernel, self.kernel)
        result = yield runner.run(["qemu-img", "info", "--output=json", files.root])
        info = json.loads(result.out)
        self.assertEqual(info["format"], "qcow2")
        self.assertEqual(info["backing-filename"], self.machine)
        self.assertEqual(info["virtual-size"], 8 * MIB)
        # The ext4 and swap signatures are in place, and the files stay sparse.
        with open(files.swap, "rb") as f:
            f.seek(4096 - 10)
            self.assertEqual(f.read(10), b"SWAPSPACE2")
        probed = yield runner.run(["blkid", "-o", "export", files.ephemeral])
        self.assertIn(b"TYPE=ext4", probed.out.splitlines())
        self.assertIn(b"LABEL=ephemeral", probed.out.splitlines())
        self.assertLess(os.stat(files.ephemeral).st_blocks * 512, 16 * MIB)
        yield disks.writeDomainXml(files, "<domain/>")
        with open(files.domainXml) as f:
            self.assertEqual(f.read(), "<domain/>")

    @defer.inlineCallbacks
    def test_imageTooBig(self):
        """An image bigger than the VM type's disk fails before anything is made."""
        disks = InstanceDisks(self.instancePath, ExpectedRunner([]), runInThread=runNow)
        files = disks.filesFor("alice", "i-0000f00d")
        yield self.assertFailure(
            disks.prepare(files, dict(SMALL, disk=0), self.machine), DiskTooSmall)
        self.assertFalse(os.path.exists(files.directory))

    @defer.inlineCallbacks
    def test_removeIsIdempotent(self):
        """Removing deletes the directory; removing again is fine."""
        disks = InstanceDisks(self.instancePath, None, runInThread=runNow)
        files = disks.filesFor("alice", "i-0000f00d")
        os.makedirs(files.directory)
        with open(files.console, "w") as f:
            f.write("boot")
        yield disks.remove(files)
        self.assertFalse(os.path.exists(files.directory))
        yield disks.remove(files)
