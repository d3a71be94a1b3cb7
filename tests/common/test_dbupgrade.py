"""``euca_conf --upgrade-database DIR``: a backup first, then the revisions, or one clear line."""

import os
import sqlite3
import stat
import tempfile

from twisted.trial import unittest

from eucad.common import dbupgrade, euca_conf, schema
from eucad.common.config import EucaConf, Layout
from eucad.common.db import makeEngine
from tests.commandline import run
from tests.common.test_schema import loadFixture

_TEMPLATE = {}


def templatePrefix():
    """One install made by ``euca_conf --setup`` per run (RSA keys are slow to make)."""
    if "prefix" not in _TEMPLATE:
        prefix = tempfile.mkdtemp(prefix="dbupgrade-template-", dir=os.getcwd())
        code, _, err = run(euca_conf.main, ["-d", prefix, "-cloud", "Y", "--setup"])
        assert code == 0, err
        _TEMPLATE["prefix"] = prefix
    return _TEMPLATE["prefix"]


def revisionOf(path):
    engine = makeEngine("sqlite:///" + path)
    try:
        with engine.connect() as connection:
            return schema.currentRevision(connection)
    finally:
        engine.dispose()


def dump(path):
    connection = sqlite3.connect(path)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


class UpgradeDatabaseTests(unittest.TestCase):

    def setUp(self):
        self.prefix = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.prefix, "etc", "eucalyptus"))
        template = Layout(templatePrefix())
        code, _, err = run(euca_conf.main, ["-d", self.prefix, "-cloud", "Y"])
        self.assertEqual(code, 0, err)
        self.layout = Layout(self.prefix)
        os.makedirs(self.layout.keys, mode=0o700)
        for name in os.listdir(template.keys):
            with open(os.path.join(template.keys, name), "rb") as f:
                data = f.read()
            with open(os.path.join(self.layout.keys, name), "wb") as f:
                f.write(data)
        os.makedirs(self.layout.db, mode=0o700)
        self.database = os.path.join(self.layout.db, "eucalyptus.db")
        self.backups = os.path.join(self.prefix, "var", "lib", "eucalyptus", "backups")

    def upgrade(self):
        return run(euca_conf.main, ["-d", self.prefix, "--upgrade-database", self.backups])

    def test_zeroOneDatabaseIsBackedUpThenUpgraded(self):
        """A 0.1 database: a private backup of it is written, then it reaches the newest
        revision with its users and instances, and the line names both."""
        loadFixture(self.database)
        before = dump(self.database)
        code, out, err = self.upgrade()
        self.assertEqual(code, 0, err)
        self.assertEqual(revisionOf(self.database), schema.headRevision())
        [name] = os.listdir(self.backups)
        backupPath = os.path.join(self.backups, name)
        self.assertIn("upgraded the database from 0.1 (before revisions) to %s (backup: %s)"
                      % (schema.headRevision(), backupPath), out)
        self.assertEqual(stat.S_IMODE(os.stat(self.backups).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(backupPath).st_mode), 0o600)
        rows = sqlite3.connect(self.database).execute(
            "SELECT name, secretKey FROM users ORDER BY name").fetchall()
        self.assertEqual([r[0] for r in rows], ["admin", "alice"])
        # The backup holds the database as it was before.
        code, _, err = run(euca_conf.main, ["-d", self.prefix, "--restore", backupPath])
        self.assertEqual(code, 0, err)
        self.assertEqual(dump(self.database), before)

    def test_currentDatabaseIsLeftAlone(self):
        """At the newest revision: nothing is written, not even a backup."""
        schema.upgrade(makeEngine("sqlite:///" + self.database))
        before = dump(self.database)
        code, out, err = self.upgrade()
        self.assertEqual(code, 0, err)
        self.assertIn("at revision %s, this release's newest" % (schema.headRevision(),), out)
        self.assertFalse(os.path.exists(self.backups))
        self.assertEqual(dump(self.database), before)

    def test_noDatabaseIsNothingToDo(self):
        """A host without a database (a node, a fresh install) has nothing to upgrade."""
        code, out, err = self.upgrade()
        self.assertEqual(code, 0, err)
        self.assertIn("no database at %s yet" % (self.database,), out)

    def test_newerRevisionIsRefused(self):
        """A database from a newer eucad (an unknown revision) is refused and untouched."""
        loadFixture(self.database)
        connection = sqlite3.connect(self.database)
        connection.executescript("CREATE TABLE alembic_version (version_num VARCHAR(32) "
                                 "NOT NULL PRIMARY KEY); INSERT INTO alembic_version "
                                 "VALUES ('9999');")
        connection.close()
        before = dump(self.database)
        code, out, err = self.upgrade()
        self.assertEqual(code, 2)
        self.assertEqual(err, "euca_conf: the database is at revision 9999, which this "
                         "release does not know (made by a newer eucad?): left as it is\n")
        self.assertEqual(dump(self.database), before)
        self.assertFalse(os.path.exists(self.backups))

    def test_runningDaemonsAreRefused(self):
        """While a daemon of the install runs (it holds the database), nothing is done."""
        loadFixture(self.database)
        conf = EucaConf.load(self.layout.conf)
        outcome = dbupgrade.upgradeDatabase(conf, self.layout, self.backups,
                                            ["eucalyptus-clc"])
        self.assertEqual(outcome.status, dbupgrade.REFUSED)
        self.assertEqual(outcome.line, "eucalyptus-clc still running: stop it first "
                         "(eucad-ctl stop)")
        self.assertIsNone(revisionOf(self.database))

    def test_failedMigrationNamesTheBackupThatRestoresIt(self):
        """A revision that fails (a table it creates is already there) ends with one line
        naming the error, the backup and the restore command; that command brings the
        state before back."""
        loadFixture(self.database)
        connection = sqlite3.connect(self.database)
        connection.execute("CREATE TABLE keypairs (squatter INTEGER)")
        connection.commit()
        connection.close()
        before = dump(self.database)
        code, out, err = self.upgrade()
        self.assertEqual(code, 1)
        [name] = os.listdir(self.backups)
        backupPath = os.path.join(self.backups, name)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertIn("upgrading the database from 0.1 (before revisions) to %s failed "
                      "(OperationalError: " % (schema.headRevision(),), err)
        self.assertIn("table keypairs already exists", err)
        restore = "euca_conf -d %s --restore %s" % (self.prefix, backupPath)
        self.assertTrue(err.endswith("the state before is in %s: %s\n"
                                     % (backupPath, restore)), err)
        code, _, restoreErr = run(euca_conf.main, restore.split()[1:])
        self.assertEqual(code, 0, restoreErr)
        self.assertEqual(dump(self.database), before)

    def test_postgresqlIsLeftToTheDaemons(self):
        """A PostgreSQL database is not migrated here (no eucad backup can hold it): the
        line says so, and the status is 3, not an error."""
        run(euca_conf.main, ["-d", self.prefix,
                             "CLOUD_DB_URL=postgresql://eucad@/eucad?host=/nonexistent"])
        code, out, err = self.upgrade()
        self.assertEqual(code, 3, err)
        self.assertIn("the database is not SQLite: back it up with its own tools "
                      "(pg_dump)", out)
