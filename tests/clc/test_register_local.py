"""eucad-register-image: registering files on the nodes as kernels, ramdisks and EMIs."""

import hashlib
import io
import os
import sys

from twisted.trial import unittest

from eucad.clc import imagestore, register_local
from eucad.common import accounts
from eucad.common.config import EucaConf, Layout
from eucad.common.db import Database, defaultUrl


class RegisterLocalTests(unittest.TestCase):

    def setUp(self):
        self.prefix = os.path.abspath(self.mktemp())
        self.layout = Layout(self.prefix)
        self.db = Database(defaultUrl(self.layout))
        self.db.transact(accounts.ensureAdmin)
        self.db.transact(accounts.createUser, "alice")
        self.addCleanup(lambda: self.db.engine.dispose())
        self.files = os.path.join(self.prefix, "images")
        os.makedirs(self.files)

    def file(self, name, data=b"image bytes"):
        path = os.path.join(self.files, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def register(self, *argv):
        out = io.StringIO()
        self.assertEqual(register_local.main(["--prefix", self.prefix] + list(argv), out), 0)
        return out.getvalue().strip()

    def failing(self, *argv):
        """Run a registration that must fail; return what it told the admin."""
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        error = self.assertRaises(SystemExit, register_local.main,
                                  ["--prefix", self.prefix] + list(argv), io.StringIO())
        self.assertEqual(error.code, 2)
        return stderr.getvalue()

    def images(self):
        return {r["id"]: r for r in self.db.transact(imagestore.listImages, "admin", True)}

    def test_kernelRamdiskMachine(self):
        """Kernel, ramdisk and machine image get eki-/eri-/emi- ids and their defaults."""
        eki = self.register("--kind", "kernel", "--path", self.file("vmlinuz", b"k"))
        eri = self.register("--kind", "ramdisk", "--path", self.file("initrd", b"r"))
        emi = self.register("--kind", "machine", "--path", self.file("root.img"),
                            "--kernel", eki, "--ramdisk", eri)
        self.assertRegex(eki, r"^eki-[0-9a-f]{8}$")
        self.assertRegex(eri, r"^eri-[0-9a-f]{8}$")
        self.assertRegex(emi, r"^emi-[0-9a-f]{8}$")
        machine = self.images()[emi]
        self.assertEqual((machine["kind"], machine["kernelId"], machine["ramdiskId"],
                          machine["location"], machine["owner"], machine["isPublic"]),
                         ("machine", eki, eri, os.path.join(self.files, "root.img"),
                          "admin", True))
        self.assertEqual(machine["digest"], hashlib.sha256(b"image bytes").hexdigest())

    def test_confDbUrl(self):
        """DB_URL from eucalyptus.conf names the database written to."""
        other = os.path.join(self.prefix, "other.db")
        conf = EucaConf.load(self.layout.conf)
        conf.set("DB_URL", "sqlite:///" + other)
        conf.save()
        otherDb = Database("sqlite:///" + other)
        otherDb.transact(accounts.ensureAdmin)
        otherDb.engine.dispose()
        eki = self.register("--kind", "kernel", "--path", self.file("vmlinuz"))
        self.assertNotIn(eki, self.images())
        otherDb = Database("sqlite:///" + other)
        self.addCleanup(lambda: otherDb.engine.dispose())
        self.assertIn(eki, [r["id"] for r in otherDb.transact(
            imagestore.listImages, "admin", True)])

    def test_relativePath(self):
        """A relative --path is refused (nodes read the same absolute path)."""
        self.assertIn("absolute", self.failing("--kind", "machine", "--path", "root.img"))

    def test_missingFile(self):
        """A path that is not a file is refused."""
        self.assertIn("no such file", self.failing(
            "--kind", "machine", "--path", os.path.join(self.files, "nope")))

    def test_unknownKernel(self):
        """A machine image naming an unregistered kernel is refused and not stored."""
        self.assertIn("InvalidAMIID.NotFound", self.failing(
            "--kind", "machine", "--path", self.file("root.img"), "--kernel", "eki-00000000"))
        self.assertEqual(self.images(), {})

    def test_kernelOfKernel(self):
        """Only machine images take --kernel/--ramdisk."""
        eki = self.register("--kind", "kernel", "--path", self.file("vmlinuz"))
        self.assertIn("machine images only", self.failing(
            "--kind", "kernel", "--path", self.file("vmlinuz2"), "--kernel", eki))

    def test_onlyAdminRegistersKernels(self):
        """A kernel owned by a non-admin user is refused; their machine image is not."""
        self.assertIn("UnauthorizedOperation", self.failing(
            "--kind", "kernel", "--path", self.file("vmlinuz"), "--owner", "alice"))
        emi = self.register("--kind", "machine", "--path", self.file("root.img"),
                            "--owner", "alice", "--private")
        self.assertEqual((self.images()[emi]["owner"], self.images()[emi]["isPublic"]),
                         ("alice", False))

    def test_unknownOwner(self):
        """An owner who is not a user is refused."""
        self.assertIn("mallory", self.failing(
            "--kind", "machine", "--path", self.file("root.img"), "--owner", "mallory"))
