"""The web pages' account rules, on SQLite and PostgreSQL, one transaction per call."""

from eucad.clc.web import passwords, store
from eucad.clc.web.models import ACTIVE, APPROVED, REJECTED, WebAccount, WebToken
from eucad.common import accounts
from eucad.common.db import Database
from tests.dbengines import bothEngines


def application(**overrides):
    form = {"realName": "Alice", "name": "alice", "email": "alice@example.com",
            "password": "wonderland", "confirm": "wonderland", "telephone": "1",
            "affiliation": "Oxford", "projectPi": "Dodgson", "description": "rabbits"}
    form.update(overrides)
    return store.Application(form)


class StoreTests:
    """Mixed into one TestCase per engine (``tests.dbengines``)."""

    def setUp(self):
        self.db = Database(self.databaseUrl())
        self.addCleanup(lambda: self.db.engine.dispose())
        self.db.transact(accounts.ensureAdmin)

    def call(self, fn, *args, **kwargs):
        return self.db.transact(fn, *args, **kwargs)

    def setUpAdmin(self):
        self.assertTrue(self.call(store.login, "admin", "admin").setupDue)
        self.call(store.completeSetup, "admin", "new-admin-pw", "new-admin-pw",
                  "admin@example.com", "https://cloud.example.com:8443/")

    def test_passwordHashes(self):
        """scrypt hashes verify their password only, and differ for the same password."""
        first, second = passwords.hashPassword("pw"), passwords.hashPassword("pw")
        self.assertNotEqual(first, second)
        self.assertTrue(first.startswith("scrypt$16384$8$1$"))
        self.assertTrue(passwords.checkPassword("pw", first))
        self.assertFalse(passwords.checkPassword("pW", first))
        self.assertFalse(passwords.checkPassword("pw", "garbage"))

    def test_firstLoginOnlyUntilSetup(self):
        """admin/admin works until the setup, which stores the e-mail, URL and a hashed password."""
        self.assertIsInstance(self.call(store.login, "admin", "wrong"), store.Refused)
        self.assertRaises(store.WebError, self.call, store.completeSetup, "admin",
                          "admin", "admin", "admin@example.com", "https://x")
        self.setUpAdmin()
        self.assertIsInstance(self.call(store.login, "admin", "admin"), store.Refused)
        login = self.call(store.login, "admin", "new-admin-pw")
        self.assertEqual((login.isAdmin, login.setupDue), (True, False))
        values = self.call(store.settings)
        self.assertEqual(values[store.SETTING_PUBLIC_URL], "https://cloud.example.com:8443")
        self.assertEqual(values[store.SETTING_ADMIN_EMAIL], "admin@example.com")

    def test_applicationsNeedTheAdminEmail(self):
        """Before the admin gave an e-mail address, applications are refused."""
        self.assertRaises(store.WebError, self.call, store.apply, application())

    def test_userNameRules(self):
        """User names are 1-30 letters, digits, -_.@; anything else is refused."""
        self.setUpAdmin()
        for bad in ("", "a" * 31, "bad name", "semi;colon", "<b>"):
            self.assertRaises(store.WebError, self.call, store.apply,
                              application(name=bad))
        self.call(store.apply, application(name="a-b_c.d@e"))
        self.call(store.apply, application(name="x" * 30))

    def test_applyApproveActivate(self):
        """An approved application has a disabled EC2 user until the activation link is followed."""
        self.setUpAdmin()
        approve, reject = self.call(store.apply, application())
        self.assertRaises(store.WebError, self.call, store.apply, application())
        name, email, activation = self.call(store.decide, "approve", approve)
        self.assertEqual((name, email), ("alice", "alice@example.com"))
        self.assertRaises(store.WebError, self.call, store.decide, "reject", reject)
        self.assertFalse(self.call(lambda s: accounts.findByName(s, "alice").enabled))
        self.assertEqual(self.call(store.login, "alice", "wonderland").reason,
                         "This account is not active yet.")
        self.assertEqual(self.call(store.activationNeedsPassword, activation),
                         ("alice", False))
        self.call(store.activate, activation)
        self.assertRaises(store.WebError, self.call, store.activate, activation)
        self.assertTrue(self.call(lambda s: accounts.findByName(s, "alice").enabled))
        self.assertEqual(self.call(store.login, "alice", "wonderland").name, "alice")

    def test_reject(self):
        """A rejected application makes no EC2 user and uses up the approve link."""
        self.setUpAdmin()
        approve, reject = self.call(store.apply, application())
        self.assertEqual(self.call(store.decide, "reject", reject),
                         ("alice", "alice@example.com", None))
        self.assertRaises(store.WebError, self.call, store.decide, "approve", approve)
        self.assertIsNone(self.call(accounts.findByName, "alice"))
        self.assertEqual(self.call(lambda s: s.get(WebAccount, "alice").status), REJECTED)

    def test_adminAddsDisablesEnablesDeletes(self):
        """An added user chooses a password on activation; disable, enable and delete act on the EC2 user."""
        self.setUpAdmin()
        token = self.call(store.addUser, "bob", "bob@example.com")
        self.assertEqual(self.call(lambda s: s.get(WebAccount, "bob").status), APPROVED)
        self.assertEqual(self.call(store.activationNeedsPassword, token), ("bob", True))
        self.assertRaises(store.WebError, self.call, store.activate, token, "short", "short")
        self.call(store.activate, token, "bob-password", "bob-password")
        self.assertEqual(self.call(lambda s: s.get(WebAccount, "bob").status), ACTIVE)
        self.call(store.setEnabled, "bob", False)
        self.assertEqual(self.call(store.login, "bob", "bob-password").reason,
                         "This account is disabled.")
        self.assertIsNone(self.call(
            lambda s: accounts.findByAccessKey(s, accounts.findByName(s, "bob").accessKey)))
        self.call(store.setEnabled, "bob", True)
        self.assertEqual(self.call(store.login, "bob", "bob-password").name, "bob")
        self.assertRaises(store.WebError, self.call, store.setEnabled, "admin", False)
        self.assertRaises(store.WebError, self.call, store.deleteUser, "admin")
        self.call(store.deleteUser, "bob")
        self.assertIsNone(self.call(accounts.findByName, "bob"))
        self.assertEqual([row.name for row in self.call(store.listUsers)], ["admin"])

    def test_newActivationLink(self):
        """A new activation link replaces the old one, for approved accounts only."""
        self.setUpAdmin()
        first = self.call(store.addUser, "bob", "bob@example.com")
        email, second = self.call(store.newActivation, "bob")
        self.assertEqual(email, "bob@example.com")
        self.assertRaises(store.WebError, self.call, store.activate, first, "pw-pw-pw-pw",
                          "pw-pw-pw-pw")
        self.call(store.activate, second, "pw-pw-pw-pw", "pw-pw-pw-pw")
        self.assertRaises(store.WebError, self.call, store.newActivation, "bob")
        self.assertRaises(store.WebError, self.call, store.newActivation, "admin")

    def test_forgottenPassword(self):
        """A reset code sets a new password once; unknown names get nothing."""
        self.setUpAdmin()
        self.call(store.activate, self.call(store.addUser, "bob", "bob@example.com"),
                  "old-password", "old-password")
        self.assertIsNone(self.call(store.forgotPassword, "nobody"))
        email, code = self.call(store.forgotPassword, "bob")
        self.assertEqual(email, "bob@example.com")
        self.assertRaises(store.WebError, self.call, store.resetPassword, "admin", code,
                          "new-password", "new-password")
        self.call(store.resetPassword, "bob", code, "new-password", "new-password")
        self.assertRaises(store.WebError, self.call, store.resetPassword, "bob", code,
                          "other-password", "other-password")
        self.assertIsInstance(self.call(store.login, "bob", "old-password"), store.Refused)
        self.assertEqual(self.call(store.login, "bob", "new-password").name, "bob")

    def test_lockout(self):
        """Five wrong passwords lock the account, even against the right one, until it ends."""
        self.setUpAdmin()
        for _ in range(store.MAX_FAILED_LOGINS):
            self.assertIsInstance(self.call(store.login, "admin", "wrong", now=1000.0),
                                  store.Refused)
        self.assertIn("locked", self.call(store.login, "admin", "new-admin-pw",
                                          now=1001.0).reason)
        later = 1000.0 + store.LOCK_SECONDS + 1
        self.assertEqual(self.call(store.login, "admin", "new-admin-pw", now=later).name,
                         "admin")

    def test_tokensStoredHashedAndExpire(self):
        """Only a token's SHA-256 is stored, and an expired token is refused."""
        self.setUpAdmin()
        approve, _ = self.call(store.apply, application(), now=1000.0)
        digests = self.call(lambda s: [t.digest for t in s.query(WebToken)])
        self.assertNotIn(approve, digests)
        late = 1000.0 + store.TOKEN_SECONDS["approve"] + 1
        self.assertRaises(store.WebError, self.call, store.decide, "approve", approve,
                          now=late)


bothEngines(StoreTests, globals())
