"""Users and their credentials, shared by the EC2 API and Walrus.

A user has a name, an access key id and secret key for signed requests, and
an admin flag (only admins register kernels and ramdisks, see the guide).  The
CLC creates users; Walrus only looks them up, from the same database.
"""

import secrets
import string
import time

from sqlalchemy import Boolean, Float, String, select
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


def newAccessKey():
    return "".join(secrets.choice(_ACCESS_KEY_ALPHABET) for _ in range(20))


def newSecretKey():
    return secrets.token_urlsafe(30)[:40]


def createUser(session, name, isAdmin=False, accessKey=None, secretKey=None):
    """Add a user with fresh keys (or the given ones) and return it."""
    user = User(name=name, accessKey=accessKey or newAccessKey(),
                secretKey=secretKey or newSecretKey(), isAdmin=isAdmin,
                enabled=True, created=time.time())
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


def ensureAdmin(session, name="admin"):
    """The admin user, created on first call (``euca_conf --setup``)."""
    user = findByName(session, name)
    if user is None:
        user = createUser(session, name, isAdmin=True)
    return user
