"""``euca_conf --backup FILE`` and ``--restore FILE``: a cloud's state in one private tar.

The guide's upgrade chapter makes a backup of "the key state" before an
upgrade and rolls back by unpacking it.  A eucad backup holds what a front
end or node cannot be rebuilt without: ``eucalyptus.conf``, the keys in
``var/lib/eucalyptus/keys`` and the SQLite database (users, credentials,
images, instances, buckets' records), copied with SQLite's online backup so
that a consistent snapshot is taken even while a daemon writes.  Bucket
contents under ``bukkits/`` are not in it: they can be far larger than the
rest, and their records in the database are what an upgrade touches.

The archive is written 0600 from its first byte (it holds private keys and
secret keys), under a temporary name and renamed when complete.  Its first
member, ``eucad-backup.json``, names every other member with its SHA-256;
``restore`` reads and checks everything into a private staging directory
before it replaces a single file, so a foreign, truncated or tampered
archive is refused with one line and the install is left as it was.
Restoring while this install's daemons run is refused: the CLC keeps the
database open.
"""

import datetime
import hashlib
import io
import json
import os
import sqlite3
import tarfile
import tempfile

from eucad.common.config import CONF_RELATIVE_PATH
from eucad.common.db import databaseUrl

MANIFEST = "eucad-backup.json"
FORMAT = "eucad-backup"
VERSION = 1

#: Archive names, and where in the install each kind lives.
CONF_MEMBER = "etc/eucalyptus/eucalyptus.conf"
KEYS_PREFIX = "keys/"
DB_MEMBER = "db/eucalyptus.db"

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700

#: Refuse archives whose manifest claims more than this many members.
MAX_MEMBERS = 1000


class BackupError(Exception):
    """One line that says why a backup or restore was refused."""


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def sqlitePath(conf, layout):
    """The SQLite file of the install's database, or raise BackupError."""
    url = databaseUrl(conf, layout)
    if not url.startswith("sqlite:///"):
        raise BackupError("CLOUD_DB_URL %s is not SQLite: back that database up with its own "
                          "tools (pg_dump), then use --backup for keys and configuration "
                          "with CLOUD_DB_URL unset" % (url.split("@")[-1],))
    return url[len("sqlite:///"):]


def _snapshotDatabase(path, staging):
    """A consistent copy of the SQLite database at ``path`` (None if there is none)."""
    if not os.path.exists(path):
        return None
    copy = os.path.join(staging, "db.snapshot")
    source = sqlite3.connect("file:%s?mode=ro" % (path,), uri=True)
    try:
        target = sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()
    with open(copy, "rb") as f:
        return f.read()


def collect(conf, layout):
    """``{archive name: bytes}`` of everything a backup holds."""
    members = {}
    confPath = layout.path(CONF_RELATIVE_PATH)
    if not os.path.isfile(confPath):
        raise BackupError("no %s: nothing to back up" % (confPath,))
    with open(confPath, "rb") as f:
        members[CONF_MEMBER] = f.read()
    if os.path.isdir(layout.keys):
        for name in sorted(os.listdir(layout.keys)):
            path = os.path.join(layout.keys, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    members[KEYS_PREFIX + name] = f.read()
    with tempfile.TemporaryDirectory(prefix="eucad-backup-") as staging:
        database = _snapshotDatabase(sqlitePath(conf, layout), staging)
    if database is not None:
        members[DB_MEMBER] = database
    return members


def _addMember(archive, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = FILE_MODE
    info.mtime = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    archive.addfile(info, io.BytesIO(data))


def writeBackup(conf, layout, path):
    """
    Write the install's backup to ``path`` (0600, complete or not at all).

    @return: the names stored, in order.
    """
    members = collect(conf, layout)
    manifest = {"format": FORMAT, "version": VERSION,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "members": {name: _sha256(data) for name, data in members.items()}}
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(prefix=".eucad-backup-", dir=directory)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            with tarfile.open(fileobj=f, mode="w:gz") as archive:
                _addMember(archive, MANIFEST,
                           json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"))
                for name in sorted(members):
                    _addMember(archive, name, members[name])
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return [MANIFEST] + sorted(members)


def _allowedName(name):
    if name in (CONF_MEMBER, DB_MEMBER):
        return True
    if name.startswith(KEYS_PREFIX):
        rest = name[len(KEYS_PREFIX):]
        return bool(rest) and "/" not in rest and rest not in (".", "..")
    return False


def readBackup(path):
    """
    Every member of the backup at ``path``, checked against its manifest.

    @return: ``{archive name: bytes}`` without the manifest.
    @raise BackupError: for anything that is not an intact eucad backup.
    """
    try:
        archive = tarfile.open(path, mode="r:*")
    except tarfile.ReadError:
        raise BackupError("%s is not a eucad backup (not a tar archive)" % (path,))
    except (OSError, tarfile.TarError, EOFError) as e:
        raise BackupError("%s cannot be read (%s)" % (path, " ".join(str(e).split())))
    try:
        with archive:
            manifest = None
            members = {}
            for info in archive:
                if not info.isfile():
                    raise BackupError("%s is not a eucad backup: %r is not a plain file"
                                      % (path, info.name))
                if manifest is None:
                    if info.name != MANIFEST:
                        raise BackupError("%s is not a eucad backup (no %s first)"
                                          % (path, MANIFEST))
                    manifest = _parseManifest(path, archive.extractfile(info).read())
                    continue
                if info.name not in manifest["members"] or not _allowedName(info.name):
                    raise BackupError("%s is not a eucad backup: unexpected member %r"
                                      % (path, info.name))
                if info.name in members:
                    raise BackupError("%s holds %r twice" % (path, info.name))
                data = archive.extractfile(info).read()
                if _sha256(data) != manifest["members"][info.name]:
                    raise BackupError("%s is damaged: %s does not match its checksum"
                                      % (path, info.name))
                members[info.name] = data
    except (OSError, tarfile.TarError, EOFError, ValueError) as e:
        raise BackupError("%s is damaged (%s)" % (path, " ".join(str(e).split())))
    if manifest is None:
        raise BackupError("%s is not a eucad backup (empty)" % (path,))
    missing = sorted(set(manifest["members"]) - set(members))
    if missing:
        raise BackupError("%s is damaged: %s missing" % (path, ", ".join(missing)))
    if CONF_MEMBER not in members:
        raise BackupError("%s holds no eucalyptus.conf" % (path,))
    return members


def _parseManifest(path, data):
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BackupError("%s is not a eucad backup (unreadable %s)" % (path, MANIFEST))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("%s is not a eucad backup (foreign %s)" % (path, MANIFEST))
    if manifest.get("version") != VERSION:
        raise BackupError("%s is a eucad backup of format version %r; this eucad reads "
                          "version %d" % (path, manifest.get("version"), VERSION))
    members = manifest.get("members")
    if not isinstance(members, dict) or len(members) > MAX_MEMBERS or not all(
            isinstance(k, str) and isinstance(v, str) and _allowedName(k)
            for k, v in members.items()):
        raise BackupError("%s is not a eucad backup (bad member list)" % (path,))
    return manifest


def _checkDatabase(path, data, staging):
    """The staged database must open as SQLite and pass its integrity check."""
    staged = os.path.join(staging, "db.check")
    with open(staged, "wb") as f:
        f.write(data)
    try:
        connection = sqlite3.connect("file:%s?mode=ro" % (staged,), uri=True)
        try:
            verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.DatabaseError as e:
        raise BackupError("%s is damaged: its database does not open (%s)" % (path, e))
    if verdict != "ok":
        raise BackupError("%s is damaged: its database fails its integrity check" % (path,))


def _stageBeside(target, data):
    """``data`` in a private temporary file in ``target``'s directory."""
    fd, staged = tempfile.mkstemp(prefix=".restore-", dir=os.path.dirname(target))
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), FILE_MODE)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return staged


def restoreBackup(conf, layout, path):
    """
    Put the backup at ``path`` back into the install at ``layout``.

    Everything is read and checked first (the database must pass SQLite's
    integrity check), then written beside its target under a temporary name
    (0600, or the mode of the file it replaces); only then is each renamed
    into place (one step per file), and the WAL files of the replaced
    database removed.

    @return: the names restored.
    @raise BackupError: nothing was changed.
    """
    members = readBackup(path)
    targets = {}
    for name in members:
        if name == CONF_MEMBER:
            targets[name] = layout.path(CONF_RELATIVE_PATH)
        elif name == DB_MEMBER:
            targets[name] = sqlitePath(conf, layout)
        else:
            targets[name] = os.path.join(layout.keys, name[len(KEYS_PREFIX):])
    if DB_MEMBER in members:
        with tempfile.TemporaryDirectory(prefix="eucad-restore-") as scratch:
            _checkDatabase(path, members[DB_MEMBER], scratch)
    for directory in sorted(set(os.path.dirname(t) for t in targets.values())):
        os.makedirs(directory, mode=DIRECTORY_MODE, exist_ok=True)
    staged = {}
    try:
        for name in sorted(members):
            staged[name] = _stageBeside(targets[name], members[name])
        for name in sorted(staged):
            target = targets[name]
            if name != DB_MEMBER and os.path.exists(target):
                # A file being replaced keeps its mode (public certificates
                # are 0644); one that is gone comes back private.
                os.chmod(staged[name], os.stat(target).st_mode & 0o7777)
            if name == DB_MEMBER:
                for suffix in ("-wal", "-shm"):
                    if os.path.exists(target + suffix):
                        os.unlink(target + suffix)
            os.replace(staged.pop(name), target)
    finally:
        for leftover in staged.values():
            if os.path.exists(leftover):
                os.unlink(leftover)
    return sorted(members)
