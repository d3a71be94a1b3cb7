"""The shared database and the accounts in it, on SQLite and on PostgreSQL."""

import os
import stat
import threading

from twisted.internet import defer
from twisted.trial import unittest

from eucad.common import accounts, schema
from eucad.common.config import EucaConf, Layout
from eucad.common.db import Database, databaseUrl

from tests.dbengines import bothEngines


class DatabaseStoreTests:
    """Mixed into one TestCase per engine (``tests.dbengines``)."""

    def setUp(self):
        self.url = self.databaseUrl()
        self.db = Database(self.url)
        self.db.startService()
        self.addCleanup(self.db.stopService)
        return self.db.opened

    def other(self):
        """A second Database on the same URL, as another daemon would open."""
        other = Database(self.url)
        self.addCleanup(lambda: other.engine and other.engine.dispose())
        return other

    def test_runCommitsInAThread(self):
        """run() executes in a pool thread and commits what the function did."""
        main = threading.current_thread()
        seen = []

        def create(session):
            seen.append(threading.current_thread())
            return accounts.createUser(session, "alice").accessKey

        def check(key):
            self.assertIsNot(seen[0], main)
            user = self.other().transact(accounts.findByAccessKey, key)
            self.assertEqual(user.name, "alice")
        return self.db.run(create).addCallback(check)

    def test_failureRollsBack(self):
        """An exception inside run() leaves nothing of that transaction behind."""
        def createThenFail(session):
            accounts.createUser(session, "bob")
            raise ValueError("boom")

        def check(_):
            self.assertIsNone(self.db.transact(accounts.findByName, "bob"))
        d = self.assertFailure(self.db.run(createThenFail), ValueError)
        return d.addCallback(check)

    def test_ensureAdminIsIdempotent(self):
        """The admin is created once, with keys that stay the same."""
        first = self.db.transact(accounts.ensureAdmin)
        second = self.db.transact(accounts.ensureAdmin)
        self.assertTrue(first.isAdmin)
        self.assertEqual((first.accessKey, first.secretKey, first.accountNumber),
                         (second.accessKey, second.secretKey, second.accountNumber))

    def test_disabledUserIsNotFound(self):
        """A disabled user's access key no longer authenticates."""
        def disable(session):
            user = accounts.createUser(session, "carol")
            user.enabled = False
            return user.accessKey
        key = self.db.transact(disable)
        self.assertIsNone(self.db.transact(accounts.findByAccessKey, key))
        self.assertIsNone(self.db.transact(accounts.findByAccessKey, "NOSUCHKEY"))

    def test_keysAreUnique(self):
        """Fresh users get distinct access keys, long secrets and 12-digit accounts."""
        users = [self.db.transact(accounts.createUser, "u%d" % i) for i in range(20)]
        self.assertEqual(len({u.accessKey for u in users}), 20)
        self.assertTrue(all(len(u.secretKey) >= 40 for u in users))
        numbers = {u.accountNumber for u in users}
        self.assertEqual(len(numbers), 20)
        self.assertTrue(all(len(n) == 12 and n.isdigit() for n in numbers))

    def test_rotateSecret(self):
        """After a rotation the old access key finds nobody; the new one the user."""
        user = self.db.transact(accounts.createUser, "dave")

        def rotate(session):
            return accounts.rotateSecret(session, accounts.findByName(session, "dave"))
        rotated = self.db.transact(rotate)
        self.assertNotEqual(rotated.secretKey, user.secretKey)
        self.assertIsNone(self.db.transact(accounts.findByAccessKey, user.accessKey))
        self.assertEqual(
            self.db.transact(accounts.findByAccessKey, rotated.accessKey).name, "dave")

    def test_certificatesRevoked(self):
        """Recorded certificates are valid until revoked, and go with their user."""
        def issue(session):
            user = accounts.createUser(session, "erin")
            accounts.recordCertificate(session, user, "01", "PEM-1")
            accounts.recordCertificate(session, user, "02", "PEM-2")
        self.db.transact(issue)
        self.assertEqual(self.db.transact(accounts.validCertificates, "erin"),
                         ["PEM-1", "PEM-2"])

        def revoke(session):
            return accounts.revokeCertificates(session, accounts.findByName(session, "erin"))
        self.assertEqual(self.db.transact(revoke), 2)
        self.assertEqual(self.db.transact(accounts.validCertificates, "erin"), [])

    def test_schemaIsTheModels(self):
        """A freshly opened database has exactly the models' schema, at head."""
        self.assertEqual(schema.differences(self.db.engine), [])
        with self.db.engine.connect() as connection:
            self.assertEqual(schema.currentRevision(connection), schema.headRevision())

    def test_secondOpenChangesNothing(self):
        """Opening an up-to-date database again runs no revision and keeps rows."""
        self.db.transact(accounts.createUser, "frank")
        other = self.other()
        self.assertEqual(other.transact(accounts.findByName, "frank").name, "frank")


bothEngines(DatabaseStoreTests, globals())


class StartServiceTests(unittest.TestCase):
    """Opening the database does not hold the reactor thread."""

    def test_upgradeRunsOffTheReactorThread(self):
        """startService returns at once; queries made meanwhile wait for the upgrade."""
        release = threading.Event()
        seen = []
        realUpgrade = schema.upgrade

        def slowUpgrade(engine):
            seen.append(threading.current_thread())
            release.wait(30)
            realUpgrade(engine)
        self.patch(schema, "upgrade", slowUpgrade)
        db = Database("sqlite:///" + os.path.abspath(self.mktemp()) + ".db")
        db.startService()
        self.addCleanup(db.stopService)
        self.assertIsNone(db.engine)
        results = []
        d = db.run(accounts.createUser, "early")
        d.addCallback(lambda user: results.append(user.name))
        self.assertEqual(results, [])
        release.set()

        def check(_):
            self.assertEqual(results, ["early"])
            self.assertIsNot(seen[0], threading.main_thread())
        return d.addCallback(check)

    def test_failedUpgradeFailsWaitingQueries(self):
        """When the upgrade fails, the queries that waited for it fail with it."""
        def broken(engine):
            raise RuntimeError("no schema today")
        self.patch(schema, "upgrade", broken)
        db = Database("sqlite:///" + os.path.abspath(self.mktemp()) + ".db")
        db.startService()
        self.addCleanup(db.stopService)
        d = self.assertFailure(db.run(accounts.findByName, "x"), RuntimeError)
        opened = self.assertFailure(db.opened, RuntimeError)
        return defer.gatherResults([d, opened])


class PermissionTests(unittest.TestCase):
    """Nobody but the owner may read the database that holds the secret keys."""

    def modes(self, directory):
        return {name: stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode)
                for name in os.listdir(directory)}

    def test_newDatabaseIsPrivate(self):
        """A new SQLite DB: directory 0700, db, -wal and -shm 0600, even with umask 0."""
        old = os.umask(0)
        self.addCleanup(os.umask, old)
        directory = os.path.abspath(os.path.join(self.mktemp(), "var", "db"))
        db = Database("sqlite:///" + os.path.join(directory, "eucalyptus.db"))
        db.transact(accounts.createUser, "alice")
        self.addCleanup(db.engine.dispose)
        self.assertEqual(stat.S_IMODE(os.stat(directory).st_mode), 0o700)
        modes = self.modes(directory)
        self.assertIn("eucalyptus.db-wal", modes)
        self.assertIn("eucalyptus.db-shm", modes)
        for name, mode in modes.items():
            self.assertEqual(mode, 0o600, name)

    def test_oldDatabaseIsTightened(self):
        """A 0.1 install's 0755 db directory and 0644 files are made private on open."""
        directory = Layout(os.path.abspath(self.mktemp())).db
        os.makedirs(directory, 0o755)
        os.chmod(directory, 0o755)
        path = os.path.join(directory, "eucalyptus.db")
        for suffix in ("", "-wal"):
            with open(path + suffix, "wb"):
                pass
            os.chmod(path + suffix, 0o644)
        db = Database("sqlite:///" + path)
        db.transact(accounts.createUser, "alice")
        self.addCleanup(db.engine.dispose)
        self.assertEqual(stat.S_IMODE(os.stat(directory).st_mode), 0o700)
        for name, mode in self.modes(directory).items():
            self.assertEqual(mode, 0o600, name)


    def test_otherDirectoriesLeftAlone(self):
        """A database in an existing directory of the admin's choice: only its files change."""
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        os.chmod(directory, 0o1777)
        db = Database("sqlite:///" + os.path.join(directory, "cloud.db"))
        db.transact(accounts.createUser, "alice")
        self.addCleanup(db.engine.dispose)
        self.assertEqual(stat.S_IMODE(os.stat(directory).st_mode), 0o1777)
        for name, mode in self.modes(directory).items():
            self.assertEqual(mode, 0o600, name)


class DatabaseUrlTests(unittest.TestCase):
    """Which database an install uses."""

    def test_cloudDbUrl(self):
        """CLOUD_DB_URL wins; postgresql:// means the psycopg driver."""
        conf = EucaConf("/nonexistent", ['CLOUD_DB_URL="postgresql://u@h/db"',
                                         'DB_URL="sqlite:////old.db"'])
        self.assertEqual(databaseUrl(conf, Layout("/opt/e")),
                         "postgresql+psycopg://u@h/db")

    def test_olderName(self):
        """DB_URL still names the database when CLOUD_DB_URL is empty."""
        conf = EucaConf("/nonexistent", ['DB_URL="sqlite:////old.db"'])
        self.assertEqual(databaseUrl(conf, Layout("/opt/e")), "sqlite:////old.db")

    def test_default(self):
        """Without either, the install's SQLite file."""
        self.assertEqual(databaseUrl(EucaConf("/nonexistent"), Layout("/opt/e")),
                         "sqlite:////opt/e/var/lib/eucalyptus/db/eucalyptus.db")
