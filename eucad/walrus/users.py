"""The CLC's users as Walrus sees them: looked up, never created here.

Walrus shares the database with the CLC (``eucad.common.accounts``); this
is the small read-only view the authenticator and ACL handling need, with
each query run in the database's thread pool.
"""

from sqlalchemy import select

from eucad.common import accounts


class UserDirectory:
    def __init__(self, database):
        self.database = database

    def byAccessKey(self, accessKey):
        """Deferred enabled User owning ``accessKey``, or None."""
        return self.database.run(accounts.findByAccessKey, accessKey)

    def existing(self, names):
        """Deferred set of those ``names`` that are users."""
        names = list(names)

        def query(session):
            if not names:
                return set()
            return set(session.scalars(select(accounts.User.name).where(
                accounts.User.name.in_(names))))
        return self.database.run(query)
