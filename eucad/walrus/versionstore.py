"""The bucket store's versioning operations: status, versions by id, deletes, listing.

Writes of new versions go through the object and upload stores as before;
what versioning changes in them is eucad.walrus.versioning.  Here are the
operations only versioning has: the bucket's status, reading a version by
its id, deleting with or without an id (as one job of the group commit,
like any delete), and ListObjectVersions.
"""

from sqlalchemy import bindparam, select, union, update

from eucad.walrus import rows, versioning
from eucad.walrus.errors import S3Error
from eucad.walrus.listing import prefixEnd
from eucad.walrus.rows import OBJECTS
from eucad.walrus.storebase import StoreBase
from eucad.walrus.versioning import VERSIONS, VersionRow

#: How many distinct keys one query of a version listing fetches.
KEY_BATCH = 200
#: What a version listing shows (no JSON columns to decode).
LISTED = ("key", "versionId", "size", "etag", "modified", "owner")


class Deletion:
    """What a delete answers: the version it removed or made, and if that is a marker."""

    def __init__(self, versionId, deleteMarker):
        self.versionId = versionId
        self.deleteMarker = deleteMarker


class VersionListing:
    """One page of ListObjectVersions: (version rows, is latest) and common prefixes."""

    def __init__(self):
        self.entries = []
        self.commonPrefixes = []
        self.truncated = False
        self.nextKey = None
        self.nextVersionId = None


class VersionStore(StoreBase):
    """Versions: the current one in walrus_objects, the others in walrus_versions."""

    def setVersioning(self, bucketName, status, check):
        """PutBucketVersioning: ``status`` is Enabled or Suspended."""
        def update(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            bucket.versioning = status
            return bucket
        return self.database.run(update)

    def lookupVersion(self, bucketName, key, versionId):
        """
        Deferred (bucket row, VersionRow, whether it is the latest);
        NoSuchBucket, NoSuchVersion.
        """
        def query(session):
            connection = session.connection()
            bucket, current = rows.bucketAndObject(connection, bucketName, key)
            if bucket is None:
                raise S3Error("NoSuchBucket", BucketName=bucketName)
            if current is not None and current.versionId == versionId:
                return bucket, VersionRow.current(current), True
            found = versioning.findVersion(connection, bucketName, key, versionId)
            if found is None:
                raise S3Error("NoSuchVersion", Key=key, VersionId=versionId)
            latest = current is None and versioning.latestVersion(
                connection, bucketName, key).id == found.id
            return bucket, found, latest
        return self.database.read(query)

    def setVersionAcl(self, bucketName, key, versionId, check, makeAcl):
        """PutObjectAcl on one version (current or not)."""
        def change(session):
            connection = session.connection()
            bucket, current = rows.bucketAndObject(connection, bucketName, key)
            if bucket is None:
                raise S3Error("NoSuchBucket", BucketName=bucketName)
            if current is not None and current.versionId == versionId:
                target, table = current, OBJECTS
            else:
                target, table = versioning.findVersion(connection, bucketName, key,
                                                       versionId), VERSIONS
                if target is None:
                    raise S3Error("NoSuchVersion", Key=key, VersionId=versionId)
                if target.deleteMarker:
                    raise S3Error("MethodNotAllowed", Method="PUT",
                                  ResourceType="DeleteMarker")
            check(bucket, target)
            connection.execute(update(table).where(table.c.id == bindparam("rowId"))
                               .values(acl=bindparam("newAcl")),
                               {"rowId": target.id, "newAcl": makeAcl(bucket, target)})
        return self.database.run(change)

    def currentDeleteMarker(self, bucketName, key):
        """Deferred delete marker that hides ``key`` now, or None."""
        def query(session):
            connection = session.connection()
            bucket, current = rows.bucketAndObject(connection, bucketName, key)
            if bucket is None or current is not None or not versioning.isVersioned(bucket):
                return None
            latest = versioning.latestVersion(connection, bucketName, key)
            return latest if latest is not None and latest.deleteMarker else None
        return self.database.read(query)

    def _deleteOne(self, connection, bucket, key, current, versionId, owner, statements=rows):
        """
        (Deletion or None, blobs) of one delete in a transaction.

        @param statements: what runs an unversioned delete's row statements:
            the ``rows`` module, or the store's precompiled ``rows.PreparedDelete``.
        """
        if versionId is None and not versioning.isVersioned(bucket):
            if current is None:
                return None, []
            statements.deleteObjectRow(connection, current.id)
            statements.addToTotals(connection, bucket.name, -1, -current.size)
            return None, [blob for blob, _ in current.segments]
        if versionId is None:
            markerId, garbage = versioning.deleteCurrent(connection, bucket, key, current,
                                                         owner, self.clock())
            return Deletion(markerId, True), garbage
        removed, garbage = versioning.deleteVersion(connection, bucket, key, versionId,
                                                    current)
        return Deletion(versionId, bool(removed is not None and removed.deleteMarker)), garbage

    async def deleteObject(self, bucketName, key, check, condition=None, versionId=None,
                           owner="anonymous"):
        """
        DeleteObject, with or without a version id: a job of the group
        commit, like a small PUT, so many concurrent deletes share one
        transaction (and one commit).  Returns a Deletion, or None in a
        bucket that was never versioned.
        """
        if versionId is not None:
            versioning.checkVersionId(versionId)

        def commit(connection):
            prepared = self._preparedRows(connection)
            bucket, current = prepared.bucketAndObject(connection, bucketName, key)
            if bucket is None:
                raise S3Error("NoSuchBucket", BucketName=bucketName)
            check(bucket)
            if condition is not None:
                condition(current)
            return self._deleteOne(connection, bucket, key, current, versionId, owner,
                                   statements=prepared)
        deletion, garbage = await self.commits.submit(commit, bucketName, key)
        self._removeLater(garbage)
        return deletion

    async def deleteObjects(self, bucketName, entries, check, owner="anonymous"):
        """
        DeleteObjects: ``entries`` is [(key, version id or None)], all in
        one transaction.  Returns [(key, version id, Deletion or None)].
        """
        def remove(session):
            connection = session.connection()
            bucket = self._bucket(session, bucketName)
            check(bucket)
            done, garbage = [], []
            for key, versionId in entries:
                current = connection.execute(rows.OLD_OBJECT, {"bucket": bucketName,
                                                               "key": key}).first()
                deletion, blobs = self._deleteOne(connection, bucket, key, current, versionId,
                                                  owner)
                done.append((key, versionId, deletion))
                garbage.extend(blobs)
            return done, garbage
        done, garbage = await self.database.run(remove)
        self._removeLater(garbage)
        return done

    def listVersions(self, bucketName, prefix, delimiter, keyMarker, versionMarker, maxKeys,
                     check):
        """Deferred (bucket, VersionListing) of ListObjectVersions."""
        def query(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            walk = _VersionWalk(session.connection(), bucketName, prefix, delimiter, maxKeys)
            return bucket, walk.run(keyMarker, versionMarker)
        return self.database.read(query)


class _VersionWalk:
    """Walks keys in byte order and each key's versions newest first, for one page."""

    def __init__(self, connection, bucketName, prefix, delimiter, maxKeys):
        self.connection = connection
        self.bucketName = bucketName
        self.prefix = prefix
        self.delimiter = delimiter
        self.maxKeys = maxKeys
        self.listing = VersionListing()
        self.count = 0

    def remaining(self):
        """How many more entries could be read before the page is known to be full."""
        return self.maxKeys - self.count + 1

    def olderVersions(self, keys, belowId=None):
        """
        Noncurrent versions and markers of ``keys`` in listing order, at most
        ``remaining()`` of them: the page ends before any key past the
        last one read, so a key with a million versions costs one page.
        """
        statement = select(VERSIONS.c.id, VERSIONS.c.deleteMarker,
                           *[VERSIONS.c[name] for name in LISTED]).where(
            VERSIONS.c.bucket == self.bucketName, VERSIONS.c.key.in_(keys))
        if belowId is not None:
            statement = statement.where(VERSIONS.c.id < belowId)
        statement = statement.order_by(VERSIONS.c.key, VERSIONS.c.id.desc())
        return [VersionRow(**row._mapping) for row in
                self.connection.execute(statement.limit(self.remaining()))]

    def versionsOfKeys(self, keys):
        """{key: [(VersionRow, is latest)], newest first} for many keys, in two queries."""
        found = {key: [] for key in keys}
        currents = self.connection.execute(
            select(*[OBJECTS.c[name] for name in LISTED]).where(
                OBJECTS.c.bucket == self.bucketName, OBJECTS.c.key.in_(keys)))
        for row in currents:
            found[row.key].append(VersionRow(deleteMarker=False, **row._mapping))
        for version in self.olderVersions(keys):
            found[version.key].append(version)
        return {key: [(version, index == 0) for index, version in enumerate(versions)]
                for key, versions in found.items()}

    def afterVersionMarker(self, key, versionMarker):
        """The versions of ``key`` listed after ``versionMarker`` (none is latest)."""
        current = self.connection.execute(rows.OLD_OBJECT, {"bucket": self.bucketName,
                                                            "key": key}).first()
        if current is not None and current.versionId == versionMarker:
            return [(version, False) for version in self.olderVersions([key])]
        marker = versioning.findVersion(self.connection, self.bucketName, key, versionMarker)
        if marker is None:
            return []
        return [(version, False) for version in self.olderVersions([key], marker.id)]

    def keysFrom(self, lower, inclusive):
        """The next batch of distinct keys (current or not) from ``lower``."""
        upper = prefixEnd(self.prefix) if self.prefix else None
        selects = []
        for table in (OBJECTS, VERSIONS):
            statement = select(table.c.key).where(table.c.bucket == self.bucketName)
            statement = statement.where(table.c.key >= lower if inclusive
                                        else table.c.key > lower)
            if upper is not None:
                statement = statement.where(table.c.key < upper)
            selects.append(statement)
        merged = union(*selects).subquery()
        found = self.connection.execute(select(merged.c.key).order_by(merged.c.key)
                                        .limit(KEY_BATCH)).scalars().all()
        return [key for key in found if key.startswith(self.prefix)]

    def add(self, key, versions):
        """Add versions of ``key`` to the page; False once the page is full."""
        for version, latest in versions:
            if self.count >= self.maxKeys:
                self.listing.truncated = True
                return False
            self.listing.entries.append((version, latest))
            self.listing.nextKey, self.listing.nextVersionId = key, version.versionId
            self.count += 1
        return True

    def run(self, keyMarker, versionMarker):
        if self.maxKeys <= 0:
            return self.listing
        if keyMarker and versionMarker:
            if not self.add(keyMarker, self.afterVersionMarker(keyMarker, versionMarker)):
                return self.listing
        if keyMarker and keyMarker >= self.prefix:
            lower, inclusive = keyMarker, False
        else:
            lower, inclusive = self.prefix, True
        while True:
            keys = self.keysFrom(lower, inclusive)
            if not keys:
                return self.listing
            if self.delimiter:
                listed = [key for key in keys
                          if key.find(self.delimiter, len(self.prefix)) < 0]
            else:
                listed = keys
            versions = self.versionsOfKeys(listed) if listed else {}
            for key in keys:
                lower, inclusive = key, False
                if self.delimiter:
                    cut = key.find(self.delimiter, len(self.prefix))
                    if cut >= 0:
                        common = key[:cut + len(self.delimiter)]
                        if self.count >= self.maxKeys:
                            self.listing.truncated = True
                            return self.listing
                        if not (keyMarker and common <= keyMarker):
                            self.listing.commonPrefixes.append(common)
                            self.listing.nextKey, self.listing.nextVersionId = common, None
                            self.count += 1
                        end = prefixEnd(common)
                        if end is None:
                            return self.listing
                        lower, inclusive = end, True
                        break
                if not self.add(key, versions[key]):
                    return self.listing
            else:
                if len(keys) < KEY_BATCH:
                    return self.listing
