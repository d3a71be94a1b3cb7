"""The shared database and the accounts in it."""

import os

from twisted.trial import unittest

from eucad.common import accounts
from eucad.common.db import Database


class DatabaseTests(unittest.TestCase):

    def setUp(self):
        self.path = os.path.abspath(os.path.join(self.mktemp(), "db", "eucalyptus.db"))
        self.db = Database("sqlite:///" + self.path)
        self.db.startService()
        self.addCleanup(self.db.stopService)

    def test_runCommitsInAThread(self):
        """run() executes in a pool thread and commits what the function did."""
        import threading
        main = threading.current_thread()
        seen = []

        def create(session):
            seen.append(threading.current_thread())
            return accounts.createUser(session, "alice").accessKey

        def check(key):
            self.assertIsNot(seen[0], main)
            other = Database("sqlite:///" + self.path)
            self.addCleanup(lambda: other.engine.dispose())
            user = other.transact(accounts.findByAccessKey, key)
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
        self.assertEqual((first.accessKey, first.secretKey),
                         (second.accessKey, second.secretKey))

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
        """Fresh users get distinct access keys and long secrets."""
        users = [self.db.transact(accounts.createUser, "u%d" % i) for i in range(20)]
        self.assertEqual(len({u.accessKey for u in users}), 20)
        self.assertTrue(all(len(u.secretKey) >= 40 for u in users))
