"""The CLC's users as Walrus sees them: looked up, never created here.

Walrus shares the database with the CLC (``eucad.common.accounts``); this
is the small read-only view the authenticator and ACL handling need, with
each query run in the database's thread pool.

Every signed request needs its user, so a lookup by access key is kept for
``ttl`` seconds (default 2): a user disabled or re-keyed on the CLC stops
working within that time, and a busy Walrus saves one database round trip
per request.
"""

import time

from sqlalchemy import select
from twisted.internet import defer

from eucad.common import accounts

MAX_CACHED = 10000


class UserDirectory:
    def __init__(self, database, ttl=2.0, clock=time.monotonic):
        self.database = database
        self.ttl = ttl
        self.clock = clock
        self.cache = {}

    def byAccessKey(self, accessKey):
        """Deferred enabled User owning ``accessKey``, or None."""
        now = self.clock()
        cached = self.cache.get(accessKey)
        if cached is not None and cached[1] > now:
            return defer.succeed(cached[0])
        d = self.database.run(accounts.findByAccessKey, accessKey)

        def remember(user):
            if user is not None and self.ttl > 0:
                if len(self.cache) >= MAX_CACHED:
                    self.cache.clear()
                self.cache[accessKey] = (user, now + self.ttl)
            else:
                self.cache.pop(accessKey, None)
            return user
        return d.addCallback(remember)

    def existing(self, names):
        """Deferred set of those ``names`` that are users."""
        names = list(names)

        def query(session):
            if not names:
                return set()
            return set(session.scalars(select(accounts.User.name).where(
                accounts.User.name.in_(names))))
        return self.database.run(query)
