"""Browser sessions: cookie attributes, expiry, a new session at login, CSRF comparison."""

from twisted.internet.task import Clock
from twisted.trial import unittest
from twisted.web.server import Request
from twisted.web.test.requesthelper import DummyChannel

from eucad.clc.web.sessions import COOKIE, LIFETIME, SessionStore


def requestWith(cookie=None):
    request = Request(DummyChannel())
    if cookie is not None:
        request.received_cookies[COOKIE] = cookie
    return request


def setCookie(request):
    [header] = request.cookies
    return header.decode("ascii")


class SessionStoreTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1000)
        self.store = SessionStore(self.clock.seconds)

    def test_cookieAttributes(self):
        """A new session's cookie is Secure, HttpOnly, SameSite=Strict and ends with the session."""
        request = requestWith()
        session = self.store.current(request)
        header = setCookie(request)
        self.assertTrue(header.startswith("eucad_session=%s;" % (session.key,)))
        for attribute in ("Secure", "HttpOnly", "SameSite=strict", "Path=/",
                          "Max-Age=%d" % (LIFETIME,)):
            self.assertIn(attribute, header)

    def test_sameSessionWhileAlive(self):
        """A known, unexpired cookie gives its session back and sets no new cookie."""
        session = self.store.current(requestWith())
        request = requestWith(session.key.encode())
        self.assertIs(self.store.current(request), session)
        self.assertEqual(request.cookies, [])

    def test_expiredOrUnknownSessionsAreReplaced(self):
        """After its lifetime (or with a made-up key) a visitor gets a new session, logged out."""
        session = self.store.current(requestWith())
        session.login = "someone"
        self.clock.advance(LIFETIME + 1)
        fresh = self.store.current(requestWith(session.key.encode()))
        self.assertIsNot(fresh, session)
        self.assertIsNone(fresh.login)
        self.assertNotIn(session.key, self.store.sessions)
        made = self.store.current(requestWith(b"made-up"))
        self.assertNotEqual(made.key, "made-up")

    def test_loginReplacesTheSession(self):
        """Logging in drops the old session (and its CSRF token) for a new one."""
        before = self.store.current(requestWith())
        request = requestWith(before.key.encode())
        after = self.store.loggedIn(request, before, "login")
        self.assertNotEqual((after.key, after.csrf), (before.key, before.csrf))
        self.assertNotIn(before.key, self.store.sessions)
        self.assertEqual(after.login, "login")
        self.assertIn(after.key, setCookie(request))

    def test_logoutEndsTheSession(self):
        """Logging out forgets the session and clears the cookie."""
        session = self.store.current(requestWith())
        request = requestWith(session.key.encode())
        self.store.end(request, session)
        self.assertNotIn(session.key, self.store.sessions)
        self.assertIn("Max-Age=0", setCookie(request))

    def test_csrf(self):
        """Only the session's own token matches."""
        session = self.store.current(requestWith())
        self.assertTrue(session.csrfMatches(session.csrf))
        for other in ("", None, session.csrf[:-1], "x" + session.csrf):
            self.assertFalse(session.csrfMatches(other))
