"""The table of object versions that are not current, and of delete markers.

A key's current version stays in ``walrus_objects`` (so GET, HEAD, PUT and
listings of an unversioned bucket read and write one row as before).  In a
bucket whose versioning is Enabled or Suspended, the version a write or a
delete supersedes moves here with everything S3 answers about it, and a
delete marker is a row here with ``deleteMarker`` set.  Rows are numbered
in the order they were made noncurrent (``id``); since every row of a key
here is older than the key's current version, ``id`` descending is the
order S3 lists a key's versions in (eucad.walrus.versioning).
"""

from sqlalchemy import (JSON, BigInteger, Boolean, Float, ForeignKey, Integer, LargeBinary,
                        String, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from eucad.common.db import Base
from eucad.walrus.models import _byteOrdered


class ObjectVersion(Base):
    __tablename__ = "walrus_versions"
    __table_args__ = (UniqueConstraint("bucket", "key", "versionId",
                                       name="walrus_versions_bucket_key_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(
        _byteOrdered(255), ForeignKey("walrus_buckets.name", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(_byteOrdered(1024))
    versionId: Mapped[str] = mapped_column(String(64))
    deleteMarker: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(64))
    modified: Mapped[float] = mapped_column(Float)
    headers: Mapped[dict] = mapped_column(JSON)
    meta: Mapped[dict] = mapped_column(JSON)
    acl: Mapped[dict] = mapped_column(JSON)
    checksums: Mapped[dict] = mapped_column(JSON)
    segments: Mapped[list] = mapped_column(JSON)
    #: The version's tag set, kept with it when object tags exist
    #: (eucad.walrus.tagging: the ``tags`` of walrus_objects); None without.
    tags: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    #: The version's bytes when kept in the row (eucad.walrus.inline), else None.
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
