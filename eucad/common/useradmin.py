"""What ``euca_conf``'s user flags do: add, list, disable, enable, delete, rotate, credentials.

Each function is one transaction on the cloud's database (the CLC's own,
named by ``CLOUD_DB_URL``), run by ``euca_conf`` on the front end, where the
CA's key is too.  A change is seen by the running CLC and Walrus at their
next lookup: a disabled user or a rotated secret is refused from then on
(Walrus caches a lookup for at most two seconds).
"""

import re

from sqlalchemy import select

from eucad.common import accounts, trust
from eucad.common.credentials import UserCredentials

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+=-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def checkName(name):
    """A user name as EC2 tools accept it; AccountError if not."""
    if not _NAME.match(name or ""):
        raise accounts.AccountError(
            "%r is not a user name (1-64 letters, digits and _.@+=-, "
            "starting with a letter or digit)" % (name,))
    return name


def checkEmail(email):
    if email is not None and not _EMAIL.match(email):
        raise accounts.AccountError("%r is not an e-mail address" % (email,))
    return email


def _user(session, name):
    user = accounts.findByName(session, name)
    if user is None:
        raise accounts.AccountError("no user %r" % (name,))
    return user


def addUser(session, name, isAdmin=False, email=None):
    """Create a user; AccountError if the name is taken."""
    checkName(name)
    checkEmail(email)
    if accounts.findByName(session, name) is not None:
        raise accounts.AccountError("user %r exists already" % (name,))
    return accounts.createUser(session, name, isAdmin=isAdmin, email=email)


def listUsers(session):
    """``[(name, accountNumber, accessKey, isAdmin, enabled, email)]`` by name."""
    return [(u.name, u.accountNumber, u.accessKey, bool(u.isAdmin), bool(u.enabled),
             u.email or "")
            for u in session.scalars(select(accounts.User).order_by(accounts.User.name))]


def setEnabled(session, name, enabled):
    """Enable or disable a user (a disabled user's requests are refused)."""
    user = _user(session, name)
    user.enabled = enabled
    session.flush()
    return user


def liveInstances(session, name):
    """Ids of ``name``'s instances that are not terminated."""
    from eucad.clc.models import TERMINATED, Instance
    return list(session.scalars(select(Instance.id).where(
        Instance.owner == name, Instance.state != TERMINATED).order_by(Instance.id)))


def deleteUser(session, name):
    """Delete a user and their certificates, refused while they own live instances."""
    user = _user(session, name)
    live = liveInstances(session, name)
    if live:
        raise accounts.AccountError(
            "user %r still owns instances that are not terminated: %s" % (
                name, " ".join(live)))
    session.delete(user)
    session.flush()


def rotateSecret(session, name):
    """New access key and secret key for ``name``; the old ones are refused at once."""
    return accounts.rotateSecret(session, _user(session, name))


def rotateCertificate(session, name):
    """Revoke every certificate issued to ``name``; return how many."""
    return accounts.revokeCertificates(session, _user(session, name))


def issueCredentials(session, name, keysDir, ec2Url, s3Url, region):
    """
    A freshly issued certificate and key for ``name`` (the certificate is
    recorded, the key is not) and the rest of their credentials.
    """
    user = _user(session, name)
    if not user.enabled:
        raise accounts.AccountError("user %r is disabled" % (name,))
    cert, key = trust.issueUserCertificate(keysDir, user.name, user.accountNumber)
    certPem = trust.pemCertificate(cert)
    serial = "%x" % (cert.serial_number,)
    accounts.recordCertificate(session, user, serial, certPem.decode("ascii"))
    with open(trust.certPath(keysDir, "cloud"), "rb") as f:
        cloudCert = f.read()
    return UserCredentials(user.name, user.accountNumber, user.accessKey,
                           user.secretKey, ec2Url, s3Url, region, certPem,
                           trust.pemPrivateKey(key), cloudCert, serial)
