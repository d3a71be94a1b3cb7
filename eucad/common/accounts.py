"""Users and their credentials, shared by the EC2 API and Walrus.

A user has a name, a 12-digit account number (the ``ownerId`` EC2 shows),
an access key id and secret key for signed requests, an admin flag (only
admins register kernels and ramdisks, see the guide), an optional e-mail
address, and the X.509 certificates the cloud CA issued them (only the
public part is kept: bundle signatures are verified against it; the private
key goes to the user once, in their credentials, and is never stored).  The
CLC and ``euca_conf`` create users; Walrus only looks them up, from the same
database.
"""

import secrets
import string
import time

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from eucad.common.db import Base

_ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits


class User(Base):
    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    accessKey: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    secretKey: Mapped[str] = mapped_column(String(128))
    isAdmin: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[float] = mapped_column(Float, default=time.time)
    accountNumber: Mapped[str] = mapped_column(String(12), unique=True, index=True)
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)


class UserCertificate(Base):
    """A certificate the cloud CA issued to a user (public part only)."""
    __tablename__ = "user_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(
        String(64), ForeignKey("users.name", ondelete="CASCADE"), index=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    pem: Mapped[str] = mapped_column(Text)
    issued: Mapped[float] = mapped_column(Float)
    #: When it was revoked (a rotation); None while it is valid.
    revoked: Mapped[float | None] = mapped_column(Float, nullable=True)


class AccountError(Exception):
    """A user command that cannot be done, with the reason for the admin."""


def newAccessKey():
    return "".join(secrets.choice(_ACCESS_KEY_ALPHABET) for _ in range(20))


def newSecretKey():
    return secrets.token_urlsafe(30)[:40]


def newAccountNumber(session):
    """A 12-digit account number no user has yet."""
    while True:
        number = "%012d" % (secrets.randbelow(10 ** 12),)
        if number[0] != "0" and session.scalars(
                select(User.name).where(User.accountNumber == number)).first() is None:
            return number


def createUser(session, name, isAdmin=False, accessKey=None, secretKey=None, email=None):
    """Add a user with fresh keys (or the given ones) and return it."""
    user = User(name=name, accessKey=accessKey or newAccessKey(),
                secretKey=secretKey or newSecretKey(), isAdmin=isAdmin,
                enabled=True, created=time.time(),
                accountNumber=newAccountNumber(session), email=email)
    session.add(user)
    session.flush()
    return user


def findByAccessKey(session, accessKey):
    """The enabled user owning ``accessKey``, or None."""
    user = session.scalars(select(User).where(User.accessKey == accessKey)).first()
    if user is None or not user.enabled:
        return None
    return user


def findByName(session, name):
    return session.get(User, name)


def accountNumbers(session, names):
    """``{user name: account number}`` of those ``names`` that are users."""
    names = set(names)
    if not names:
        return {}
    return dict(session.execute(select(User.name, User.accountNumber)
                                .where(User.name.in_(names))).all())


def ensureAdmin(session, name="admin"):
    """The admin user, created on first call (``euca_conf --setup``)."""
    user = findByName(session, name)
    if user is None:
        user = createUser(session, name, isAdmin=True)
    return user


def rotateSecret(session, user):
    """A new access key id and secret key; the old pair stops working at once."""
    user.accessKey = newAccessKey()
    user.secretKey = newSecretKey()
    session.flush()
    return user


def recordCertificate(session, user, serial, pem, now=None):
    """Remember a certificate issued to ``user`` (its PEM, no key)."""
    row = UserCertificate(user=user.name, serial=serial, pem=pem,
                          issued=now or time.time(), revoked=None)
    session.add(row)
    session.flush()
    return row


def revokeCertificates(session, user, now=None):
    """Mark every valid certificate of ``user`` revoked; return how many."""
    rows = session.scalars(select(UserCertificate).where(
        UserCertificate.user == user.name, UserCertificate.revoked.is_(None))).all()
    for row in rows:
        row.revoked = now or time.time()
    session.flush()
    return len(rows)


def validCertificates(session, name):
    """
    The PEMs of the certificates of user ``name`` that are not revoked; with
    ``name`` None, every user's (a manifest the admin registers may be
    signed by any user).
    """
    query = select(UserCertificate.pem).where(UserCertificate.revoked.is_(None))
    if name is not None:
        query = query.where(UserCertificate.user == name)
    return list(session.scalars(query.order_by(UserCertificate.id)))
