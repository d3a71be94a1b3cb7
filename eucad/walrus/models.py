"""Walrus's tables in the shared database: buckets, objects, multipart uploads.

An object row names its data as ``segments``, a list of ``[blob, size]``: a
plain PUT has one, a completed multipart upload has one per part (the part
files become the object's files without being copied).  Metadata that S3
returns as headers is kept as JSON: ``headers`` for Content-Type and the
other Content-*/Cache-Control/Expires headers, ``meta`` for x-amz-meta-*.
ACLs are JSON too (see ``eucad.walrus.acl``).

A small object's bytes are kept in its row instead (``data``, with
``segments`` empty; see eucad.walrus.inline): its PUT is then one commit,
not a file fsynced, renamed and its directory fsynced before that commit.
"""

import time

from sqlalchemy import (JSON, BigInteger, Float, ForeignKey, Integer, LargeBinary, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from eucad.common.db import Base


def _byteOrdered(length):
    """
    A string column compared and sorted by its bytes, as S3 lists keys: on
    PostgreSQL the "C" collation (a database's own collation, en_US or ICU,
    would interleave case and skip punctuation), SQLite's default elsewhere.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class Bucket(Base):
    __tablename__ = "walrus_buckets"

    name: Mapped[str] = mapped_column(_byteOrdered(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    created: Mapped[float] = mapped_column(Float, default=time.time)
    location: Mapped[str] = mapped_column(String(64), default="")
    acl: Mapped[dict] = mapped_column(JSON)
    objectCount: Mapped[int] = mapped_column(BigInteger, default=0)
    bytesUsed: Mapped[int] = mapped_column(BigInteger, default=0)
    #: "" (never versioned), "Enabled" or "Suspended" (eucad.walrus.versioning).
    versioning: Mapped[str] = mapped_column(String(16), default="")


class StoredObject(Base):
    __tablename__ = "walrus_objects"
    __table_args__ = (UniqueConstraint("bucket", "key", name="walrus_objects_bucket_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(
        _byteOrdered(255), ForeignKey("walrus_buckets.name", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(_byteOrdered(1024))
    owner: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(64))
    modified: Mapped[float] = mapped_column(Float)
    headers: Mapped[dict] = mapped_column(JSON)
    meta: Mapped[dict] = mapped_column(JSON)
    acl: Mapped[dict] = mapped_column(JSON)
    checksums: Mapped[dict] = mapped_column(JSON)
    segments: Mapped[list] = mapped_column(JSON)
    #: The current version's id: "null" unless written while versioning was Enabled.
    versionId: Mapped[str] = mapped_column(String(64), default="null")
    #: The object's tag set, {key: value} (eucad.walrus.tagging); None when it has none.
    tags: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    #: The object's bytes when they are kept in the row (eucad.walrus.inline), else None.
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class Upload(Base):
    """A multipart upload in progress."""
    __tablename__ = "walrus_uploads"

    uploadId: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[str] = mapped_column(
        _byteOrdered(255), ForeignKey("walrus_buckets.name", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(_byteOrdered(1024))
    owner: Mapped[str] = mapped_column(String(64))
    initiated: Mapped[float] = mapped_column(Float)
    headers: Mapped[dict] = mapped_column(JSON)
    meta: Mapped[dict] = mapped_column(JSON)
    acl: Mapped[dict] = mapped_column(JSON)
    checksumAlgorithm: Mapped[str] = mapped_column(String(16), default="")
    #: COMPOSITE (a checksum of the parts' checksums) or FULL_OBJECT (CRCs only).
    checksumType: Mapped[str] = mapped_column(String(16), default="")
    #: The tag set x-amz-tagging asked for, given to the object on completion.
    tags: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class Completion(Base):
    """
    A multipart upload completed recently: a client whose reply was lost
    and who asks again gets the same answer instead of NoSuchUpload.
    """
    __tablename__ = "walrus_completions"

    uploadId: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(255), index=True)
    key: Mapped[str] = mapped_column(String(1024))
    etag: Mapped[str] = mapped_column(String(64))
    checksums: Mapped[dict] = mapped_column(JSON)
    completed: Mapped[float] = mapped_column(Float, index=True)
    #: The version the completion made (None in a bucket never versioned).
    versionId: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Who started the upload: besides bucket writers, who may ask again.
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Part(Base):
    __tablename__ = "walrus_parts"

    uploadId: Mapped[str] = mapped_column(
        String(64), ForeignKey("walrus_uploads.uploadId", ondelete="CASCADE"),
        primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    blob: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(64))
    modified: Mapped[float] = mapped_column(Float)
    checksums: Mapped[dict] = mapped_column(JSON)


class BucketConfig(Base):
    """
    A bucket's configuration document of one ``kind`` (``tagging``, ``cors``,
    ``policy``), kept as the text Walrus validated: JSON for tags and CORS
    rules, the policy exactly as the owner sent it (GetBucketPolicy returns it).
    """
    __tablename__ = "walrus_bucket_configs"

    bucket: Mapped[str] = mapped_column(
        _byteOrdered(255), ForeignKey("walrus_buckets.name", ondelete="CASCADE"),
        primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
