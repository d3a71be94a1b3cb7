"""The web pages' tables: people's web logins, one-time tokens, settings.

``web_accounts`` holds what the EC2 ``users`` table does not: the password
hash, what an applicant wrote, where the account stands (``applied`` ->
``approved`` -> ``active``, or ``rejected``) and the failed-login count of
the lock-out.  The ``users`` row (keys, account number) exists from
approval on and is enabled only once the person activated it.
``web_tokens`` keep only the SHA-256 of each e-mailed token, and
``web_sessions`` only the SHA-256 of each session's cookie value.
"""

from sqlalchemy import Boolean, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from eucad.common.db import Base

APPLIED = "applied"
APPROVED = "approved"
ACTIVE = "active"
REJECTED = "rejected"


class WebAccount(Base):
    __tablename__ = "web_accounts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    passwordHash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    email: Mapped[str] = mapped_column(String(255), default="")
    realName: Mapped[str] = mapped_column(String(255), default="")
    telephone: Mapped[str] = mapped_column(String(64), default="")
    affiliation: Mapped[str] = mapped_column(String(255), default="")
    projectPi: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=APPLIED)
    created: Mapped[float] = mapped_column(Float)
    failedLogins: Mapped[int] = mapped_column(Integer, default=0)
    lockedUntil: Mapped[float] = mapped_column(Float, default=0.0)


class WebToken(Base):
    """A one-time token sent by mail (approve, reject, activate, reset)."""
    __tablename__ = "web_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64), index=True)
    expires: Mapped[float] = mapped_column(Float)


class WebSetting(Base):
    """One of the first-time settings (admin e-mail, public URL, setup done)."""
    __tablename__ = "web_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class WebSession(Base):
    """
    A browser's session (``eucad.clc.web.sessions``), kept in the database so
    that a CLC restart logs nobody out; found by the SHA-256 of its cookie.
    """
    __tablename__ = "web_sessions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    csrf: Mapped[str] = mapped_column(String(64))
    login: Mapped[str | None] = mapped_column(String(64), nullable=True)
    isAdmin: Mapped[bool] = mapped_column(Boolean, default=False)
    setupDue: Mapped[bool] = mapped_column(Boolean, default=False)
    flash: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires: Mapped[float] = mapped_column(Float, index=True)
