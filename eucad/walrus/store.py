"""The bucket store: every Walrus operation on metadata and blobs, as Deferreds.

The resource tree decides *what* a request asks; ``WalrusStore`` does it:
each operation is one database transaction (run by ``Database.run`` in its
thread pool) plus blob file work in the I/O pool.  Data is always made
durable before the transaction that names it commits, and blobs a commit
stops naming are removed after it (``eucad.walrus.blobs`` explains why that
order is crash-safe).

Permission checks are passed in as ``check(bucketRow)`` callables and run
inside the transaction, so the decision and the write see the same rows.
Configured limits (buckets per user, bytes per bucket) are enforced here.
"""

import os
import secrets
import time

from sqlalchemy import delete, func, select

from eucad.walrus import checksums, rows
from eucad.walrus.errors import S3Error
from eucad.walrus.groupcommit import GroupCommit
from eucad.walrus.models import Bucket, Part, StoredObject, Upload
from eucad.walrus.rows import OBJECTS

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10000
LIST_BATCH = 1000


class Limits:
    """Per-user bucket count and per-bucket size (0 means unlimited)."""

    def __init__(self, maxBucketsPerUser=0, maxBucketBytes=0):
        self.maxBucketsPerUser = maxBucketsPerUser
        self.maxBucketBytes = maxBucketBytes


class Listing:
    """One page of a listing: rows, common prefixes, and where to go on."""

    def __init__(self):
        self.entries = []
        self.commonPrefixes = []
        self.truncated = False
        self.lastReturned = None


def prefixEnd(prefix):
    """The smallest string greater than every string starting with ``prefix``."""
    for index in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[index])
        if code < 0x10FFFF:
            return prefix[:index] + chr(code + 1)
    return None


def listSorted(fetch, prefix, delimiter, after, maxKeys, keyOf):
    """
    Walk keys in order from ``fetch(lowerBound, inclusive, limit)`` (rows
    sorted by key, all starting with ``prefix``), rolling keys up into
    common prefixes at ``delimiter``, skipping everything up to ``after``.
    """
    listing = Listing()
    if maxKeys <= 0:
        return listing
    lower, inclusive = (after, False) if after and after >= prefix else (prefix, True)
    count = 0
    while True:
        limit = min(maxKeys - count + 1, LIST_BATCH)
        rows = fetch(lower, inclusive, limit)
        if not rows:
            return listing
        jumped = False
        for row in rows:
            key = keyOf(row)
            if after and key <= after:
                lower, inclusive = key, False
                continue
            if count >= maxKeys:
                listing.truncated = True
                return listing
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[:cut + len(delimiter)]
                    end = prefixEnd(common)
                    if not (after and common <= after):
                        listing.commonPrefixes.append(common)
                        listing.lastReturned = common
                        count += 1
                    if end is None:
                        return listing
                    lower, inclusive, jumped = end, True, True
                    break
            listing.entries.append(row)
            listing.lastReturned = key
            count += 1
            lower, inclusive = key, False
        if not jumped and len(rows) < limit:
            return listing


class WalrusStore:
    """
    ``database`` is an ``eucad.common.db.Database`` (``run`` and
    ``transact``); ``blobs`` a BlobDirectory; ``runIo(fn, *args)`` runs
    blocking file work and returns a Deferred.
    """

    def __init__(self, database, blobs, runIo, limits=None, clock=time.time):
        self.database = database
        self.blobs = blobs
        self.runIo = runIo
        self.limits = limits or Limits()
        self.clock = clock
        self.commits = GroupCommit(database)
        self._lookup = None

    # -- start-up ---------------------------------------------------------
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
            return found
        return self.database.transact(query)

    # -- helpers ------------------------------------------------------------
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
                       sums, segments, old=None):
        """
        Insert or update the row for ``key`` with plain statements, and count
        it in the bucket's totals; returns (ObjectRow, the blobs of the old
        version).  ``old`` is the current row if the caller already read it.
        The totals change by SQL arithmetic, so ``bucket`` may be a row read
        earlier in the transaction.  ``connection`` is the transaction's
        (``session.connection()`` inside ``Database.run``).  It raises
        S3Error only before writing anything (see eucad.walrus.groupcommit).
        """
        if old is None:
            old = connection.execute(rows.OLD_OBJECT, {"bucket": bucket.name, "key": key}).first()
        oldSize = old.size if old is not None else 0
        self._checkBucketSize(bucket, size - oldSize)
        values = dict(owner=owner, size=size, etag=etag, modified=self.clock(),
                      headers=headers, meta=meta, acl=acl, checksums=sums, segments=segments)
        if old is None:
            oldBlobs = []
            objectId = rows.insertObject(connection, bucket.name, key, values)
        else:
            oldBlobs = [blob for blob, _ in old.segments]
            objectId = old.id
            rows.updateObject(connection, objectId, values)
        rows.addToTotals(connection, bucket.name, 1 if old is None else 0, size - oldSize)
        return rows.ObjectRow(id=objectId, bucket=bucket.name, key=key, **values), oldBlobs

    # -- buckets ----------------------------------------------------------
    def listBuckets(self, owner):
        def query(session):
            statement = select(Bucket).order_by(Bucket.name)
            if owner is not None:
                statement = statement.where(Bucket.owner == owner)
            return list(session.scalars(statement))
        return self.database.run(query)

    def getBucket(self, name):
        return self.database.run(self._bucket, name)

    def bucketExists(self, name):
        return self.database.run(lambda session: session.get(Bucket, name) is not None)

    def createBucket(self, owner, name, location, acl):
        def create(session):
            existing = session.get(Bucket, name)
            if existing is not None:
                if existing.owner == owner:
                    raise S3Error("BucketAlreadyOwnedByYou", BucketName=name)
                raise S3Error("BucketAlreadyExists", BucketName=name)
            limit = self.limits.maxBucketsPerUser
            if limit:
                count = session.scalar(select(func.count()).select_from(Bucket).where(
                    Bucket.owner == owner))
                if count >= limit:
                    raise S3Error("TooManyBuckets", BucketName=name)
            bucket = Bucket(name=name, owner=owner, created=self.clock(),
                            location=location or "", acl=acl, objectCount=0, bytesUsed=0)
            session.add(bucket)
            session.flush()
            return bucket
        return self.database.run(create)

    async def deleteBucket(self, name, check):
        def remove(session):
            bucket = self._bucket(session, name)
            check(bucket)
            if session.scalars(select(StoredObject.id).where(
                    StoredObject.bucket == name).limit(1)).first() is not None:
                raise S3Error("BucketNotEmpty", BucketName=name)
            uploads = list(session.scalars(select(Upload.uploadId).where(Upload.bucket == name)))
            blobs = []
            if uploads:
                blobs = list(session.scalars(select(Part.blob).where(Part.uploadId.in_(uploads))))
                session.execute(delete(Part).where(Part.uploadId.in_(uploads)))
                session.execute(delete(Upload).where(Upload.bucket == name))
            session.delete(bucket)
            return blobs
        blobs = await self.database.run(remove)
        self._removeLater(blobs)

    def setBucketAcl(self, name, check, makeAcl):
        """``makeAcl(bucket)`` builds the new ACL inside the transaction."""
        def update(session):
            bucket = self._bucket(session, name)
            check(bucket)
            bucket.acl = makeAcl(bucket)
            return bucket
        return self.database.run(update)

    # -- objects ----------------------------------------------------------
    def headObject(self, bucketName, key):
        """Deferred (bucket row, object row); NoSuchBucket / NoSuchKey."""
        def query(session):
            bucket = self._bucket(session, bucketName)
            obj = self._object(session, bucketName, key)
            if obj is None:
                raise S3Error("NoSuchKey", Key=key)
            return bucket, obj
        return self.database.run(query)

    def lookupObject(self, bucketName, key, readUpTo=0):
        """
        Deferred (bucket row, object row or None, data); NoSuchBucket.
        ``data`` is the whole object's bytes if it has at most ``readUpTo``
        of them, else None.

        One job in the I/O pool does both the query (a read, which SQLite's
        WAL lets run beside the writer) and the small read, so a small GET
        costs one trip through a thread instead of two.
        """
        def lookup():
            if self._lookup is None or self._lookup.engine is not self.database.engine:
                self._lookup = rows.PreparedLookup(self.database.engine)
            bucket, obj = self._lookup(bucketName, key)
            if bucket is None:
                raise S3Error("NoSuchBucket", BucketName=bucketName)
            data = None
            if obj is not None and obj.size <= readUpTo:
                data = self._read(self._pieces(obj.segments, 0, obj.size))
            return bucket, obj, data
        return self.runIo(lookup)

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

    def readRange(self, obj, start, length):
        """Deferred bytes [start, start+length) of ``obj`` (small reads)."""
        return self.runIo(self._read, self._pieces(obj.segments, start, length))

    def openSegments(self, obj):
        """Open every blob of ``obj`` (in the I/O pool): list of files."""
        def openAll():
            handles = []
            try:
                for blob, _size in obj.segments:
                    handles.append(self.blobs.open(blob))
            except BaseException:
                for handle in handles:
                    handle.close()
                raise
            return handles
        return self.runIo(openAll)

    async def putObject(self, owner, bucketName, key, spooled, headers, meta, makeAcl,
                        check, sums):
        """
        Store a spooled body as ``key``.  ``makeAcl(bucket)`` gives the new
        object's ACL; ``sums`` the flexible checksums to keep.
        """
        blob = await self._install(spooled)
        etag = spooled.md5Hex

        def commit(connection):
            bucket, old = rows.bucketAndObject(connection, bucketName, key)
            if bucket is None:
                raise S3Error("NoSuchBucket", BucketName=bucketName)
            check(bucket)
            return self._replaceObject(connection, bucket, key, owner, spooled.size, etag,
                                       headers, meta, makeAcl(bucket), sums,
                                       [[blob, spooled.size]], old)
        try:
            obj, oldBlobs = await self.commits.submit(commit)
        except BaseException:
            self._removeLater([blob])
            raise
        self._removeLater(oldBlobs)
        return obj

    async def deleteObject(self, bucketName, key, check):
        def remove(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            obj = self._object(session, bucketName, key)
            if obj is None:
                return []
            bucket.objectCount -= 1
            bucket.bytesUsed -= obj.size
            session.delete(obj)
            return [blob for blob, _ in obj.segments]
        self._removeLater(await self.database.run(remove))

    async def deleteObjects(self, bucketName, keys, check):
        """Delete many keys in one transaction; returns the keys deleted."""
        def remove(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            blobs = []
            for key in keys:
                obj = self._object(session, bucketName, key)
                if obj is not None:
                    bucket.objectCount -= 1
                    bucket.bytesUsed -= obj.size
                    blobs.extend(blob for blob, _ in obj.segments)
                    session.delete(obj)
            return blobs
        self._removeLater(await self.database.run(remove))
        return list(keys)

    def setObjectAcl(self, bucketName, key, check, makeAcl):
        def update(session):
            bucket = self._bucket(session, bucketName)
            obj = self._object(session, bucketName, key)
            if obj is None:
                raise S3Error("NoSuchKey", Key=key)
            check(bucket, obj)
            obj.acl = makeAcl(bucket, obj)
            return obj
        return self.database.run(update)

    def _copyToTemp(self, pieces, algorithms):
        """(in the I/O pool) copy blob ranges to a temp file, hashing."""
        digests = checksums.BodyDigests(False, algorithms)
        handle, tempPath = self.blobs.createTemp()
        try:
            self.blobs.copyRanges(pieces, handle, digests)
            self.blobs.finishTemp(handle)
        except BaseException:
            handle.close()
            self.blobs.discardTemp(tempPath)
            raise
        return tempPath, digests

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

    async def _copyData(self, sourceBucket, sourceKey, checkSource, start, length,
                        algorithms, conditions=None):
        """
        Copy a range of a source object (retrying once if it is replaced
        while being read).  Returns (source bucket, source object, temp path,
        digests).
        """
        for attempt in (1, 2):
            bucket, source = await self.headObject(sourceBucket, sourceKey)
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
                    self._copyToTemp, self._pieces(source.segments, rangeStart, rangeLength),
                    algorithms)
                return bucket, source, tempPath, digests
            except FileNotFoundError:
                if attempt == 2:
                    raise S3Error("InternalError", "The source changed while being copied.")

    async def copyObject(self, owner, sourceBucket, sourceKey, checkSource, conditions,
                         bucketName, key, attributes, makeAcl, check, algorithms):
        """
        CopyObject.  ``attributes(source)`` returns (headers, meta) for the
        copy (COPY or REPLACE is the caller's choice).
        """
        _, source, tempPath, digests = await self._copyData(
            sourceBucket, sourceKey, checkSource, None, None, algorithms, conditions)
        try:
            blob = await self.runIo(self.blobs.install, tempPath)
        except BaseException:
            self.runIo(self.blobs.discardTemp, tempPath)
            raise
        headers, meta = attributes(source)
        sums = digests.checksumsBase64()

        def commit(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            return self._replaceObject(session.connection(), bucket, key, owner, digests.size,
                                       digests.md5Hex(), headers, meta, makeAcl(bucket),
                                       sums, [[blob, digests.size]])
        try:
            obj, oldBlobs = await self.database.run(commit)
        except BaseException:
            self._removeLater([blob])
            raise
        self._removeLater(oldBlobs)
        return obj

    def listObjects(self, bucketName, prefix, delimiter, after, maxKeys, check):
        def query(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            upper = prefixEnd(prefix) if prefix else None

            connection = session.connection()

            def fetch(lower, inclusive, limit):
                statement = select(*rows.LISTED_COLUMNS).where(OBJECTS.c.bucket == bucketName)
                statement = statement.where(OBJECTS.c.key >= lower if inclusive
                                            else OBJECTS.c.key > lower)
                if upper is not None:
                    statement = statement.where(OBJECTS.c.key < upper)
                found = connection.execute(statement.order_by(OBJECTS.c.key).limit(limit)).all()
                return [r for r in found if r.key.startswith(prefix)] if prefix else found
            return bucket, listSorted(fetch, prefix, delimiter, after, maxKeys,
                                      lambda row: row.key)
        return self.database.run(query)

    # -- multipart uploads ------------------------------------------------
    def createUpload(self, owner, bucketName, key, headers, meta, makeAcl, check, algorithm):
        def create(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            upload = Upload(uploadId=secrets.token_urlsafe(24), bucket=bucketName, key=key,
                            owner=owner, initiated=self.clock(), headers=headers, meta=meta,
                            acl=makeAcl(bucket), checksumAlgorithm=algorithm or "")
            session.add(upload)
            session.flush()
            return upload
        return self.database.run(create)

    @staticmethod
    def _upload(session, uploadId, bucketName, key):
        upload = session.get(Upload, uploadId)
        if upload is None or upload.bucket != bucketName or upload.key != key:
            raise S3Error("NoSuchUpload", UploadId=uploadId)
        return upload

    def getUpload(self, uploadId, bucketName, key):
        def query(session):
            bucket = self._bucket(session, bucketName)
            return bucket, self._upload(session, uploadId, bucketName, key)
        return self.database.run(query)

    async def _commitPart(self, uploadId, bucketName, key, number, blob, size, etag, sums,
                          check):
        def commit(session):
            bucket = self._bucket(session, bucketName)
            upload = self._upload(session, uploadId, bucketName, key)
            check(bucket, upload)
            old = session.get(Part, (uploadId, number))
            oldBlobs = []
            if old is not None:
                oldBlobs.append(old.blob)
                session.delete(old)
                session.flush()
            part = Part(uploadId=uploadId, number=number, blob=blob, size=size, etag=etag,
                        modified=self.clock(), checksums=sums)
            session.add(part)
            session.flush()
            return part, oldBlobs
        try:
            part, oldBlobs = await self.database.run(commit)
        except BaseException:
            self._removeLater([blob])
            raise
        self._removeLater(oldBlobs)
        return part

    async def putPart(self, uploadId, bucketName, key, number, spooled, sums, check):
        blob = await self._install(spooled)
        return await self._commitPart(uploadId, bucketName, key, number, blob, spooled.size,
                                      spooled.md5Hex, sums, check)

    async def copyPart(self, uploadId, bucketName, key, number, sourceBucket, sourceKey,
                       checkSource, conditions, start, length, check, algorithms):
        await self.getUpload(uploadId, bucketName, key)
        _, source, tempPath, digests = await self._copyData(
            sourceBucket, sourceKey, checkSource, start, length, algorithms, conditions)
        try:
            blob = await self.runIo(self.blobs.install, tempPath)
        except BaseException:
            self.runIo(self.blobs.discardTemp, tempPath)
            raise
        part = await self._commitPart(uploadId, bucketName, key, number, blob, digests.size,
                                      digests.md5Hex(), digests.checksumsBase64(), check)
        return source, part

    def listParts(self, uploadId, bucketName, key, marker, maxParts, check):
        def query(session):
            bucket = self._bucket(session, bucketName)
            upload = self._upload(session, uploadId, bucketName, key)
            check(bucket, upload)
            parts = list(session.scalars(select(Part).where(
                Part.uploadId == uploadId, Part.number > marker).order_by(Part.number)
                .limit(maxParts + 1)))
            return upload, parts[:maxParts], len(parts) > maxParts
        return self.database.run(query)

    def listUploads(self, bucketName, prefix, delimiter, keyMarker, uploadIdMarker,
                    maxUploads, check):
        def query(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            statement = select(Upload).where(Upload.bucket == bucketName)
            if prefix:
                statement = statement.where(Upload.key >= prefix)
            rows = list(session.scalars(statement.order_by(Upload.key, Upload.initiated,
                                                           Upload.uploadId)))
            rows = [r for r in rows if r.key.startswith(prefix)]
            if keyMarker:
                if uploadIdMarker:
                    position = None
                    for index, row in enumerate(rows):
                        if row.key == keyMarker and row.uploadId == uploadIdMarker:
                            position = index
                    rows = (rows[position + 1:] if position is not None
                            else [r for r in rows if r.key > keyMarker])
                else:
                    rows = [r for r in rows if r.key > keyMarker]
            listing = Listing()
            seen = set()
            for row in rows:
                if len(listing.entries) + len(listing.commonPrefixes) >= maxUploads:
                    listing.truncated = True
                    break
                if delimiter:
                    cut = row.key.find(delimiter, len(prefix))
                    if cut >= 0:
                        common = row.key[:cut + len(delimiter)]
                        if common not in seen:
                            seen.add(common)
                            listing.commonPrefixes.append(common)
                        continue
                listing.entries.append(row)
            return listing
        return self.database.run(query)

    async def completeUpload(self, uploadId, bucketName, key, requested, check):
        """
        ``requested`` is [(part number, etag without quotes, {algorithm:
        checksum})] as the client listed them.  Returns the object row.
        """
        def complete(session):
            bucket = self._bucket(session, bucketName)
            upload = self._upload(session, uploadId, bucketName, key)
            check(bucket, upload)
            if not requested:
                raise S3Error("MalformedXML", "You must specify at least one part.")
            numbers = [number for number, _, _ in requested]
            if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
                raise S3Error("InvalidPartOrder")
            parts = {p.number: p for p in session.scalars(
                select(Part).where(Part.uploadId == uploadId))}
            chosen = []
            for index, (number, etag, sums) in enumerate(requested):
                part = parts.get(number)
                if part is None or part.etag != etag:
                    raise S3Error("InvalidPart", PartNumber=str(number), ETag=etag)
                for algorithm, value in sums.items():
                    if part.checksums.get(algorithm) not in (None, value):
                        raise S3Error("InvalidPart", PartNumber=str(number), ETag=etag)
                if index < len(requested) - 1 and part.size < MIN_PART_SIZE:
                    raise S3Error("EntityTooSmall", ProposedSize=str(part.size),
                                  MinSizeAllowed=str(MIN_PART_SIZE), PartNumber=str(number),
                                  ETag=etag)
                chosen.append(part)
            etagText = checksums.multipartEtag([p.etag for p in chosen])
            sums = {}
            algorithm = upload.checksumAlgorithm
            if algorithm and all(p.checksums.get(algorithm) for p in chosen):
                sums[algorithm] = checksums.compositeChecksum(
                    algorithm, [p.checksums[algorithm] for p in chosen])
            size = sum(p.size for p in chosen)
            usedBlobs = {p.blob for p in chosen}
            unused = [p.blob for p in parts.values() if p.blob not in usedBlobs]
            obj, oldBlobs = self._replaceObject(
                session.connection(), bucket, key, upload.owner, size, etagText, upload.headers,
                upload.meta, upload.acl, sums, [[p.blob, p.size] for p in chosen])
            session.execute(delete(Part).where(Part.uploadId == uploadId))
            session.delete(upload)
            return obj, oldBlobs + unused
        obj, garbage = await self.database.run(complete)
        self._removeLater(garbage)
        return obj

    async def abortUpload(self, uploadId, bucketName, key, check):
        def abort(session):
            bucket = self._bucket(session, bucketName)
            upload = self._upload(session, uploadId, bucketName, key)
            check(bucket, upload)
            blobs = list(session.scalars(select(Part.blob).where(Part.uploadId == uploadId)))
            session.execute(delete(Part).where(Part.uploadId == uploadId))
            session.delete(upload)
            return blobs
        self._removeLater(await self.database.run(abort))
