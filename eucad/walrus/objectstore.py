"""The bucket store's object operations: put, look up, read, delete, copy, ACL."""

from twisted.internet import defer

from eucad.walrus import inline, rows
from eucad.walrus.errors import S3Error
from eucad.walrus.storebase import StoreBase


class ObjectStore(StoreBase):
    """Objects: data made durable before the commit that names it."""

    def headObject(self, bucketName, key):
        """Deferred (bucket row, object row); NoSuchBucket / NoSuchKey."""
        def query(session):
            bucket = self._bucket(session, bucketName)
            obj = self._object(session, bucketName, key)
            if obj is None:
                raise S3Error("NoSuchKey", Key=key)
            return bucket, obj
        return self.database.read(query)

    def lookupObject(self, bucketName, key, readUpTo=0):
        """
        Deferred (bucket row, object row or None, data); NoSuchBucket.
        ``data`` is the whole object's bytes if it has at most ``readUpTo``
        of them, else None.

        Rows found earlier and unchanged since (eucad.walrus.objectcache)
        answer at once, with the bytes of an object kept in its row.
        Otherwise one job in the I/O pool does both the query (a read,
        which SQLite's WAL lets run beside the writer) and the small read,
        so a small GET costs one trip through a thread instead of two.
        """
        cached = self.objectCache.get(bucketName, key)
        if cached is not None:
            bucket, obj, data = cached
            if obj.size > readUpTo:
                return defer.succeed((bucket, obj, None))
            if data is not None:
                return defer.succeed((bucket, obj, data))
            return self.runIo(self._readObject, obj, 0, obj.size).addCallback(
                lambda data: (bucket, obj, data))
        snapshot = self.objectCache.snapshot(bucketName, key)

        def lookup():
            engine = self.database.open()  # waits for the schema upgrade at start
            if self._lookup is None or self._lookup.engine is not engine:
                self._lookup = rows.PreparedLookup(engine)
            bucket, obj = self._lookup(bucketName, key)
            if bucket is None:
                raise S3Error("NoSuchBucket", BucketName=bucketName)
            data = None
            if obj is not None and obj.size <= readUpTo:
                data = self._readObject(obj, 0, obj.size)
            return bucket, obj, data

        def keep(found):
            self.objectCache.put(snapshot, bucketName, key, *found)
            return found
        return self.runIo(lookup).addCallback(keep)

    def readRange(self, obj, start, length):
        """Deferred bytes [start, start+length) of ``obj`` (small reads)."""
        if inline.isInline(obj):
            return defer.succeed(inline.objectBytes(obj, start, length))
        return self.runIo(self._readObject, obj, start, length)

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
                        check, sums, condition=None, tags=None):
        """
        Store a spooled body as ``key``.  ``makeAcl(bucket)`` gives the new
        object's ACL; ``sums`` the flexible checksums to keep; ``tags`` its
        tag set.  A small body goes into the row (eucad.walrus.inline), a
        larger one into a blob made durable before the commit.  The row
        committed is left in the object cache, so the next GET of the key
        needs no lookup (eucad.walrus.objectcache).
        """
        if inline.keepsInline(spooled):
            blob, data, segments = None, spooled.data, []
        else:
            blob = await self._install(spooled)
            data, segments = None, [[blob, spooled.size]]
        etag = spooled.md5Hex

        def commit(connection):
            bucket, old = rows.bucketAndObject(connection, bucketName, key)
            if bucket is None:
                raise S3Error("NoSuchBucket", BucketName=bucketName)
            check(bucket)
            obj, oldBlobs = self._replaceObject(connection, bucket, key, owner, spooled.size,
                                                etag, headers, meta, makeAcl(bucket), sums,
                                                segments, old, condition, tags, data)
            return obj, oldBlobs, bucket
        try:
            obj, oldBlobs, _ = await self.commits.submit(commit, bucketName, key, _written)
        except BaseException:
            if blob is not None:
                self._removeLater([blob])
            raise
        self._removeLater(oldBlobs)
        return obj

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

    async def copyObject(self, owner, sourceBucket, sourceKey, checkSource, conditions,
                         bucketName, key, attributes, makeAcl, check, algorithms,
                         tagsOf=None, sourceVersion=None):
        """
        CopyObject (of ``sourceVersion`` if given, else the current version).
        ``attributes(source)`` returns (headers, meta) for the copy (COPY or
        REPLACE is the caller's choice), ``tagsOf(source)`` its tag set.
        Returns (the new object, the source).
        """
        _, source, tempPath, digests = await self._copyData(
            sourceBucket, sourceKey, checkSource, None, None, algorithms, conditions,
            sourceVersion)
        try:
            blob = await self.runIo(self.blobs.install, tempPath)
        except BaseException:
            self.runIo(self.blobs.discardTemp, tempPath)
            raise
        headers, meta = attributes(source)
        tags = tagsOf(source) if tagsOf is not None else None
        sums = digests.checksumsBase64()

        def commit(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            return self._replaceObject(session.connection(), bucket, key, owner, digests.size,
                                       digests.md5Hex(), headers, meta, makeAcl(bucket),
                                       sums, [[blob, digests.size]], tags=tags)
        try:
            obj, oldBlobs = await self.database.run(commit)
        except BaseException:
            self._removeLater([blob])
            raise
        self._removeLater(oldBlobs)
        return obj, source


def _written(committed):
    """(bucket row, object row) a PUT's commit left as its key's current row."""
    obj, _, bucket = committed
    return bucket, obj
