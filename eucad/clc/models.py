"""The CLC's tables: reservations, instances and images.

Rows are what the CLC promised users; clusters report what really runs, and
the poller (``eucad.clc.poller``) brings the two together.  Plain-dict views
of rows (``record()``) are what leaves a DB transaction, so that no code on
the reactor thread touches a session.
"""

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from eucad.common.db import Base

PENDING, RUNNING, SHUTTING_DOWN, TERMINATED = (
    "pending", "running", "shutting-down", "terminated")

#: EC2's instanceState codes.
STATE_CODES = {PENDING: 0, RUNNING: 16, SHUTTING_DOWN: 32, TERMINATED: 48}

#: States only move forward: a late report never undoes a newer one.
STATE_ORDER = {PENDING: 0, RUNNING: 1, SHUTTING_DOWN: 2, TERMINATED: 3}

LIVE_STATES = (PENDING, RUNNING)


def laterState(current, reported):
    """The later of two states (unknown reported states are ignored)."""
    if reported not in STATE_ORDER:
        return current
    return reported if STATE_ORDER[reported] > STATE_ORDER[current] else current


class Reservation(Base):
    __tablename__ = "reservations"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    cluster: Mapped[str] = mapped_column(String(64))
    #: Security group names, space separated ("default" until groups exist).
    groups: Mapped[str] = mapped_column(String(512), default="default")
    created: Mapped[float] = mapped_column(Float)


class Instance(Base):
    __tablename__ = "instances"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    reservationId: Mapped[str] = mapped_column(
        String(16), ForeignKey("reservations.id", ondelete="CASCADE"), index=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    imageId: Mapped[str] = mapped_column(String(16))
    kernelId: Mapped[str | None] = mapped_column(String(16), nullable=True)
    ramdiskId: Mapped[str | None] = mapped_column(String(16), nullable=True)
    vmType: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    privateIp: Mapped[str | None] = mapped_column(String(64), nullable=True)
    publicIp: Mapped[str | None] = mapped_column(String(64), nullable=True)
    macAddress: Mapped[str | None] = mapped_column(String(32), nullable=True)
    cluster: Mapped[str] = mapped_column(String(64), index=True)
    node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    launchTime: Mapped[float] = mapped_column(Float)
    launchIndex: Mapped[int] = mapped_column(Integer, default=0)
    keyName: Mapped[str | None] = mapped_column(String(255), nullable=True)
    userData: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The OpenSSH public key of ``keyName`` as it was at launch, so that
    #: deleting or replacing the key pair later does not change what a
    #: running instance is told (the metadata service serves it).
    keyData: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str] = mapped_column(String(255), default="")
    #: When the state last changed (terminated ones stay visible for a while).
    stateChanged: Mapped[float] = mapped_column(Float)
    #: When the cluster confirmed it started the instance; None while the
    #: launch is in flight (the poller leaves such rows alone).
    placedAt: Mapped[float | None] = mapped_column(Float, nullable=True)

    def record(self):
        """Every column as a plain dict."""
        return {column.name: getattr(self, column.key)
                for column in self.__table__.columns}


class Image(Base):
    __tablename__ = "images"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    location: Mapped[str] = mapped_column(String(1024))
    owner: Mapped[str] = mapped_column(String(64), index=True)
    isPublic: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(16), default="available")
    architecture: Mapped[str] = mapped_column(String(16), default="x86_64")
    #: Defaults for machine images, overridable by RunInstances.
    kernelId: Mapped[str | None] = mapped_column(String(16), nullable=True)
    ramdiskId: Mapped[str | None] = mapped_column(String(16), nullable=True)
    digest: Mapped[str | None] = mapped_column(String(128), nullable=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    registered: Mapped[float] = mapped_column(Float)
    #: Why the image is ``failed`` (a bundle that did not decrypt...).
    stateReason: Mapped[str | None] = mapped_column(String(512), nullable=True)
    #: Decrypted size in bytes, once Walrus has it.
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)

    def record(self):
        return {column.name: getattr(self, column.key)
                for column in self.__table__.columns}

    def linkShape(self, deliveryUrl=None):
        """
        The ``image`` shape that crosses the CLC -> CC link.  An image from a
        bundle (its location ``bucket/name.manifest.xml``) is fetched where
        ``deliveryUrl(imageId)`` says; one the lab placed by path, from there.
        """
        location = self.location
        if not location.startswith("/") and deliveryUrl is not None:
            location = deliveryUrl(self.id)
        return {"id": self.id, "kind": self.kind, "location": location,
                "digest": self.digest}


class ImageLaunchPermission(Base):
    """One user (not the owner) allowed to launch a private image."""

    __tablename__ = "image_launch_permissions"

    imageId: Mapped[str] = mapped_column(
        String(16), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    user: Mapped[str] = mapped_column(String(64), primary_key=True)
