"""The bucket store's bucket operations: create, delete, ACL, list buckets and keys."""

from sqlalchemy import delete, func, select
from twisted.internet import defer

from eucad.walrus import rows, versioning
from eucad.walrus.errors import S3Error
from eucad.walrus.listing import listSorted, prefixEnd
from eucad.walrus.models import Bucket, Part, StoredObject, Upload
from eucad.walrus.rows import OBJECTS
from eucad.walrus.storebase import StoreBase


class BucketStore(StoreBase):
    """Buckets: each operation one transaction."""

    def listBuckets(self, owner):
        def query(session):
            statement = select(Bucket).order_by(Bucket.name)
            if owner is not None:
                statement = statement.where(Bucket.owner == owner)
            return list(session.scalars(statement))
        return self.database.read(query)

    def getBucket(self, name):
        return self.database.read(self._bucket, name)

    def bucketExists(self, name):
        return self.database.read(lambda session: session.get(Bucket, name) is not None)

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
                    StoredObject.bucket == name).limit(1)).first() is not None \
                    or versioning.hasVersions(session.connection(), name):
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

    def listObjects(self, bucketName, prefix, delimiter, after, maxKeys, check):
        """
        Deferred (bucket row, Listing) of one page of ``bucketName``'s keys;
        the listing's entries are tuples (key, size, etag, modified, owner).
        A page found earlier and unchanged since (eucad.walrus.listingcache)
        answers at once, once ``check`` has passed its bucket row.
        """
        page = (bucketName, prefix, delimiter, after, maxKeys)
        kept = self.listingCache.get(page)
        if kept is not None:
            try:
                check(kept[0])
            except Exception:
                return defer.fail()
            return defer.succeed(kept)
        snapshot = self.listingCache.snapshot(bucketName)

        def keep(found):
            self.listingCache.put(snapshot, page, *found)
            return found

        def query(session):
            connection = session.connection()
            bucket = connection.execute(rows.BUCKET_ROW, {"bucket": bucketName}).first()
            if bucket is None:
                raise S3Error("NoSuchBucket", BucketName=bucketName)
            bucket = rows.BucketRow(**bucket._mapping)
            check(bucket)
            upper = prefixEnd(prefix) if prefix else None
            if self._listing is None or self._listing[0] is not connection.dialect:
                self._listing = (connection.dialect, rows.PreparedListing(connection.dialect))
            prepared = self._listing[1]

            def fetch(lower, inclusive, limit):
                found = prepared.fetch(connection, bucketName, lower, inclusive, upper, limit)
                return [r for r in found if r[0].startswith(prefix)] if prefix else found
            return bucket, listSorted(fetch, prefix, delimiter, after, maxKeys, _keyOf)
        return self.database.read(query).addCallback(keep)


def _keyOf(row):
    return row[0]
