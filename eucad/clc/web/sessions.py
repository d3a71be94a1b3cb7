"""Browser sessions of the web pages: a cookie naming a record in the database.

Every visitor gets a session (logged in or not) holding its CSRF token, so
the login and application forms are protected too; logging in replaces the
session (a new cookie), so a token planted before login is worthless after.
The cookie is ``Secure``, ``HttpOnly``, ``SameSite=Strict`` and expires
with the session.  Sessions are rows of ``web_sessions`` (in the CLC's
database, so a restart logs nobody out) found by the SHA-256 of the cookie's
value: the database never holds a value that would open a session.  Expired
rows go when a new session is made, and at most ``MAX_SESSIONS`` are kept:
past that, sessions that never logged in are dropped first, then the
soonest to expire.
"""

import hashlib
import hmac
import secrets
import time

from sqlalchemy import delete, func, select

from eucad.clc.web.models import WebSession
from eucad.clc.web.store import LoggedIn

COOKIE = b"eucad_session"
#: A session ends this long after it was made, logged in or not.
LIFETIME = 8 * 3600
#: At most this many sessions are kept.
MAX_SESSIONS = 10000


def sessionDigest(key):
    return hashlib.sha256(key.encode("ascii", "replace")).hexdigest()


class Session:
    """One session as a request sees it; ``save`` writes back what changed."""

    def __init__(self, key, expires, csrf=None, login=None, flash=None):
        self.key = key
        self.expires = expires
        self.csrf = csrf or secrets.token_urlsafe(24)
        self.login = login
        self.flash = flash
        self._saved = self._state()

    def _state(self):
        login = self.login
        return (self.flash, None if login is None else login.setupDue)

    def changed(self):
        return self._state() != self._saved

    def markSaved(self):
        self._saved = self._state()

    def csrfMatches(self, token):
        return hmac.compare_digest(self.csrf.encode(), (token or "").encode())


def _load(dbSession, digest, now):
    row = dbSession.get(WebSession, digest)
    if row is None or row.expires <= now:
        return None
    return row


def _insert(dbSession, session, now):
    dbSession.execute(delete(WebSession).where(WebSession.expires <= now))
    count = dbSession.scalar(select(func.count()).select_from(WebSession))
    if count >= MAX_SESSIONS:
        # Visitors who never logged in go first, so that a flood of them
        # does not log people out.
        oldest = select(WebSession.digest).order_by(
            WebSession.login.isnot(None), WebSession.expires).limit(count - MAX_SESSIONS + 1)
        dbSession.execute(delete(WebSession).where(WebSession.digest.in_(
            list(dbSession.scalars(oldest)))))
    login = session.login
    dbSession.add(WebSession(
        digest=sessionDigest(session.key), csrf=session.csrf, expires=session.expires,
        login=None if login is None else login.name,
        isAdmin=bool(login and login.isAdmin), setupDue=bool(login and login.setupDue),
        flash=session.flash))
    dbSession.flush()


def _remove(dbSession, digest):
    dbSession.execute(delete(WebSession).where(WebSession.digest == digest))


def _update(dbSession, digest, flash, setupDue):
    row = dbSession.get(WebSession, digest)
    if row is not None:
        row.flash = flash
        if setupDue is not None:
            row.setupDue = setupDue


class SessionStore:
    """Sessions in ``database`` (an ``eucad.common.db.Database``); every method returns a Deferred."""

    def __init__(self, database, clock=time.time):
        self.db = database
        self.clock = clock

    def _setCookie(self, request, session):
        request.addCookie(COOKIE, session.key.encode("ascii"), path=b"/", secure=True,
                          httpOnly=True, sameSite="strict",
                          max_age=str(int(session.expires - self.clock())).encode())

    async def _new(self, request, login=None):
        now = self.clock()
        session = Session(secrets.token_urlsafe(32), now + LIFETIME, login=login)
        await self.db.run(_insert, session, now)
        self._setCookie(request, session)
        return session

    async def current(self, request):
        """The request's session, made (and its cookie set) if it has none alive."""
        key = (request.getCookie(COOKIE) or b"").decode("ascii", "replace")
        row = None
        if key:
            row = await self.db.run(lambda s: _fromRow(_load(s, sessionDigest(key),
                                                             self.clock())))
        if row is None:
            return await self._new(request)
        expires, csrf, login, flash = row
        return Session(key, expires, csrf, login, flash)

    async def loggedIn(self, request, old, login):
        """Replace ``old`` with a fresh session of ``login``."""
        await self.db.run(_remove, sessionDigest(old.key))
        return await self._new(request, login)

    async def save(self, session):
        """Write the session's flash message and first-time state if they changed."""
        if session.changed():
            login = session.login
            await self.db.run(_update, sessionDigest(session.key), session.flash,
                              None if login is None else login.setupDue)
            session.markSaved()

    async def end(self, request, session):
        await self.db.run(_remove, sessionDigest(session.key))
        request.addCookie(COOKIE, b"", path=b"/", secure=True, httpOnly=True,
                          sameSite="strict", max_age=b"0")


def _fromRow(row):
    """``(expires, csrf, LoggedIn or None, flash)`` of a row (in the database thread)."""
    if row is None:
        return None
    login = None if row.login is None else LoggedIn(row.login, row.isAdmin, row.setupDue)
    return row.expires, row.csrf, login, row.flash
