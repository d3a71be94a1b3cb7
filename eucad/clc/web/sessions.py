"""Browser sessions of the web pages: a cookie naming a server-side record.

Every visitor gets a session (logged in or not) holding its CSRF token, so
the login and application forms are protected too; logging in replaces the
session (a new cookie), so a token planted before login is worthless after.
The cookie is ``Secure``, ``HttpOnly``, ``SameSite=Strict`` and expires
with the session.  Sessions live in the CLC's memory: a restart logs
everyone out, which is the safe side.
"""

import hmac
import secrets
import time

COOKIE = b"eucad_session"
#: A session ends this long after it was made, logged in or not.
LIFETIME = 8 * 3600
#: At most this many sessions are kept; the oldest go first.
MAX_SESSIONS = 10000


class Session:
    def __init__(self, key, expires):
        self.key = key
        self.expires = expires
        self.csrf = secrets.token_urlsafe(24)
        self.login = None
        self.flash = None

    def csrfMatches(self, token):
        return hmac.compare_digest(self.csrf.encode(), (token or "").encode())


class SessionStore:
    def __init__(self, clock=time.time):
        self.clock = clock
        self.sessions = {}

    def _new(self):
        while len(self.sessions) >= MAX_SESSIONS:
            del self.sessions[next(iter(self.sessions))]
        session = Session(secrets.token_urlsafe(32), self.clock() + LIFETIME)
        self.sessions[session.key] = session
        return session

    def _setCookie(self, request, session):
        request.addCookie(COOKIE, session.key.encode("ascii"), path=b"/", secure=True,
                          httpOnly=True, sameSite="strict",
                          max_age=str(int(session.expires - self.clock())).encode())

    def current(self, request):
        """The request's session, made (and its cookie set) if it has none alive."""
        key = (request.getCookie(COOKIE) or b"").decode("ascii", "replace")
        session = self.sessions.get(key)
        if session is None or session.expires <= self.clock():
            self.sessions.pop(key, None)
            session = self._new()
            self._setCookie(request, session)
        return session

    def loggedIn(self, request, old, login):
        """Replace ``old`` with a fresh session of ``login``."""
        self.sessions.pop(old.key, None)
        session = self._new()
        session.login = login
        self._setCookie(request, session)
        return session

    def end(self, request, session):
        self.sessions.pop(session.key, None)
        request.addCookie(COOKIE, b"", path=b"/", secure=True, httpOnly=True,
                          sameSite="strict", max_age=b"0")
