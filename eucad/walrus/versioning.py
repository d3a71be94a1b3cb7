"""What versioning changes in a write or a delete, as statements on a transaction.

The bucket store calls these inside the transaction that writes a key
(eucad.walrus.storebase, objectstore, uploadstore) when the bucket's
versioning is Enabled or Suspended; in a bucket that was never versioned
nothing here runs and a write replaces the key's one row as before.

The current version of a key is its ``walrus_objects`` row; the versions it
superseded and the delete markers are ``walrus_versions`` rows
(eucad.walrus.versionmodels).  The rules are S3's:

- Enabled: a write gets a new version id and the previous current version
  becomes noncurrent (its blobs stay); a delete without a version id adds a
  delete marker, which becomes the latest version.
- Suspended: a write or a delete makes the ``null`` version, replacing the
  key's earlier ``null`` version (current or not) whose blobs are removed;
  a current version with a real id becomes noncurrent.
- Deleting a version by id removes it for good; if it was the latest, the
  next newest version becomes current again (a delete marker stays a
  marker: the key then reads as deleted).

Every function here writes only after everything it checks, as the group
commit requires (eucad.walrus.groupcommit), and returns the blobs that the
commit stops naming, for the caller to remove after the commit.

A bucket's ``bytesUsed`` counts every version's bytes (its size limit would
otherwise be a limit on current versions only); ``objectCount`` counts
current objects.
"""

import re
import secrets

from sqlalchemy import bindparam, delete, insert, select

from eucad.walrus import rows
from eucad.walrus.errors import S3Error
from eucad.walrus.versionmodels import ObjectVersion

ENABLED = "Enabled"
SUSPENDED = "Suspended"
NULL = "null"

VERSIONS = ObjectVersion.__table__

#: Version ids Walrus makes: 32 URL-safe characters (S3's are opaque strings).
_VERSION_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")

#: What a version row holds besides its place (id, bucket, key).
VERSION_FIELDS = ("versionId", "deleteMarker", "owner", "size", "etag", "modified",
                  "headers", "meta", "acl", "checksums", "segments", "tags", "data")

INSERT_VERSION = insert(VERSIONS)
DELETE_VERSION = delete(VERSIONS).where(VERSIONS.c.id == bindparam("rowId"))
KEY_VERSIONS = select(VERSIONS).where(
    VERSIONS.c.bucket == bindparam("bucket"), VERSIONS.c.key == bindparam("key")) \
    .order_by(VERSIONS.c.id.desc())
ONE_VERSION = select(VERSIONS).where(
    VERSIONS.c.bucket == bindparam("bucket"), VERSIONS.c.key == bindparam("key"),
    VERSIONS.c.versionId == bindparam("versionId"))
LATEST_VERSION = KEY_VERSIONS.limit(1)


def newVersionId():
    """
    A fresh version id (never ``null``), never starting with ``-``: command
    lines (``aws s3api ... --version-id ID``) would take it for an option.
    """
    value = secrets.token_urlsafe(24)
    return "_" + value[1:] if value.startswith("-") else value


def checkVersionId(versionId):
    """Refuse a version id Walrus could not have made, as S3 does (400)."""
    if versionId != NULL and not _VERSION_ID.match(versionId or ""):
        raise S3Error("InvalidArgument", "Invalid version id specified",
                      ArgumentName="versionId", ArgumentValue=versionId)


class VersionRow:
    """A ``walrus_versions`` row, with the attribute names of an object row."""

    __slots__ = ("id", "bucket", "key") + VERSION_FIELDS

    def __init__(self, **values):
        for name in self.__slots__:
            setattr(self, name, values.get(name))

    @classmethod
    def fromRow(cls, row):
        mapping = row._mapping
        return cls(**{name: mapping[name] for name in cls.__slots__})

    @classmethod
    def current(cls, obj):
        """An object row seen as a version (the current one)."""
        values = {name: getattr(obj, name, None) for name in rows.OBJECT_FIELDS}
        values["deleteMarker"] = False
        return cls(**values)


def isVersioned(bucket):
    return bool(getattr(bucket, "versioning", ""))


def keyVersions(connection, bucketName, key):
    """The noncurrent versions and markers of a key, newest first."""
    return [VersionRow.fromRow(row) for row in
            connection.execute(KEY_VERSIONS, {"bucket": bucketName, "key": key})]


def findVersion(connection, bucketName, key, versionId):
    row = connection.execute(ONE_VERSION, {"bucket": bucketName, "key": key,
                                           "versionId": versionId}).first()
    return VersionRow.fromRow(row) if row is not None else None


def latestVersion(connection, bucketName, key):
    row = connection.execute(LATEST_VERSION, {"bucket": bucketName, "key": key}).first()
    return VersionRow.fromRow(row) if row is not None else None


def _archive(connection, current):
    """
    The current object row becomes a noncurrent version (same blobs), with
    every column the two tables share.
    """
    values = {name: getattr(current, name) for name in rows.OBJECT_FIELDS
              if name != "id" and name in VERSIONS.c}
    values["deleteMarker"] = False
    connection.execute(INSERT_VERSION, values)


def removeVersionRow(connection, bucketName, version):
    """Remove one ``walrus_versions`` row and its bytes from the totals; its blobs."""
    connection.execute(DELETE_VERSION, {"rowId": version.id})
    if version.size:
        rows.addToTotals(connection, bucketName, 0, -version.size)
    return [blob for blob, _ in version.segments]


def _removeNullVersion(connection, bucketName, key, countBytes=True):
    """
    Remove the key's noncurrent ``null`` version, if any: (its blobs, its
    size).  ``countBytes=False`` leaves the bucket's totals to the caller.
    """
    found = findVersion(connection, bucketName, key, NULL)
    if found is None:
        return [], 0
    if countBytes:
        return removeVersionRow(connection, bucketName, found), found.size
    connection.execute(DELETE_VERSION, {"rowId": found.id})
    return [blob for blob, _ in found.segments], found.size


def keepsCurrent(bucket, current):
    """Whether a write over ``current`` keeps it as a noncurrent version."""
    if current is None or not isVersioned(bucket):
        return False
    return bucket.versioning == ENABLED or current.versionId != NULL


def beforeWrite(connection, bucket, key, current):
    """
    Make way for a new current version of ``key`` in a versioned bucket.
    Returns (the new version's id, whether ``current`` was kept as a
    noncurrent version, blobs to remove after the commit, bytes the bucket
    uses besides what the write itself adds and replaces); the caller
    updates the bucket's totals once, with the write's own.
    """
    if bucket.versioning == ENABLED:
        if current is not None:
            _archive(connection, current)
            return newVersionId(), True, [], current.size
        return newVersionId(), False, [], 0
    garbage, freed = _removeNullVersion(connection, bucket.name, key, countBytes=False)
    if current is not None and current.versionId != NULL:
        _archive(connection, current)
        return NULL, True, garbage, current.size - freed
    return NULL, False, garbage, -freed


def deleteCurrent(connection, bucket, key, current, owner, now):
    """
    DELETE without a version id in a versioned bucket: a delete marker
    becomes the latest version.  Returns (marker's version id, blobs).
    """
    markerId = newVersionId() if bucket.versioning == ENABLED else NULL
    garbage = []
    if bucket.versioning == SUSPENDED:
        garbage, _ = _removeNullVersion(connection, bucket.name, key)
    if current is not None:
        if current.versionId == NULL and bucket.versioning == SUSPENDED:
            garbage += [blob for blob, _ in current.segments]
            freed = current.size
        else:
            _archive(connection, current)
            freed = 0   # its bytes are still used, by a noncurrent version now
        rows.deleteObjectRow(connection, current.id)
        rows.addToTotals(connection, bucket.name, -1, -freed)
    connection.execute(INSERT_VERSION, dict(
        bucket=bucket.name, key=key, versionId=markerId, deleteMarker=True, owner=owner,
        size=0, etag="", modified=now, headers={}, meta={}, acl={}, checksums={},
        segments=[]))
    return markerId, garbage


def deleteVersion(connection, bucket, key, versionId, current):
    """
    Remove one version for good.  Returns (the removed version or None if
    there was none, blobs); the next newest becomes current if the removed
    one was the latest.
    """
    if current is not None and current.versionId == versionId:
        rows.deleteObjectRow(connection, current.id)
        rows.addToTotals(connection, bucket.name, -1, -current.size)
        _promoteLatest(connection, bucket.name, key)
        return VersionRow.current(current), [blob for blob, _ in current.segments]
    found = findVersion(connection, bucket.name, key, versionId)
    if found is None:
        return None, []
    garbage = removeVersionRow(connection, bucket.name, found)
    if current is None:
        _promoteLatest(connection, bucket.name, key)
    return found, garbage


def _promoteLatest(connection, bucketName, key):
    """The newest remaining version becomes current unless it is a delete marker."""
    latest = latestVersion(connection, bucketName, key)
    if latest is None or latest.deleteMarker:
        return
    values = {name: getattr(latest, name, None) for name in rows.WRITTEN_FIELDS}
    connection.execute(DELETE_VERSION, {"rowId": latest.id})
    rows.insertObject(connection, bucketName, key, values)
    # Its bytes were counted while it was noncurrent.
    rows.addToTotals(connection, bucketName, 1, 0)


def hasVersions(connection, bucketName):
    """Whether any noncurrent version or delete marker is left in a bucket."""
    return connection.execute(select(VERSIONS.c.id).where(
        VERSIONS.c.bucket == bucketName).limit(1)).first() is not None


def versionBlobs(connection):
    """Every blob a version row names (for the start-up sweep)."""
    found = set()
    for (segments,) in connection.execute(select(VERSIONS.c.segments)):
        found.update(blob for blob, _size in segments)
    return found
