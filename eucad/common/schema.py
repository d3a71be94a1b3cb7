"""Bringing a database to the models' schema with the Alembic revisions.

Every process that opens the database (the CLC, Walrus, ``euca_conf``,
``eucad-register-image``) calls ``upgrade`` first, in a thread that is not
the reactor's: an empty database gets every table, an older one its missing
revisions, a current one nothing.  Two processes starting at once do not
both migrate: the upgrade holds a lock (a file lock beside a SQLite file, an
advisory lock on PostgreSQL) while it runs.

``python -m eucad.common.schema revision "message"`` writes a new revision
from the difference between the models and a database upgraded to head.
"""

import fcntl
import os
import sys
import tempfile
from contextlib import contextmanager

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from eucad import migrations

#: The advisory lock key the upgrade holds on PostgreSQL ("eucad" in ASCII).
_PG_LOCK_KEY = 0x6575636164


def modelMetadata():
    """``Base.metadata`` with every eucad table declared on it."""
    import eucad.clc.addressstore  # noqa: F401
    import eucad.clc.clienttokens  # noqa: F401
    import eucad.clc.groupstore  # noqa: F401
    import eucad.clc.keypairstore  # noqa: F401
    import eucad.clc.models  # noqa: F401
    import eucad.clc.tagstore  # noqa: F401
    import eucad.clc.vmtypes  # noqa: F401
    import eucad.clc.web.models  # noqa: F401
    import eucad.common.accounts  # noqa: F401
    import eucad.common.cloudsettings  # noqa: F401
    import eucad.walrus.models  # noqa: F401
    import eucad.walrus.versionmodels  # noqa: F401
    import eucad.walrus.lifecyclemodels  # noqa: F401
    from eucad.common.db import Base
    return Base.metadata


def alembicConfig(connection=None):
    """An Alembic configuration for ``eucad/migrations`` (no ini file)."""
    config = Config()
    config.set_main_option("script_location", os.path.dirname(migrations.__file__))
    config.attributes["connection"] = connection
    return config


def headRevision():
    """The newest revision in ``eucad/migrations/versions``."""
    return ScriptDirectory.from_config(alembicConfig()).get_current_head()


def currentRevision(connection):
    """The revision the database is at (None if Alembic never ran on it)."""
    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _migrationLock(engine):
    """Held while one process upgrades; others wait, then find nothing to do."""
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        lockPath = os.path.abspath(database) + ".migrate-lock"
        old = os.umask(0o077)
        try:
            fd = os.open(lockPath, os.O_RDWR | os.O_CREAT, 0o600)
        finally:
            os.umask(old)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
    elif engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT pg_advisory_lock(%d)" % (_PG_LOCK_KEY,))
            connection.commit()
            try:
                yield
            finally:
                connection.exec_driver_sql(
                    "SELECT pg_advisory_unlock(%d)" % (_PG_LOCK_KEY,))
                connection.commit()
    else:
        yield


def upgrade(engine, revision="head"):
    """Run every missing revision up to ``revision`` (blocking: not on the reactor)."""
    sqlite = engine.dialect.name == "sqlite"
    with _migrationLock(engine):
        with engine.connect() as connection:
            if sqlite:
                # Batch migrations copy a table and drop the old one; with
                # foreign keys on, that drop would cascade into the rows
                # that refer to it.  (The pragma is ignored inside a
                # transaction, so it is set before the migration's own.)
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            try:
                with connection.begin():
                    command.upgrade(alembicConfig(connection), revision)
            finally:
                if sqlite:
                    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                    connection.commit()


def differences(engine):
    """What separates the database's schema from the models' (empty: none)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, modelMetadata())


def makeRevision(message):
    """Write a revision from the models' difference to a head-upgraded scratch DB."""
    from sqlalchemy import create_engine
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine("sqlite:///" + os.path.join(scratch, "scratch.db"))
        upgrade(engine)
        with engine.begin() as connection:
            config = alembicConfig(connection)
            script = ScriptDirectory.from_config(config)
            number = "%04d" % (len(list(script.walk_revisions())) + 1,)
            command.revision(config, message=message, autogenerate=True,
                             rev_id=number)
        engine.dispose()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "revision":
        print("usage: python -m eucad.common.schema revision MESSAGE", file=sys.stderr)
        return 2
    makeRevision(argv[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
