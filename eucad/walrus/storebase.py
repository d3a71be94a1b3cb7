"""What every part of the bucket store shares: its collaborators and row helpers.

``StoreBase`` holds the database, the blob directory, the I/O runner, the
limits and the group commit, and the few steps that buckets, objects and
multipart uploads all take: installing a spooled body as a blob, removing
blobs after the commit that stops naming them, finding rows, replacing an
object's row, and reading or copying blob ranges.
"""

import os
import time

from sqlalchemy import select

from eucad.walrus import checksums, inline, rows, versioning
from eucad.walrus.errors import S3Error
from eucad.walrus.groupcommit import GroupCommit
from eucad.walrus.listingcache import ListingCache
from eucad.walrus.models import Bucket, Part, StoredObject
from eucad.walrus.objectcache import ObjectCache, WatchedDatabase


class Limits:
    """Per-user bucket count and per-bucket size (0 means unlimited)."""

    def __init__(self, maxBucketsPerUser=0, maxBucketBytes=0):
        self.maxBucketsPerUser = maxBucketsPerUser
        self.maxBucketBytes = maxBucketBytes


class StoreBase:
    """
    ``database`` is an ``eucad.common.db.Database`` (``run`` and
    ``transact``); ``blobs`` a BlobDirectory; ``runIo(fn, *args)`` runs
    blocking file work and returns a Deferred.
    """

    def __init__(self, database, blobs, runIo, limits=None, clock=time.time):
        #: What GET and HEAD found and what small PUTs wrote, valid until
        #: a transaction that may change it (eucad.walrus.objectcache):
        #: every transaction goes through ``self.database``, the group
        #: commit's too.
        self.objectCache = ObjectCache()
        self.database = WatchedDatabase(database, self.objectCache)
        #: Pages of ListObjects, valid in the same generations
        #: (eucad.walrus.listingcache).
        self.listingCache = ListingCache(self.objectCache)
        self.blobs = blobs
        self.runIo = runIo
        self.limits = limits or Limits()
        self.clock = clock
        self.commits = GroupCommit(self.database)
        self._lookup = None
        self._listing = None
        self._deleteStatements = None

    def sweep(self, olderThan=None):
        """Remove temporary files and unnamed blobs left by a crash."""
        return self.runIo(self.blobs.sweep, self._referenced, olderThan)

    def _referenced(self):
        """Every blob name a row names (in the calling thread)."""
        def query(session):
            found = set()
            for (segments,) in session.execute(select(StoredObject.segments)):
                found.update(blob for blob, _size in segments)
            found.update(session.scalars(select(Part.blob)))
            found.update(versioning.versionBlobs(session.connection()))
            return found
        return self.database.transact(query)

    def _preparedRows(self, connection):
        """
        The store's ``rows.PreparedDelete`` for ``connection``'s engine (in the database
        thread): the lookup and delete statements a writer runs precompiled.
        """
        engine = connection.engine
        prepared = self._deleteStatements
        if prepared is None or prepared.engine is not engine:
            prepared = self._deleteStatements = rows.PreparedDelete(engine)
        return prepared

    def _install(self, spooled):
        """Deferred blob name for a SpooledBody (made durable first)."""
        if spooled.data is not None:
            return self.runIo(self.blobs.installBytes, spooled.data)
        tempPath, spooled.tempPath = spooled.tempPath, None
        return self.runIo(self.blobs.install, tempPath)

    def _removeLater(self, names):
        if names:
            self.runIo(self.blobs.remove, list(names))

    @staticmethod
    def _bucket(session, name):
        bucket = session.get(Bucket, name)
        if bucket is None:
            raise S3Error("NoSuchBucket", BucketName=name)
        return bucket

    @staticmethod
    def _object(session, bucket, key):
        return session.scalars(select(StoredObject).where(
            StoredObject.bucket == bucket, StoredObject.key == key)).first()

    def _checkBucketSize(self, bucket, growth):
        limit = self.limits.maxBucketBytes
        if limit and growth > 0 and bucket.bytesUsed + growth > limit:
            raise S3Error("EntityTooLarge",
                          "Your upload would make the bucket larger than its %d bytes limit."
                          % (limit,), BucketName=bucket.name)

    def _replaceObject(self, connection, bucket, key, owner, size, etag, headers, meta, acl,
                       sums, segments, old=None, condition=None, tags=None, data=None):
        """
        Insert or update the row for ``key`` with plain statements, and count
        it in the bucket's totals; returns (ObjectRow, the blobs of the old
        version).  ``old`` is the current row if the caller already read it.
        The totals change by SQL arithmetic, so ``bucket`` may be a row read
        earlier in the transaction.  ``connection`` is the transaction's
        (``session.connection()`` inside ``Database.run``).  It raises
        S3Error only before writing anything (see eucad.walrus.groupcommit).
        ``condition(old)`` (eucad.walrus.writeconditions) may refuse the
        write on what the key holds now, in the same transaction.
        ``tags`` is the new version's tag set (eucad.walrus.tagging), or None.
        ``data`` is the object's bytes when they are kept in the row
        (eucad.walrus.inline; ``segments`` is then empty).
        """
        if old is None:
            old = connection.execute(rows.OLD_OBJECT, {"bucket": bucket.name, "key": key}).first()
        if condition is not None:
            condition(old)
        oldSize = old.size if old is not None else 0
        kept = versioning.keepsCurrent(bucket, old)
        self._checkBucketSize(bucket, size if kept else size - oldSize)
        versionId, oldKept, oldBlobs, keptBytes = versioning.NULL, False, [], 0
        if versioning.isVersioned(bucket):
            versionId, oldKept, oldBlobs, keptBytes = versioning.beforeWrite(
                connection, bucket, key, old)
        values = dict(owner=owner, size=size, etag=etag, modified=self.clock(),
                      headers=headers, meta=meta, acl=acl, checksums=sums, segments=segments,
                      versionId=versionId, tags=tags or None, data=data)
        if old is None:
            objectId = rows.insertObject(connection, bucket.name, key, values)
        else:
            if not oldKept:
                oldBlobs = oldBlobs + [blob for blob, _ in old.segments]
            objectId = old.id
            rows.updateObject(connection, objectId, values)
        rows.addToTotals(connection, bucket.name, 1 if old is None else 0,
                         size - oldSize + keptBytes)
        return rows.ObjectRow(id=objectId, bucket=bucket.name, key=key, **values), oldBlobs

    def _readObject(self, obj, start, length):
        """Bytes [start, start+length) of an object or version row (in the I/O pool)."""
        if inline.isInline(obj):
            return inline.objectBytes(obj, start, length)
        return self._read(self._pieces(obj.segments, start, length))

    def _read(self, pieces):
        """The bytes of blob ranges [(blob, offset, count)] (in the I/O pool)."""
        parts = []
        for blob, offset, count in pieces:
            fd = os.open(self.blobs.path(blob), os.O_RDONLY)
            try:
                data = os.pread(fd, count, offset)
            finally:
                os.close(fd)
            if len(data) != count:
                raise IOError("blob %s is shorter than recorded" % (blob,))
            parts.append(data)
        return b"".join(parts)

    @staticmethod
    def _pieces(segments, start, length):
        """Blob ranges covering [start, start+length) of an object."""
        pieces = []
        offset = 0
        end = start + length
        for blob, size in segments:
            segmentEnd = offset + size
            if segmentEnd > start and offset < end:
                first = max(start, offset)
                last = min(end, segmentEnd)
                pieces.append((blob, first - offset, last - first))
            offset = segmentEnd
        return pieces

    def _copyToTemp(self, source, start, length, algorithms):
        """(in the I/O pool) copy a range of ``source`` to a temp file, hashing."""
        digests = checksums.BodyDigests(False, algorithms)
        handle, tempPath = self.blobs.createTemp()
        try:
            if inline.isInline(source):
                data = inline.objectBytes(source, start, length)
                digests.update(data)
                handle.write(data)
            else:
                self.blobs.copyRanges(self._pieces(source.segments, start, length), handle,
                                      digests)
            self.blobs.finishTemp(handle)
        except BaseException:
            handle.close()
            self.blobs.discardTemp(tempPath)
            raise
        return tempPath, digests

    async def _copyData(self, sourceBucket, sourceKey, checkSource, start, length,
                        algorithms, conditions=None, sourceVersion=None):
        """
        Copy a range of a source object, or of one of its versions (retrying
        once if it is replaced while being read).  Returns (source bucket,
        source object, temp path, digests).
        """
        for attempt in (1, 2):
            if sourceVersion is None:
                bucket, source = await self.headObject(sourceBucket, sourceKey)
            else:
                bucket, source, _ = await self.lookupVersion(sourceBucket, sourceKey,
                                                             sourceVersion)
                if source.deleteMarker:
                    raise S3Error("InvalidRequest", "The source of a copy request may not "
                                  "specifically refer to a delete marker by version id.")
            checkSource(bucket, source)
            if conditions is not None:
                conditions(source)
            if length is None:
                rangeStart, rangeLength = 0, source.size
            else:
                rangeStart, rangeLength = start, length
                if rangeStart + rangeLength > source.size:
                    raise S3Error("InvalidRange")
            try:
                tempPath, digests = await self.runIo(
                    self._copyToTemp, source, rangeStart, rangeLength, algorithms)
                return bucket, source, tempPath, digests
            except FileNotFoundError:
                if attempt == 2:
                    raise S3Error("InternalError", "The source changed while being copied.")
