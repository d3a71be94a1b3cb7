"""The bucket configurations every request consults, kept in memory for a moment.

The bucket policy is evaluated on every request and the CORS rules on every
request from a browser, so both are read together (one query) and kept,
parsed, for ``ttl`` seconds (default 2, as the user lookups in
eucad.walrus.users).  A change made through this Walrus is seen at once
(``forget``); one made through another Walrus process on the same
database within ``ttl`` seconds.
"""

import time

from twisted.internet import defer

from eucad.walrus import cors, policy

MAX_CACHED = 10000
KINDS = ("policy", "cors")


class BucketConfigs:
    """What a bucket is configured with: ``policy`` (a Policy) and ``cors`` (rules), or None."""

    __slots__ = ("policy", "cors")

    def __init__(self, policy=None, cors=None):
        self.policy = policy
        self.cors = cors


NONE = BucketConfigs()


class BucketConfigCache:
    def __init__(self, store, ttl=2.0, clock=time.monotonic):
        self.store = store
        self.ttl = ttl
        self.clock = clock
        self.cache = {}

    def get(self, bucketName):
        """Deferred BucketConfigs of ``bucketName`` (empty for a bucket that does not exist)."""
        now = self.clock()
        cached = self.cache.get(bucketName)
        if cached is not None and cached[1] > now:
            return defer.succeed(cached[0])
        d = self.store.findBucketConfigs(bucketName, KINDS)

        def parsed(documents):
            if not documents:
                configs = NONE
            else:
                configs = BucketConfigs(
                    policy.Policy.parse(documents["policy"], bucketName)
                    if "policy" in documents else None,
                    cors.loadRules(documents["cors"]) if "cors" in documents else None)
            if self.ttl > 0:
                if len(self.cache) >= MAX_CACHED:
                    self.cache.clear()
                self.cache[bucketName] = (configs, now + self.ttl)
            return configs
        return d.addCallback(parsed)

    def forget(self, bucketName):
        self.cache.pop(bucketName, None)
