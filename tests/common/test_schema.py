"""The Alembic revisions: they make the models' schema and upgrade old databases."""

import os
import sqlite3

from sqlalchemy import text
from twisted.trial import unittest

from eucad.common import accounts, schema
from eucad.common.db import Database, makeEngine

from tests.dbengines import bothEngines

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "eucalyptus-0.1.sql")


def loadFixture(path):
    """A SQLite file holding the 0.1 database of the fixture dump."""
    connection = sqlite3.connect(path)
    with open(FIXTURE, encoding="utf-8") as f:
        connection.executescript(f.read())
    connection.close()


class RevisionTests:
    """Mixed into one TestCase per engine (``tests.dbengines``)."""

    def engineAt(self, revision):
        engine = makeEngine(self.databaseUrl(empty=True))
        self.addCleanup(engine.dispose)
        schema.upgrade(engine, revision)
        return engine

    def test_revisionsMakeTheModels(self):
        """Upgrading an empty database yields exactly the models' tables, columns, indexes."""
        self.assertEqual(schema.differences(self.engineAt("head")), [])

    def test_collationsAreTheModels(self):
        """Every column the models give a collation has it in the database (Alembic does not compare them)."""
        engine = self.engineAt("head")
        dialect = engine.dialect
        expected = {}
        for table in schema.modelMetadata().sorted_tables:
            for column in table.columns:
                collation = getattr(column.type.dialect_impl(dialect), "collation", None)
                if collation:
                    expected[(table.name, column.name)] = collation
        if dialect.name != "postgresql":
            self.assertEqual(expected, {})  # SQLite compares bytes already
            return
        self.assertIn(("walrus_objects", "key"), expected)
        with engine.connect() as connection:
            columns = {(row[0], row[1]): row[2] for row in connection.execute(text(
                "SELECT table_name, column_name, collation_name "
                "FROM information_schema.columns WHERE table_schema = 'public'"))}
        self.assertEqual({key: columns[key] for key in expected}, expected)

    def test_modelChangeWithoutRevisionIsSeen(self):
        """A column the models have and no revision made shows up as a difference."""
        engine = self.engineAt("head")
        with engine.begin() as connection:
            connection.execute(text('ALTER TABLE users DROP COLUMN "email"'))
        found = schema.differences(engine)
        self.assertEqual([(d[0], d[3].name) for d in found], [("add_column", "email")])

    def test_upgradeFromFirstRevisionKeepsRows(self):
        """Rows written at revision 0001 survive the upgrade; users get account numbers."""
        engine = self.engineAt("0001")
        with engine.begin() as connection:
            connection.execute(text(
                'INSERT INTO users (name, "accessKey", "secretKey", "isAdmin", enabled, '
                "created) VALUES ('alice', 'AK1', 'SK1', false, true, 1.0), "
                "('bob', 'AK2', 'SK2', true, true, 2.0)"))
        schema.upgrade(engine)
        self.assertEqual(schema.differences(engine), [])
        with engine.connect() as connection:
            rows = connection.execute(text(
                'SELECT name, "accessKey", "accountNumber" FROM users ORDER BY name')).all()
        self.assertEqual([(r[0], r[1]) for r in rows], [("alice", "AK1"), ("bob", "AK2")])
        self.assertEqual(len({r[2] for r in rows}), 2)
        self.assertTrue(all(len(r[2]) == 12 and r[2].isdigit() for r in rows))


bothEngines(RevisionTests, globals())


class ModelModulesTests(unittest.TestCase):

    def test_everyModelModuleIsKnown(self):
        """Every module that declares a table on Base is one modelMetadata imports."""
        import re
        import subprocess
        import sys

        import eucad
        root = os.path.dirname(eucad.__file__)
        declaring = set()
        for directory, _, files in os.walk(root):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8") as f:
                    if re.search(r"^class \w+\(Base\):", f.read(), re.MULTILINE):
                        module = os.path.relpath(path[:-3], os.path.dirname(root))
                        declaring.add(module.replace(os.sep, "."))
        self.assertTrue(declaring)
        # A fresh interpreter: what this test process imported does not count.
        imported = subprocess.run(
            [sys.executable, "-c", "import sys\nfrom eucad.common import schema\n"
             "schema.modelMetadata()\nprint('\\n'.join(sys.modules))"],
            check=True, stdout=subprocess.PIPE, text=True).stdout.split()
        self.assertEqual(declaring - set(imported), set())


class FixtureUpgradeTests(unittest.TestCase):
    """A database made by eucad 0.1 (``create_all``, no Alembic) upgrades in place."""

    def test_zeroOneDatabaseUpgrades(self):
        """The 0.1 dump opens as today's schema with its users, keys and instances."""
        path = os.path.abspath(self.mktemp() + ".db")
        loadFixture(path)
        db = Database("sqlite:///" + path)
        self.addCleanup(lambda: db.engine.dispose())
        alice = db.transact(accounts.findByAccessKey, "AKIAALICE00000000001")
        self.assertEqual((alice.name, alice.secretKey, alice.isAdmin),
                         ("alice", "alicesecret000000000000000000000000000001", False))
        self.assertEqual(len(alice.accountNumber), 12)
        self.assertTrue(db.transact(accounts.findByName, "admin").isAdmin)
        self.assertEqual(schema.differences(db.engine), [])
        with db.engine.connect() as connection:
            instances = connection.execute(text(
                'SELECT id, owner, state, "privateIp", "reservationId" FROM instances')).all()
            images = connection.execute(text("SELECT id, owner FROM images")).all()
            vmtypes = connection.execute(text("SELECT count(*) FROM vmtypes")).scalar()
        self.assertEqual([tuple(r) for r in instances],
                         [("i-00000001", "alice", "running", "10.0.0.5", "r-00000001")])
        self.assertEqual([tuple(r) for r in images], [("emi-00000001", "admin")])
        self.assertGreater(vmtypes, 0)
