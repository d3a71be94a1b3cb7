"""Upgrading an install made by an older release, and rolling it back.

The older install is made as that release left it: the database is the 0.1
dump (``tests/common/fixtures/eucalyptus-0.1.sql``: users, an image, a
running instance) brought to revision 0006 only, the first with key pairs,
and given through SQL, in that revision's columns, a key pair and a private
image of alice's.  ``euca_conf --upgrade-database``, the command the
packages' postinst runs, backs it up and upgrades it; a CLC started on the
upgraded install answers DescribeImages, DescribeKeyPairs and
DescribeInstances to alice's old access key; ``euca_conf --restore`` of the
backup then brings back the older database, configuration and keys, byte
for byte where they are files and row for row in the database.
"""

import os
import socket
import sqlite3
import subprocess
import time

import boto3
from botocore.config import Config
from sqlalchemy import create_engine
from twisted.internet import threads
from twisted.trial import unittest

from eucad.common import control, euca_conf, schema
from eucad.common.config import Layout
from tests.commandline import run
from tests.common.test_schema import loadFixture

#: The revision the older install's database is left at.
OLD_REVISION = "0006"
ALICE = ("AKIAALICE00000000001", "alicesecret000000000000000000000000000001")


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def publicKeyLine(directory):
    """A real OpenSSH ed25519 public key line and its SHA-256 fingerprint."""
    path = os.path.join(directory, "alice-key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice",
                    "-f", path], check=True)
    with open(path + ".pub") as f:
        line = f.read().strip()
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", path + ".pub"],
                                 check=True, capture_output=True, text=True).stdout.split()[1]
    return line, fingerprint


def makeOlderDatabase(path, keyLine, fingerprint):
    """The 0.1 dump at revision 0006, with alice's key pair and private image added."""
    loadFixture(path)
    engine = create_engine("sqlite:///" + path)
    try:
        schema.upgrade(engine, OLD_REVISION)
    finally:
        engine.dispose()
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(
            "INSERT INTO keypairs (id, owner, name, kind, fingerprint, \"publicKey\", created) "
            "VALUES ('key-0a1b2c3d4e5f60718', 'alice', 'alice-key', 'ed25519', ?, ?, "
            "1700000050.0)", (fingerprint, keyLine))
        connection.execute(
            "INSERT INTO images (id, kind, location, owner, \"isPublic\", state, "
            "architecture, digest, name, registered) VALUES ('emi-0000a11c', 'machine', "
            "'alice-bucket/root.img.manifest.xml', 'alice', 0, 'available', 'x86_64', ?, "
            "'alice-root', 1700000060.0)", ("d" * 64,))
        connection.execute("UPDATE instances SET \"keyName\" = 'alice-key' "
                           "WHERE id = 'i-00000001'")
    connection.close()


def dump(path):
    connection = sqlite3.connect(path)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def files(directory):
    """``{name: (bytes, mode)}`` of the plain files in ``directory``."""
    found = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                found[name] = (f.read(), os.stat(path).st_mode)
    return found


class UpgradeRollbackTests(unittest.TestCase):

    timeout = 180

    def setUp(self):
        self.prefix = os.path.abspath(self.mktemp())
        self.port = freePort()
        code, _, err = run(euca_conf.main, [
            "-d", self.prefix, "-cloud", "Y", "CLOUD_PORT=%d" % self.port,
            "CLOUD_LISTEN=127.0.0.1", "WALRUS_PORT=%d" % self.port,
            "WALRUS_LISTEN=127.0.0.1", "WEB_PORT=0", "WALRUS_IMAGE_PORT=0", "METADATA_PORT=0",
            "METADATA_LISTEN=127.0.0.1", "--setup"])
        self.assertEqual(code, 0, err)
        self.addCleanup(lambda: [d.stop() for d in control.daemonsFor(self.prefix, False)])
        self.layout = Layout(self.prefix)
        self.database = os.path.join(self.layout.db, "eucalyptus.db")
        # --setup made a database of this release: the older one replaces it.
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.database + suffix):
                os.unlink(self.database + suffix)
        scratch = os.path.abspath(self.mktemp())
        os.makedirs(scratch)
        self.keyLine, self.fingerprint = publicKeyLine(scratch)
        makeOlderDatabase(self.database, self.keyLine, self.fingerprint)
        os.chmod(self.database, 0o600)
        self.backups = os.path.join(self.layout.state, "backups")

    def ec2(self, credentials):
        return boto3.client("ec2", endpoint_url="http://127.0.0.1:%d/" % (self.port,),
                            aws_access_key_id=credentials[0],
                            aws_secret_access_key=credentials[1],
                            region_name="eucalyptus",
                            config=Config(retries={"max_attempts": 10, "mode": "standard"}))

    def startCloud(self):
        code, out, err = run(control.main, ["start", "--prefix", self.prefix])
        self.assertEqual(code, 0, err)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.fail("the CLC never listened on %d" % (self.port,))

    def test_upgradeKeepsEverythingAndRollbackRestoresIt(self):
        """The older install upgrades with a backup, its users, key pairs, images and
        instances answer through the CLC to alice's old key, and restoring the backup
        brings the older database, configuration and keys back exactly."""
        def scenario():
            oldRows = dump(self.database)
            oldConf = files(os.path.dirname(self.layout.conf))
            oldKeys = files(self.layout.keys)

            code, out, err = run(euca_conf.main, ["-d", self.prefix,
                                                  "--upgrade-database", self.backups])
            self.assertEqual(code, 0, err)
            self.assertIn("upgraded the database from %s to %s" % (
                OLD_REVISION, schema.headRevision()), out)
            [backupName] = os.listdir(self.backups)
            backupPath = os.path.join(self.backups, backupName)

            self.startCloud()
            alice = self.ec2(ALICE)
            images = {i["ImageId"]: i for i in alice.describe_images()["Images"]}
            self.assertEqual(sorted(images), ["emi-00000001", "emi-0000a11c"])
            self.assertEqual(images["emi-0000a11c"]["Name"], "alice-root")
            self.assertEqual(images["emi-0000a11c"]["State"], "available")
            self.assertFalse(images["emi-0000a11c"]["Public"])
            self.assertTrue(images["emi-00000001"]["Public"])
            [key] = alice.describe_key_pairs()["KeyPairs"]
            self.assertEqual((key["KeyName"], key["KeyFingerprint"], key["KeyPairId"]),
                             ("alice-key", self.fingerprint, "key-0a1b2c3d4e5f60718"))
            [reservation] = alice.describe_instances()["Reservations"]
            self.assertEqual(reservation["ReservationId"], "r-00000001")
            [instance] = reservation["Instances"]
            self.assertEqual((instance["InstanceId"], instance["ImageId"],
                              instance["KeyName"], instance["PrivateIpAddress"]),
                             ("i-00000001", "emi-00000001", "alice-key", "10.0.0.5"))
            # A wrong secret is still refused: the old key signs because it is right.
            with self.assertRaises(Exception) as refused:
                self.ec2((ALICE[0], "x" * 41)).describe_key_pairs()
            self.assertIn("SignatureDoesNotMatch", str(refused.exception))

            code, out, err = run(control.main, ["stop", "--prefix", self.prefix])
            self.assertEqual(code, 0, err)
            code, out, err = run(euca_conf.main, ["-d", self.prefix, "--restore",
                                                  backupPath])
            self.assertEqual(code, 0, err)
            self.assertEqual(dump(self.database), oldRows)
            engine = create_engine("sqlite:///" + self.database)
            try:
                with engine.connect() as connection:
                    self.assertEqual(schema.currentRevision(connection), OLD_REVISION)
            finally:
                engine.dispose()
            self.assertEqual(files(os.path.dirname(self.layout.conf)), oldConf)
            self.assertEqual(files(self.layout.keys), oldKeys)
        return threads.deferToThread(scenario)
