"""Browser sessions: cookie attributes, expiry, a new session at login, CSRF, kept in the database."""

from sqlalchemy import select
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial import unittest
from twisted.web.server import Request
from twisted.web.test.requesthelper import DummyChannel

from eucad.clc.web import sessions
from eucad.clc.web.models import WebSession
from eucad.clc.web.sessions import COOKIE, LIFETIME, SessionStore
from eucad.clc.web.store import LoggedIn
from eucad.common.db import Database


def requestWith(cookie=None):
    request = Request(DummyChannel())
    if cookie is not None:
        request.received_cookies[COOKIE] = cookie
    return request


def setCookie(request):
    [header] = request.cookies
    return header.decode("ascii")


class InThisThread:
    """A Database whose ``run`` is its ``transact`` in the test's thread (same SQL, no pool)."""

    def __init__(self, database):
        self.database = database

    def run(self, fn, *args):
        return defer.maybeDeferred(self.database.transact, fn, *args)


class SessionStoreTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1000)
        self.db = Database("sqlite:///" + self.mktemp() + ".db")
        self.addCleanup(lambda: self.db.engine.dispose())
        self.store = SessionStore(InThisThread(self.db), self.clock.seconds)

    def current(self, request):
        return self.successResultOf(defer.ensureDeferred(self.store.current(request)))

    def rows(self):
        return self.db.transact(lambda s: [(r.digest, r.login, r.flash) for r in
                                           s.scalars(select(WebSession))])

    def test_cookieAttributes(self):
        """A new session's cookie is Secure, HttpOnly, SameSite=Strict and ends with the session."""
        request = requestWith()
        session = self.current(request)
        header = setCookie(request)
        self.assertTrue(header.startswith("eucad_session=%s;" % (session.key,)))
        for attribute in ("Secure", "HttpOnly", "SameSite=strict", "Path=/",
                          "Max-Age=%d" % (LIFETIME,)):
            self.assertIn(attribute, header)

    def test_storedHashed(self):
        """The database holds the SHA-256 of the cookie's value, never the value itself."""
        session = self.current(requestWith())
        [(digest, _, _)] = self.rows()
        self.assertEqual(digest, sessions.sessionDigest(session.key))
        self.assertNotEqual(digest, session.key)

    def test_sameSessionWhileAlive(self):
        """A known, unexpired cookie gives its session back (from the rows: a new store) and sets no cookie."""
        session = self.current(requestWith())
        self.store = SessionStore(InThisThread(self.db), self.clock.seconds)
        request = requestWith(session.key.encode())
        again = self.current(request)
        self.assertEqual((again.key, again.csrf), (session.key, session.csrf))
        self.assertEqual(request.cookies, [])

    def test_expiredOrUnknownSessionsAreReplaced(self):
        """After its lifetime (or with a made-up key) a visitor gets a new session, logged out; expired rows go."""
        request = requestWith()
        old = self.current(request)
        session = self.successResultOf(defer.ensureDeferred(
            self.store.loggedIn(request, old, LoggedIn("someone", False, False))))
        self.clock.advance(LIFETIME + 1)
        fresh = self.current(requestWith(session.key.encode()))
        self.assertNotEqual(fresh.key, session.key)
        self.assertIsNone(fresh.login)
        self.assertEqual([digest for digest, _, _ in self.rows()],
                         [sessions.sessionDigest(fresh.key)])
        made = self.current(requestWith(b"made-up"))
        self.assertNotEqual(made.key, "made-up")

    def test_loginReplacesTheSession(self):
        """Logging in drops the old session (and its CSRF token) for a new one, stored with its login."""
        before = self.current(requestWith())
        request = requestWith(before.key.encode())
        after = self.successResultOf(defer.ensureDeferred(
            self.store.loggedIn(request, before, LoggedIn("alice", True, True))))
        self.assertNotEqual((after.key, after.csrf), (before.key, before.csrf))
        self.assertIn(after.key, setCookie(request))
        loaded = self.current(requestWith(after.key.encode()))
        self.assertEqual((loaded.login.name, loaded.login.isAdmin, loaded.login.setupDue),
                         ("alice", True, True))
        self.assertEqual(len(self.rows()), 1)

    def test_savedChanges(self):
        """A flash message and the end of the first-time tasks are written back and read again."""
        request = requestWith()
        session = self.successResultOf(defer.ensureDeferred(self.store.loggedIn(
            request, self.current(request), LoggedIn("admin", True, True))))
        session.flash = "saved"
        session.login.setupDue = False
        self.successResultOf(defer.ensureDeferred(self.store.save(session)))
        loaded = self.current(requestWith(session.key.encode()))
        self.assertEqual((loaded.flash, loaded.login.setupDue), ("saved", False))

    def test_logoutEndsTheSession(self):
        """Logging out forgets the session and clears the cookie."""
        session = self.current(requestWith())
        request = requestWith(session.key.encode())
        self.successResultOf(defer.ensureDeferred(self.store.end(request, session)))
        self.assertEqual(self.rows(), [])
        self.assertIn("Max-Age=0", setCookie(request))

    def test_boundedCount(self):
        """Past MAX_SESSIONS the soonest to expire go first."""
        self.patch(sessions, "MAX_SESSIONS", 3)
        made = []
        for _ in range(5):
            made.append(self.current(requestWith()))
            self.clock.advance(1)
        kept = sorted(digest for digest, _, _ in self.rows())
        self.assertEqual(kept, sorted(sessions.sessionDigest(s.key) for s in made[2:]))

    def test_loggedInOutliveAFlood(self):
        """Past MAX_SESSIONS, sessions that never logged in go before logged-in ones."""
        self.patch(sessions, "MAX_SESSIONS", 3)
        request = requestWith()
        alice = self.successResultOf(defer.ensureDeferred(self.store.loggedIn(
            request, self.current(request), LoggedIn("alice", False, False))))
        for _ in range(5):
            self.clock.advance(1)
            self.current(requestWith())
        self.assertIn(sessions.sessionDigest(alice.key),
                      [digest for digest, _, _ in self.rows()])
        self.assertEqual(len(self.rows()), 3)

    def test_csrf(self):
        """Only the session's own token matches."""
        session = self.current(requestWith())
        self.assertTrue(session.csrfMatches(session.csrf))
        for other in ("", None, session.csrf[:-1], "x" + session.csrf):
            self.assertFalse(session.csrfMatches(other))
