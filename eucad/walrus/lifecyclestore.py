"""The bucket store's lifecycle operations: a bucket's rules, and one expiration pass.

Configurations are rows of ``walrus_lifecycle`` (eucad.walrus.lifecyclemodels);
``expireBucket`` applies them (eucad.walrus.expiration) in one transaction
per bucket and removes the data it stopped naming after the commit, as
every other delete does.
"""

from sqlalchemy import select

from eucad.walrus import expiration
from eucad.walrus.errors import S3Error
from eucad.walrus.lifecyclemodels import LifecycleConfiguration
from eucad.walrus.lifecyclerules import Rule
from eucad.walrus.models import Bucket
from eucad.walrus.storebase import StoreBase


class LifecycleStore(StoreBase):
    """Lifecycle configurations and their application."""

    def setLifecycle(self, bucketName, rules, check):
        """Put (replace) a bucket's rules (Rule records)."""
        def update(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            row = session.get(LifecycleConfiguration, bucketName)
            if row is None:
                row = LifecycleConfiguration(bucket=bucketName)
                session.add(row)
            row.rules = [rule.toDict() for rule in rules]
            row.updated = self.clock()
        return self.database.run(update)

    def getLifecycle(self, bucketName, check):
        """Deferred rules; NoSuchLifecycleConfiguration without any."""
        def query(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            row = session.get(LifecycleConfiguration, bucketName)
            if row is None:
                raise S3Error("NoSuchLifecycleConfiguration", BucketName=bucketName)
            return [Rule.fromDict(values) for values in row.rules]
        return self.database.run(query)

    def deleteLifecycle(self, bucketName, check):
        def remove(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            row = session.get(LifecycleConfiguration, bucketName)
            if row is not None:
                session.delete(row)
        return self.database.run(remove)

    def lifecycleBuckets(self):
        """Deferred [(bucket name, rules)] of every bucket with a configuration."""
        def query(session):
            return [(row.bucket, [Rule.fromDict(values) for values in row.rules])
                    for row in session.scalars(select(LifecycleConfiguration)
                                               .order_by(LifecycleConfiguration.bucket))]
        return self.database.run(query)

    async def expireBucket(self, bucketName, rules, now, limit=expiration.PASS_LIMIT):
        """One expiration pass over a bucket at ``now``; counts by action."""
        def expire(session):
            bucket = session.get(Bucket, bucketName)
            if bucket is None:
                return {}, []
            return expiration.expireBucket(session.connection(), bucket, rules, now, limit)
        counts, garbage = await self.database.run(expire)
        self._removeLater(garbage)
        return dict(counts)
