"""The bucket configurations every request consults, kept in memory for a moment.

The bucket policy is evaluated on every request and the CORS rules on every
request from a browser, so both are read together with the bucket's row
(one transaction) and kept, parsed, for ``ttl`` seconds (default 2, as the
user lookups in eucad.walrus.users).  A change made through this Walrus is
seen at once (``forget``); one made through another Walrus process on the
same database within ``ttl`` seconds.  A bucket that does not exist is not
kept, so one created elsewhere is found at once.

The row serves admission (eucad.walrus.admission), which decides from it
whether to take a body; the write itself checks the bucket's current row
again in its own transaction, so a stale row can at worst let a body be
stored that the commit then refuses.
"""

import time

from twisted.internet import defer

from eucad.walrus import cors, policy

MAX_CACHED = 10000
KINDS = ("policy", "cors")


class BucketConfigs:
    """
    A bucket's row (None if it does not exist) and what it is configured
    with: ``policy`` (a Policy) and ``cors`` (rules), or None.
    """

    __slots__ = ("bucket", "policy", "cors")

    def __init__(self, bucket=None, policy=None, cors=None):
        self.bucket = bucket
        self.policy = policy
        self.cors = cors


NONE = BucketConfigs()


class BucketConfigCache:
    def __init__(self, store, ttl=2.0, clock=time.monotonic):
        self.store = store
        self.ttl = ttl
        self.clock = clock
        self.cache = {}
        self.existence = {}

    def get(self, bucketName):
        """Deferred BucketConfigs of ``bucketName`` (empty for a bucket that does not exist)."""
        now = self.clock()
        cached = self.cache.get(bucketName)
        if cached is not None and cached[1] > now:
            return defer.succeed(cached[0])
        d = self.store.findBucketConfigs(bucketName, KINDS)

        def parsed(found):
            bucket, documents = found
            if bucket is None:
                return NONE
            configs = BucketConfigs(
                bucket,
                policy.Policy.parse(documents["policy"], bucketName)
                if "policy" in documents else None,
                cors.loadRules(documents["cors"]) if "cors" in documents else None)
            if self.ttl > 0:
                if len(self.cache) >= MAX_CACHED:
                    self.cache.clear()
                self.cache[bucketName] = (configs, now + self.ttl)
            return configs
        return d.addCallback(parsed)

    def exists(self, bucketName):
        """
        Deferred bool: whether the bucket exists, kept ``ttl`` seconds either
        way.  A CNAME-style Host is looked up on every request (eucad.walrus.
        service), and most such Hosts are the server's own names, not
        buckets: that lookup was a database trip per request.
        """
        now = self.clock()
        known = self.existence.get(bucketName)
        if known is not None and known[1] > now:
            return defer.succeed(known[0])

        def remember(found):
            if self.ttl > 0:
                if len(self.existence) >= MAX_CACHED:
                    self.existence.clear()
                self.existence[bucketName] = (found, now + self.ttl)
            return found
        return self.store.bucketExists(bucketName).addCallback(remember)

    def forget(self, bucketName):
        """Drop what is kept of ``bucketName`` (it was changed, made or deleted here)."""
        self.cache.pop(bucketName, None)
        self.existence.pop(bucketName, None)
