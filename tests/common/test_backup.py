"""``euca_conf --backup`` and ``--restore``: the state comes back, bad archives change nothing."""

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

from twisted.trial import unittest

from eucad.clc import imagestore
from eucad.common import accounts, euca_conf, trust
from eucad.common.config import Layout
from eucad.common.db import Database, defaultUrl
from eucad.common.polling import pollUntil
from tests.commandline import run

_TEMPLATE = {}


def templatePrefix():
    """One install made by ``euca_conf --setup`` per test run (RSA keys are slow)."""
    if "prefix" not in _TEMPLATE:
        # Under trial's working directory, which the next run clears.
        prefix = tempfile.mkdtemp(prefix="backup-template-", dir=os.getcwd())
        code, _, err = run(euca_conf.main, ["-d", prefix, "-cloud", "Y", "--setup"])
        assert code == 0, err
        _TEMPLATE["prefix"] = prefix
    return _TEMPLATE["prefix"]


def snapshot(prefix):
    """Every file under ``prefix`` with its bytes and mode."""
    found = {}
    for directory, _, files in os.walk(prefix):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, prefix)] = (f.read(), os.stat(path).st_mode)
    return found


def readState(layout):
    """Users (name, access key, secret key) and images (id, kind, location) in the DB."""
    db = Database(defaultUrl(layout))
    try:
        def read(session):
            users = sorted((u.name, u.accessKey, u.secretKey)
                           for u in session.query(accounts.User))
            images = sorted((i["id"], i["kind"], i["location"]) for i in
                            imagestore.listImages(session, "admin", True))
            return users, images
        return db.transact(read)
    finally:
        db.engine.dispose()


def addState(layout):
    """A user and a kernel/ramdisk/machine image triple, as the CLC stores them."""
    db = Database(defaultUrl(layout))
    try:
        def add(session):
            accounts.createUser(session, "alice")
            eki = imagestore.registerImage(session, "admin", "kernel", "b/vmlinuz.manifest.xml",
                                           digest="k" * 64)["id"]
            eri = imagestore.registerImage(session, "admin", "ramdisk", "b/initrd.manifest.xml",
                                           digest="r" * 64)["id"]
            imagestore.registerImage(session, "alice", "machine", "b/root.manifest.xml",
                                     kernelId=eki, ramdiskId=eri, digest="m" * 64)
        db.transact(add)
    finally:
        db.engine.dispose()


class BackupTests(unittest.TestCase):

    def setUp(self):
        self.prefix = os.path.abspath(self.mktemp())
        shutil.copytree(templatePrefix(), self.prefix)
        self.layout = Layout(self.prefix)
        self.assertEqual(self.euca_conf("-d", self.prefix)[0], 0)
        addState(self.layout)
        self.archive = os.path.abspath(self.mktemp())

    def euca_conf(self, *argv):
        return run(euca_conf.main, list(argv) + [self.layout.conf])

    def backup(self):
        code, out, err = self.euca_conf("--backup", self.archive)
        self.assertEqual((code, err), (0, ""))
        return out

    def assertRefused(self, expected):
        """--restore exits 2 with one line containing ``expected``; no file changed."""
        before = snapshot(self.prefix)
        code, out, err = self.euca_conf("--restore", self.archive)
        self.assertEqual(code, 2)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn(expected, err)
        self.assertEqual(snapshot(self.prefix), before)

    def test_restoreBringsUsersKeysImagesAndConfBack(self):
        """After the database, keys and conf were damaged, --restore brings all back."""
        state = readState(self.layout)
        self.assertEqual([u[0] for u in state[0]], ["admin", "alice"])
        self.assertEqual(len(state[1]), 3)
        keys = {name: open(os.path.join(self.layout.keys, name), "rb").read()
                for name in os.listdir(self.layout.keys)}
        conf = open(self.layout.conf).read()
        self.assertIn("backed up", self.backup())

        os.unlink(os.path.join(self.layout.db, "eucalyptus.db"))
        with open(trust.keyPath(self.layout.keys, "node"), "wb") as f:
            f.write(b"garbage")
        os.unlink(trust.certPath(self.layout.keys, "cluster"))
        self.assertEqual(self.euca_conf("CC_PORT=9999")[0], 0)

        code, out, err = self.euca_conf("--restore", self.archive)
        self.assertEqual((code, err), (0, ""))
        self.assertIn("restored", out)
        self.assertEqual(readState(self.layout), state)
        self.assertEqual({name: open(os.path.join(self.layout.keys, name), "rb").read()
                          for name in os.listdir(self.layout.keys)}, keys)
        self.assertEqual(open(self.layout.conf).read(), conf)
        for name in os.listdir(self.layout.keys):
            if name.endswith("-pk.pem"):
                self.assertEqual(os.stat(os.path.join(self.layout.keys, name)).st_mode
                                 & 0o777, 0o600, name)

    def test_archiveIsPrivate(self):
        """The archive is 0600 even under a permissive umask, and holds conf, keys, db."""
        old = os.umask(0)
        try:
            self.backup()
        finally:
            os.umask(old)
        self.assertEqual(os.stat(self.archive).st_mode & 0o777, 0o600)
        with tarfile.open(self.archive) as archive:
            names = archive.getnames()
        self.assertEqual(names[0], "eucad-backup.json")
        self.assertIn("etc/eucalyptus/eucalyptus.conf", names)
        self.assertIn("db/eucalyptus.db", names)
        self.assertIn("keys/cacert-pk.pem", names)

    def test_garbageIsRefused(self):
        """A file that is no archive at all is refused with one line."""
        with open(self.archive, "wb") as f:
            f.write(os.urandom(4096))
        self.assertRefused("is not a eucad backup")

    def test_foreignTarIsRefused(self):
        """A tar that is not a eucad backup is refused, however plausible its names."""
        with tarfile.open(self.archive, "w:gz") as archive:
            data = b'ENABLE_CLOUD="Y"\n'
            info = tarfile.TarInfo("etc/eucalyptus/eucalyptus.conf")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        self.assertRefused("is not a eucad backup")

    def test_truncatedArchiveIsRefused(self):
        """A backup cut short is refused and nothing is half restored."""
        self.backup()
        data = open(self.archive, "rb").read()
        with open(self.archive, "wb") as f:
            f.write(data[:len(data) // 2])
        self.euca_conf("CC_PORT=9999")
        self.assertRefused(self.archive)

    def test_tamperedMemberIsRefused(self):
        """A member whose bytes differ from the manifest's checksum is refused."""
        self.backup()
        with tarfile.open(self.archive) as archive:
            members = [(info, archive.extractfile(info).read()) for info in archive]
        with tarfile.open(self.archive, "w:gz") as archive:
            for info, data in members:
                if info.name == "keys/node-pk.pem":
                    data = data.replace(b"A", b"B", 1)
                archive.addfile(info, io.BytesIO(data))
        self.assertRefused("does not match its checksum")

    def test_nameOutsideTheInstallIsRefused(self):
        """A manifest naming a path outside conf, keys and db is refused."""
        manifest = json.dumps({"format": "eucad-backup", "version": 1,
                               "members": {"keys/../../../etc/passwd": "0" * 64}}).encode()
        with tarfile.open(self.archive, "w:gz") as archive:
            info = tarfile.TarInfo("eucad-backup.json")
            info.size = len(manifest)
            archive.addfile(info, io.BytesIO(manifest))
        self.assertRefused("bad member list")

    def test_damagedDatabaseIsRefused(self):
        """A backup whose database fails SQLite's integrity check is refused."""
        self.backup()
        with tarfile.open(self.archive) as archive:
            members = {info.name: archive.extractfile(info).read() for info in archive}
        database = bytearray(members["db/eucalyptus.db"])
        database[100:4096] = b"\xff" * (4096 - 100)
        members["db/eucalyptus.db"] = bytes(database)
        manifest = json.loads(members.pop("eucad-backup.json"))
        manifest["members"]["db/eucalyptus.db"] = hashlib.sha256(database).hexdigest()
        with tarfile.open(self.archive, "w:gz") as archive:
            for name, data in [("eucad-backup.json", json.dumps(manifest).encode())] + \
                    sorted(members.items()):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        self.assertRefused("database")

    def test_refusedWhileTheCloudRuns(self):
        """--restore refuses while a daemon of this install runs (its PID file names it)."""
        self.backup()
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                    "eucalyptus-clc", self.prefix])
        self.addCleanup(process.wait)
        self.addCleanup(process.kill)

        def execed():
            # Popen returns once forked; the command line is ours after exec.
            with open("/proc/%d/cmdline" % (process.pid,), "rb") as f:
                return b"eucalyptus-clc" in f.read().split(b"\0")
        pollUntil("the stand-in daemon's exec", execed, 10, 0.02)
        pidDir = self.layout.path("var", "run", "eucalyptus")
        os.makedirs(pidDir, exist_ok=True)
        with open(os.path.join(pidDir, "clc.pid"), "w") as f:
            f.write("%d\n" % (process.pid,))
        self.assertRefused("eucalyptus-clc still running")

    def test_postgresqlIsNotSilentlySkipped(self):
        """A backup of an install on PostgreSQL says the database needs its own tools."""
        self.euca_conf("DB_URL=postgresql://eucad:secret@db.example/eucad")
        code, _, err = self.euca_conf("--backup", self.archive)
        self.assertEqual(code, 2)
        self.assertIn("pg_dump", err)
        self.assertNotIn("secret", err)
        self.assertFalse(os.path.exists(self.archive))
