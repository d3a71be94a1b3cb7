"""What the web pages do to the database, one transaction per function.

Every function takes a SQLAlchemy session first (``Database.run`` calls it in
a pool thread) and raises ``WebError`` with a sentence for the person when
it cannot do what was asked.  Passwords are hashed here, in that thread.

The admin's first login is ``admin``/``admin`` while no web password was
ever set for them; the three first-time tasks (``completeSetup``) replace it.
"""

import hashlib
import re
import secrets
import time

from sqlalchemy import delete, select

from eucad.common import accounts, useradmin
from eucad.clc.web import passwords
from eucad.clc.web.models import (ACTIVE, APPLIED, APPROVED, REJECTED, WebAccount,
                                  WebSetting, WebToken)

ADMIN = "admin"
FIRST_PASSWORD = "admin"
#: Failed logins in a row before an account is locked, and for how long.
MAX_FAILED_LOGINS = 5
LOCK_SECONDS = 15 * 60
#: How long e-mailed tokens work.
TOKEN_SECONDS = {"approve": 7 * 86400, "reject": 7 * 86400,
                 "activate": 3 * 86400, "reset": 3600}
MIN_PASSWORD = 8

#: The issue's user names: letters, digits and -_.@, 1-30 long.
_USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,30}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")

SETTING_ADMIN_EMAIL = "adminEmail"
SETTING_PUBLIC_URL = "publicUrl"
SETTING_SETUP_DONE = "setupDone"


class WebError(Exception):
    """A request the pages refuse, with the reason shown to the person."""


class LoggedIn:
    """Who logged in, and whether the first-time tasks are still due."""

    def __init__(self, name, isAdmin, setupDue):
        self.name = name
        self.isAdmin = isAdmin
        self.setupDue = setupDue


def _digest(token):
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def checkUserName(name):
    if not _USER_NAME.match(name or ""):
        raise WebError("A user name is 1 to 30 letters, digits, '-', '_', '.' or '@'.")
    return name


def checkEmail(email):
    if not _EMAIL.match(email or ""):
        raise WebError("That is not an e-mail address.")
    return email


def checkNewPassword(password, confirm):
    if password != confirm:
        raise WebError("The two passwords differ.")
    if len(password or "") < MIN_PASSWORD:
        raise WebError("A password has at least %d characters." % (MIN_PASSWORD,))
    return password


def getSetting(session, key, default=""):
    row = session.get(WebSetting, key)
    return row.value if row is not None else default


def setSetting(session, key, value):
    row = session.get(WebSetting, key)
    if row is None:
        session.add(WebSetting(key=key, value=value))
    else:
        row.value = value
    session.flush()


def settings(session):
    """``{key: value}`` of every web setting."""
    return {row.key: row.value for row in session.scalars(select(WebSetting))}


def newToken(session, purpose, name, now=None):
    """A fresh token for ``purpose`` (only its digest is stored)."""
    token = secrets.token_urlsafe(24)
    session.add(WebToken(digest=_digest(token), purpose=purpose, name=name,
                         expires=(now or time.time()) + TOKEN_SECONDS[purpose]))
    session.flush()
    return token


def peekToken(session, purpose, token, now=None):
    """The user name a valid ``token`` of ``purpose`` is for; WebError if none."""
    row = session.get(WebToken, _digest(token or "x"))
    if row is None or row.purpose != purpose or row.expires < (now or time.time()):
        raise WebError("This link is not valid (used already, or expired).")
    return row.name


def _useToken(session, purpose, token, now=None):
    name = peekToken(session, purpose, token, now)
    session.execute(delete(WebToken).where(WebToken.name == name,
                                           WebToken.purpose.in_(_family(purpose))))
    return name


def _family(purpose):
    # Approving or rejecting uses up both of the admin's links.
    return ("approve", "reject") if purpose in ("approve", "reject") else (purpose,)


class Refused:
    """A refused login, with the sentence shown (returned, not raised, so the
    failed-login count it changed is committed)."""

    def __init__(self, reason):
        self.reason = reason


def login(session, name, password, now=None):
    """
    A ``LoggedIn`` for the right password, else ``Refused`` (the same
    sentence for unknown names and wrong passwords).  Failed logins count
    towards the lock-out, which refuses even the right password until it ends.
    """
    now = now or time.time()
    refused = Refused("Wrong user name or password.")
    account = session.get(WebAccount, name or "")
    if account is None:
        if name == ADMIN and password == FIRST_PASSWORD and accounts.findByName(
                session, ADMIN) is not None:
            account = WebAccount(name=ADMIN, passwordHash=None, status=ACTIVE,
                                 created=now, failedLogins=0, lockedUntil=0.0)
            session.add(account)
            session.flush()
            return LoggedIn(ADMIN, True, True)
        passwords.hashPassword(password or "")  # same time as a real check
        return refused
    if account.lockedUntil > now:
        return Refused("Too many failed logins: this account is locked for a while.")
    firstTime = account.name == ADMIN and account.passwordHash is None
    good = (password == FIRST_PASSWORD) if firstTime else passwords.checkPassword(
        password or "", account.passwordHash)
    if not good:
        account.failedLogins += 1
        if account.failedLogins >= MAX_FAILED_LOGINS:
            account.lockedUntil = now + LOCK_SECONDS
            account.failedLogins = 0
        return refused
    account.failedLogins = 0
    if account.status != ACTIVE:
        return Refused("This account is not active yet.")
    user = accounts.findByName(session, account.name)
    if user is None or not user.enabled:
        return Refused("This account is disabled.")
    setupDue = bool(user.isAdmin) and getSetting(session, SETTING_SETUP_DONE) != "yes"
    return LoggedIn(account.name, bool(user.isAdmin), setupDue)


def stillActive(session, name):
    """Whether ``name`` may still use a session made at login (not disabled or deleted)."""
    account = session.get(WebAccount, name)
    user = accounts.findByName(session, name)
    return (account is not None and account.status == ACTIVE and user is not None
            and bool(user.enabled))


def completeSetup(session, name, password, confirm, email, publicUrl):
    """The first-time tasks: the admin's new password, e-mail and the public URL."""
    checkNewPassword(password, confirm)
    if password == FIRST_PASSWORD:
        raise WebError("Choose a password other than the first one.")
    checkEmail(email)
    publicUrl = (publicUrl or "").strip().rstrip("/")
    if not _URL.match(publicUrl):
        raise WebError("The public URL looks like https://cloud.example.com:8443.")
    account = session.get(WebAccount, name)
    account.passwordHash = passwords.hashPassword(password)
    account.email = email
    accounts.findByName(session, name).email = email
    setSetting(session, SETTING_ADMIN_EMAIL, email)
    setSetting(session, SETTING_PUBLIC_URL, publicUrl)
    setSetting(session, SETTING_SETUP_DONE, "yes")


class Application:
    """What the "Apply for account" form holds."""

    FIELDS = ("realName", "name", "email", "password", "confirm", "telephone",
              "affiliation", "projectPi", "description")

    def __init__(self, form):
        for field in self.FIELDS:
            setattr(self, field, (form.get(field) or "").strip()
                    if field not in ("password", "confirm") else form.get(field) or "")


def _nameFree(session, name):
    if session.get(WebAccount, name) is not None or accounts.findByName(
            session, name) is not None:
        raise WebError("The user name %s is taken." % (name,))


def apply(session, application, now=None):
    """Record an application; return the admin's (approve token, reject token)."""
    if getSetting(session, SETTING_ADMIN_EMAIL) == "":
        raise WebError("This cloud does not take applications yet.")
    checkUserName(application.name)
    checkEmail(application.email)
    checkNewPassword(application.password, application.confirm)
    if not application.realName:
        raise WebError("Please give your name.")
    _nameFree(session, application.name)
    session.add(WebAccount(
        name=application.name, passwordHash=passwords.hashPassword(application.password),
        email=application.email, realName=application.realName,
        telephone=application.telephone, affiliation=application.affiliation,
        projectPi=application.projectPi, description=application.description,
        status=APPLIED, created=now or time.time(), failedLogins=0, lockedUntil=0.0))
    session.flush()
    return newToken(session, "approve", application.name, now), newToken(
        session, "reject", application.name, now)


def _approve(session, account, now=None):
    """Create the (disabled) EC2 user of ``account``; return its activation token."""
    user = accounts.createUser(session, account.name, email=account.email)
    user.enabled = False
    account.status = APPROVED
    session.flush()
    return newToken(session, "activate", account.name, now)


def decide(session, purpose, token, now=None):
    """
    Approve or reject an application by the admin's token.  Returns
    ``(account name, e-mail, activation token or None)``.
    """
    name = _useToken(session, purpose, token, now)
    account = session.get(WebAccount, name)
    if account is None or account.status != APPLIED:
        raise WebError("This application was decided already.")
    if purpose == "reject":
        account.status = REJECTED
        return name, account.email, None
    return name, account.email, _approve(session, account, now)


def addUser(session, name, email, now=None):
    """The admin adds a user: approved at once, activated by e-mail (returns the token)."""
    checkUserName(name)
    checkEmail(email)
    _nameFree(session, name)
    account = WebAccount(name=name, passwordHash=None, email=email, status=APPLIED,
                         created=now or time.time(), failedLogins=0, lockedUntil=0.0)
    session.add(account)
    session.flush()
    return _approve(session, account, now)


def newActivation(session, name, now=None):
    """``(e-mail, token)``: a fresh activation link for an approved account not yet active."""
    account = session.get(WebAccount, name or "")
    if account is None or account.status != APPROVED:
        raise WebError("%s is not waiting for activation." % (name,))
    session.execute(delete(WebToken).where(WebToken.name == name,
                                           WebToken.purpose == "activate"))
    return account.email, newToken(session, "activate", name, now)


def activationNeedsPassword(session, token, now=None):
    """``(name, whether the person must choose a password)`` of an activation link."""
    name = peekToken(session, "activate", token, now)
    return name, session.get(WebAccount, name).passwordHash is None


def activate(session, token, password=None, confirm=None, now=None):
    """Follow an activation link: the account and its EC2 user work from now on."""
    name = _useToken(session, "activate", token, now)
    account = session.get(WebAccount, name)
    if account.passwordHash is None:
        checkNewPassword(password, confirm)
        account.passwordHash = passwords.hashPassword(password)
    account.status = ACTIVE
    accounts.findByName(session, name).enabled = True
    return name


def forgotPassword(session, name, now=None):
    """``(e-mail, code)`` for a reset of ``name``'s password, or None (told to nobody)."""
    account = session.get(WebAccount, name or "")
    if account is None or account.status != ACTIVE or not account.email:
        return None
    return account.email, newToken(session, "reset", name, now)


def resetPassword(session, name, code, password, confirm, now=None):
    """Set a new password with an e-mailed code (the code is used up)."""
    if peekToken(session, "reset", code, now) != name:
        raise WebError("This link is not valid (used already, or expired).")
    checkNewPassword(password, confirm)
    _useToken(session, "reset", code, now)
    account = session.get(WebAccount, name)
    account.passwordHash = passwords.hashPassword(password)
    account.failedLogins = 0
    account.lockedUntil = 0.0


class UserRow:
    """One line of the admin's user list."""

    def __init__(self, user, account):
        self.name = user.name if user is not None else account.name
        self.email = (user.email if user is not None else None) or (
            account.email if account else "")
        self.isAdmin = bool(user.isAdmin) if user is not None else False
        self.enabled = bool(user.enabled) if user is not None else False
        self.status = account.status if account is not None else ACTIVE
        self.realName = account.realName if account else ""
        self.affiliation = account.affiliation if account else ""
        self.description = account.description if account else ""


def listUsers(session):
    users = {u.name: u for u in session.scalars(select(accounts.User))}
    webAccounts = {a.name: a for a in session.scalars(select(WebAccount))}
    return [UserRow(users.get(name), webAccounts.get(name))
            for name in sorted(set(users) | set(webAccounts))]


def setEnabled(session, name, enabled):
    if name == ADMIN:
        raise WebError("The admin cannot be disabled.")
    account = session.get(WebAccount, name)
    if enabled and account is not None and account.status != ACTIVE:
        raise WebError("%s has not activated the account yet." % (name,))
    try:
        useradmin.setEnabled(session, name, enabled)
    except accounts.AccountError as e:
        raise WebError(str(e))


def deleteUser(session, name):
    if name == ADMIN:
        raise WebError("The admin cannot be deleted.")
    account = session.get(WebAccount, name)
    if accounts.findByName(session, name) is not None:
        try:
            useradmin.deleteUser(session, name)
        except accounts.AccountError as e:
            raise WebError(str(e))
    if account is not None:
        session.delete(account)
    session.execute(delete(WebToken).where(WebToken.name == name))
