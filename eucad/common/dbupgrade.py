"""``euca_conf --upgrade-database BACKUP_DIR``: the schema step of a package upgrade.

The daemons bring the database to their schema when they start; a package
upgrade should not leave that to the first start after it, where a failure
is found late and with the old state gone.  The packages' ``postinst``
therefore calls this once the new code is unpacked and the daemons are
stopped: when the database is behind this release's newest revision, a
backup of the install (``eucad.common.backup``: configuration, keys,
database) is written into ``BACKUP_DIR`` first, then the Alembic revisions
run, then the result is compared with the models.  A failure says in one
line what failed and the ``euca_conf --restore`` command that puts the
previous state back.

A database with a revision this release does not know (made by a newer
eucad) is not touched.  A PostgreSQL database cannot be copied into a eucad
backup (``pg_dump`` is the tool for it), so it is not migrated here: the
answer says so and the daemons migrate it when they start.
"""

import datetime
import os

from sqlalchemy import create_engine, inspect

from eucad.common import backup, schema
from eucad.common.db import databaseUrl

#: Exit statuses (euca_conf's own: 0 done or nothing to do, 2 refused).
DONE = 0
FAILED = 1
REFUSED = 2
#: Left for the daemons (PostgreSQL): not an error for a maintainer script.
DEFERRED = 3

DIRECTORY_MODE = 0o700


class Outcome:
    """What ``upgradeDatabase`` did: an exit status and the one line to print."""

    def __init__(self, status, line, backupPath=None):
        self.status = status
        self.line = line
        self.backupPath = backupPath


def _knownRevisions():
    from alembic.script import ScriptDirectory
    script = ScriptDirectory.from_config(schema.alembicConfig())
    return {revision.revision for revision in script.walk_revisions()}


def _databaseState(engine):
    """``(revision, has tables)`` of the database behind ``engine``."""
    with engine.connect() as connection:
        revision = schema.currentRevision(connection)
        tables = inspect(connection).get_table_names()
    return revision, bool(tables)


def backupName(fromRevision, toRevision, now=None):
    """The backup file's name: what it was taken before, and when (UTC)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return "eucad-%s-to-%s-%s.tar.gz" % (fromRevision or "0.1", toRevision,
                                          now.strftime("%Y%m%dT%H%M%SZ"))


def upgradeDatabase(conf, layout, backupDir, runningDaemons=()):
    """
    Bring the install's database to this release's newest revision, with a
    backup in ``backupDir`` taken first.

    @param runningDaemons: the install's daemons that run now; the upgrade
        is refused while any does (it holds the database open).
    @return: an L{Outcome}.
    """
    url = databaseUrl(conf, layout)
    head = schema.headRevision()
    if not url.startswith("sqlite:"):
        return Outcome(DEFERRED, "the database is not SQLite: back it up with its own "
                       "tools (pg_dump); the daemons upgrade it to revision %s when "
                       "they start" % (head,))
    path = backup.sqlitePath(conf, layout)
    if not os.path.exists(path):
        return Outcome(DONE, "no database at %s yet: nothing to upgrade" % (path,))
    engine = create_engine(url)
    try:
        revision, hasTables = _databaseState(engine)
        if not hasTables:
            return Outcome(DONE, "the database at %s is empty: nothing to upgrade"
                           % (path,))
        if revision == head:
            return Outcome(DONE, "the database is at revision %s, this release's newest"
                           % (head,))
        if revision is not None and revision not in _knownRevisions():
            return Outcome(REFUSED, "the database is at revision %s, which this release "
                           "does not know (made by a newer eucad?): left as it is"
                           % (revision,))
        if runningDaemons:
            return Outcome(REFUSED, "%s still running: stop it first (eucad-ctl stop)"
                           % (", ".join(runningDaemons),))
        old = os.umask(0o077)
        try:
            os.makedirs(backupDir, mode=DIRECTORY_MODE, exist_ok=True)
        finally:
            os.umask(old)
        backupPath = os.path.join(os.path.abspath(backupDir),
                                  backupName(revision, head))
        try:
            backup.writeBackup(conf, layout, backupPath)
        except (backup.BackupError, OSError) as e:
            return Outcome(FAILED, "no backup could be written (%s): the database was "
                           "not upgraded" % (e,))
        fromName = revision or "0.1 (before revisions)"
        restore = "euca_conf -d %s --restore %s" % (layout.prefix, backupPath)
        try:
            schema.upgrade(engine)
            revision, _ = _databaseState(engine)
            left = schema.differences(engine)
        except Exception as e:
            return Outcome(FAILED, "upgrading the database from %s to %s failed (%s: %s); "
                           "the state before is in %s: %s" % (
                               fromName, head, type(e).__name__,
                               " ".join(str(e).split())[:500], backupPath, restore),
                           backupPath)
        if revision != head or left:
            return Outcome(FAILED, "the database upgraded from %s does not match this "
                           "release's schema (%d differences); the state before is in "
                           "%s: %s" % (fromName, len(left), backupPath, restore),
                           backupPath)
        return Outcome(DONE, "upgraded the database from %s to %s (backup: %s)"
                       % (fromName, head, backupPath), backupPath)
    finally:
        engine.dispose()
