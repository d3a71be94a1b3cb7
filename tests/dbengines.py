"""The two database engines the store tests run on: SQLite and PostgreSQL.

PostgreSQL comes from Debian's ``postgresql`` package (``tools/install-deps``
installs it): the first test that asks for it starts one private server for
the whole test run, in a temporary directory, listening only on a Unix
socket in that directory (its "port" is private to the directory), as the
``postgres`` system user because the server refuses to run as root.  Its
databases collate with ICU's en-US, as a production server's usually do
(not C), so that code which relies on byte order without saying so fails.  Each
test gets a database of its own, dropped when the test ends; the server
stops when the test process exits.

A test class that mixes ``EngineTests`` in and sets ``engine = SQLITE`` or
``engine = POSTGRESQL`` gets ``self.databaseUrl()``; ``bothEngines(Mixin)``
makes the two classes from one mixin.
"""

import atexit
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

from twisted.trial.unittest import SkipTest

SQLITE, POSTGRESQL = "sqlite", "postgresql"

_SERVER = None
_NAMES = itertools.count(1)


def _pgBinary(name):
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/%s" % (name,)))
    return found[-1] if found else None


class PostgresServer:
    """One throwaway PostgreSQL server (initdb, postgres, then rm -rf)."""

    PORT = 5433
    SUPERUSER = "eucad"

    def __init__(self, osUser="postgres"):
        self.osUser = osUser
        self.root = None
        self.process = None

    @property
    def socketDir(self):
        return os.path.join(self.root, "socket")

    def start(self):
        initdb, postgres = _pgBinary("initdb"), _pgBinary("postgres")
        if initdb is None or postgres is None:
            raise SkipTest("PostgreSQL is not installed (tools/install-deps installs it)")
        try:
            account = pwd.getpwnam(self.osUser)
        except KeyError:
            raise SkipTest("no %r system user to run PostgreSQL as" % (self.osUser,))
        self.root = tempfile.mkdtemp(prefix="eucad-pg-")
        data = os.path.join(self.root, "data")
        os.makedirs(self.socketDir)
        for path in (self.root, self.socketDir):
            os.chown(path, account.pw_uid, account.pw_gid)
        os.chmod(self.root, 0o700)
        made = subprocess.run([initdb, "-D", data, "-U", self.SUPERUSER, "--auth=trust",
                               "-E", "UTF8", "--no-instructions", "--no-sync",
                               "--locale-provider=icu", "--icu-locale=en-US"],
                              user=self.osUser, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, cwd=self.root)
        if made.returncode != 0:
            self.stop()
            raise RuntimeError("initdb failed: %s" % (made.stderr.decode()[-1000:],))
        self.process = subprocess.Popen(
            [postgres, "-D", data, "-k", self.socketDir, "-p", str(self.PORT),
             "-c", "listen_addresses=", "-c", "fsync=off",
             "-c", "max_connections=200"],
            user=self.osUser, cwd=self.root, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.root, "server.log"), "wb"))
        socket = os.path.join(self.socketDir, ".s.PGSQL.%d" % (self.PORT,))
        for _ in range(300):
            if os.path.exists(socket) and self._ready():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("PostgreSQL did not start")

    def _ready(self):
        import psycopg
        try:
            psycopg.connect(self.libpqUrl("postgres")).close()
            return True
        except psycopg.OperationalError:
            return False

    def libpqUrl(self, database):
        return "postgresql://%s@/%s?host=%s&port=%d" % (
            self.SUPERUSER, database, self.socketDir, self.PORT)

    def url(self, database):
        """The SQLAlchemy URL of ``database`` on this server."""
        return "postgresql+psycopg://%s@/%s?host=%s&port=%d" % (
            self.SUPERUSER, database, self.socketDir, self.PORT)

    def _admin(self, sql):
        import psycopg
        with psycopg.connect(self.libpqUrl("postgres"), autocommit=True) as c:
            c.execute(sql)

    def createDatabase(self):
        name = "t%d_%d" % (os.getpid(), next(_NAMES))
        self._admin('CREATE DATABASE "%s"' % (name,))
        return name

    def dropDatabase(self, name):
        self._admin('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % (name,))

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            # SIGINT is PostgreSQL's "fast" shutdown: it ends the sessions
            # still open instead of waiting for them (SIGTERM would).
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


_SERVER_FAILED = None


def postgresServer():
    """The test run's PostgreSQL server, started on first use (and tried once)."""
    global _SERVER, _SERVER_FAILED
    if _SERVER_FAILED is not None:
        raise RuntimeError("the test PostgreSQL server did not start: %s" % (
            _SERVER_FAILED,))
    if _SERVER is None:
        try:
            _SERVER = PostgresServer().start()
        except RuntimeError as e:
            _SERVER_FAILED = e
            raise
        atexit.register(_SERVER.stop)
    return _SERVER


_SHARED = None


def _sharedPostgresUrl():
    """
    One database of the server upgraded to the newest revision once, its
    rows emptied before each test that uses it: a new database per test
    (CREATE DATABASE and the upgrade) costs a second; this, milliseconds.
    """
    global _SHARED
    from sqlalchemy import text

    from eucad.common import schema
    from eucad.common.db import makeEngine
    if _SHARED is None:
        server = postgresServer()
        url = server.url(server.createDatabase())
        engine = makeEngine(url)
        schema.upgrade(engine)
        _SHARED = url, engine
    url, engine = _SHARED
    tables = [table.name for table in schema.modelMetadata().sorted_tables]
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE TABLE %s RESTART IDENTITY CASCADE" % (
            ", ".join('"%s"' % (name,) for name in tables),)))
    return url


def newDatabaseUrl(testcase, engine, empty=False):
    """
    A database of ``engine`` for one test: with no rows (the schema at the
    newest revision on PostgreSQL), or, with ``empty``, without tables too.
    """
    if engine == SQLITE:
        return "sqlite:///" + os.path.abspath(
            os.path.join(testcase.mktemp(), "db", "eucalyptus.db"))
    if not empty:
        return _sharedPostgresUrl()
    server = postgresServer()
    name = server.createDatabase()
    testcase.addCleanup(server.dropDatabase, name)
    return server.url(name)


class EngineTests:
    """Mixed into a TestCase whose ``engine`` says which database to use."""

    engine = SQLITE

    def databaseUrl(self, empty=False):
        return newDatabaseUrl(self, self.engine, empty)


def bothEngines(mixin, namespace):
    """Define ``<Mixin>SQLite`` and ``<Mixin>PostgreSQL`` test cases in ``namespace``."""
    from twisted.trial import unittest
    base = mixin.__name__
    for engine, suffix in ((SQLITE, "SQLite"), (POSTGRESQL, "PostgreSQL")):
        name = base + suffix
        namespace[name] = type(name, (mixin, EngineTests, unittest.TestCase),
                               {"engine": engine, "__module__": namespace["__name__"]})
