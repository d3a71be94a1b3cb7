"""The bucket store's configuration documents and object tag sets.

A bucket's tagging, CORS rules and policy are rows of
``walrus_bucket_configs`` (one per bucket and kind); an object's tag set is
a column of its own row, so it is replaced with the object and copied with
it.  Each operation is one transaction, its permission check run inside it
as elsewhere in the store.
"""

from sqlalchemy import bindparam, delete, select, update

from eucad.walrus import rows, versioning
from eucad.walrus.errors import S3Error
from eucad.walrus.models import BucketConfig, StoredObject
from eucad.walrus.rows import OBJECTS
from eucad.walrus.storebase import StoreBase
from eucad.walrus.versioning import VERSIONS


#: Only what s3:ExistingObjectTag needs, on every request a tag policy decides.
CURRENT_TAGS = select(OBJECTS.c.versionId, OBJECTS.c.tags).where(
    OBJECTS.c.bucket == bindparam("bucket"), OBJECTS.c.key == bindparam("key"))
VERSION_TAGS = select(VERSIONS.c.tags).where(
    VERSIONS.c.bucket == bindparam("bucket"), VERSIONS.c.key == bindparam("key"),
    VERSIONS.c.versionId == bindparam("versionId"))


class ConfigStore(StoreBase):
    """Bucket configurations and object tags."""

    def getBucketConfig(self, bucketName, kind, check=None):
        """Deferred document text of ``kind`` for the bucket, or None; NoSuchBucket."""
        def query(session):
            bucket = self._bucket(session, bucketName)
            if check is not None:
                check(bucket)
            row = session.get(BucketConfig, (bucketName, kind))
            return row.document if row is not None else None
        return self.database.read(query)

    def findBucketConfigs(self, bucketName, kinds):
        """
        Deferred (BucketRow or None, {kind: document}): the bucket's row and
        its documents of ``kinds`` (none without the bucket).
        """
        def query(session):
            connection = session.connection()
            bucket = connection.execute(rows.BUCKET_ROW, {"bucket": bucketName}).first()
            if bucket is None:
                return None, {}
            found = connection.execute(select(BucketConfig.kind, BucketConfig.document).where(
                BucketConfig.bucket == bucketName, BucketConfig.kind.in_(kinds)))
            return rows.BucketRow(**bucket._mapping), dict(found.all())
        return self.database.read(query)

    def putBucketConfig(self, bucketName, kind, document, check):
        """Store (or replace) the bucket's ``kind`` document."""
        def store(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            row = session.get(BucketConfig, (bucketName, kind))
            if row is None:
                session.add(BucketConfig(bucket=bucketName, kind=kind, document=document))
            else:
                row.document = document
        return self.database.run(store)

    def deleteBucketConfig(self, bucketName, kind, check):
        """Remove the bucket's ``kind`` document (no error when it has none)."""
        def remove(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            session.execute(delete(BucketConfig).where(BucketConfig.bucket == bucketName,
                                                       BucketConfig.kind == kind))
        return self.database.run(remove)

    def setObjectTags(self, bucketName, key, check, tags):
        """
        Replace the tag set of ``key`` (None or {} removes it).  Deferred
        version id of the current version it changed.
        """
        def store(session):
            bucket = self._bucket(session, bucketName)
            obj = self._object(session, bucketName, key)
            if obj is None:
                raise S3Error("NoSuchKey", Key=key)
            check(bucket, obj)
            session.execute(update(StoredObject).where(StoredObject.id == obj.id)
                            .values(tags=tags or None))
            return obj.versionId
        return self.database.run(store)

    def existingTags(self, bucketName, key, versionId=None):
        """
        Deferred tag set of ``key``'s current version, or of the version
        ``versionId`` names; None when there is none (a bucket policy's
        s3:ExistingObjectTag, eucad.walrus.existingtags).
        """
        def query(session):
            connection = session.connection()
            current = connection.execute(CURRENT_TAGS, {"bucket": bucketName,
                                                        "key": key}).first()
            if versionId is None or (current is not None and current.versionId == versionId):
                return current.tags if current is not None else None
            return connection.execute(VERSION_TAGS, {"bucket": bucketName, "key": key,
                                                     "versionId": versionId}).scalar()
        return self.database.read(query)

    def setVersionTags(self, bucketName, key, versionId, check, tags):
        """
        Replace the tag set of one version of ``key`` by its id, current or
        noncurrent (None or {} removes it): NoSuchVersion for an id the key
        never had, MethodNotAllowed for a delete marker (it has no tags).
        """
        versioning.checkVersionId(versionId)

        def store(session):
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
            connection.execute(update(table).where(table.c.id == target.id)
                               .values(tags=tags or None))
        return self.database.run(store)
