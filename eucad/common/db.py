"""The database every front-end tier shares: SQLite by default, PostgreSQL by URL.

Tables are declared on ``Base`` by the modules that own them (accounts here,
instances in ``eucad.clc``, buckets in ``eucad.walrus``); their schema is
managed by the Alembic revisions in ``eucad.migrations``
(``eucad.common.schema``).  ``Database`` is a service: when started it opens
the engine and upgrades the schema in its own thread pool, and every query
then runs off the reactor thread through ``Database.run``.

The SQLite file holds every user's secret key: its directory is 0700 and the
file is made 0600 before SQLite first writes to it (SQLite gives its -wal,
-shm and -journal files the database file's mode).
"""

import os
import threading

from sqlalchemy import create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet import reactor as _defaultReactor
from twisted.internet.threads import deferToThread, deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool


class Base(DeclarativeBase):
    """Declarative base of every eucad table."""


def defaultUrl(layout):
    """SQLite under ``var/lib/eucalyptus/db`` of the install."""
    return "sqlite:///" + os.path.join(layout.db, "eucalyptus.db")


def databaseUrl(conf, layout):
    """
    The database of an install: ``CLOUD_DB_URL`` (or its older name
    ``DB_URL``) if the admin set one, else the install's SQLite file.
    """
    return normalUrl(conf.get("CLOUD_DB_URL") or conf.get("DB_URL") or defaultUrl(layout))


def normalUrl(url):
    """``postgresql://`` means the psycopg (3) driver, the one eucad ships with."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


#: The install's own database directory, under the prefix.
_INSTALL_DB_DIR = os.path.join("var", "lib", "eucalyptus", "db")


def secureSqliteFile(path):
    """
    Make the file 0600 (and any -wal, -shm or -journal beside it), creating
    it empty with that mode so that no byte of it is ever readable by
    others.  A directory made for it is 0700, and so is made the install's
    own ``var/lib/eucalyptus/db`` (0755 in eucad 0.1); any other existing
    directory (``/tmp``, ``/var/lib``...) is not ours to change.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
        os.chmod(directory, 0o700)
    elif directory.endswith(os.sep + _INSTALL_DB_DIR):
        os.chmod(directory, 0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.chmod(path + suffix, 0o600)
        except FileNotFoundError:
            pass


def makeEngine(url):
    """
    An engine tuned for being shared by several daemons.

    SQLite runs in WAL mode with a busy timeout so that the CLC and Walrus can
    use one file at once; PostgreSQL connections are checked before use, so
    that a restarted server costs one failed ping, not a failed request.
    """
    url = normalUrl(url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            secureSqliteFile(path)
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                  "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(connection, record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged write (a Walrus PUT, a launch) survives a
            # power loss too, not only a crash of the process.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
        return engine
    return create_engine(url, pool_pre_ping=True)


class Database(Service):
    """
    An engine, a session factory and the threads that use them.

    ``run(fn, *args)`` calls ``fn(session, *args)`` in a pool thread inside a
    transaction that commits when ``fn`` returns and rolls back if it raises,
    and returns a Deferred of its result.  Calls made before the schema
    upgrade of ``startService`` finished wait for it (and fail with it).
    """

    def __init__(self, url, reactor=None, threads=None):
        self.url = normalUrl(url)
        self.reactor = reactor or _defaultReactor
        self.engine = None
        self.sessions = None
        self.pool = None
        self.opened = None
        self._opening = False
        self._waiting = []
        self._openLock = threading.Lock()
        sqlite = self.url.startswith("sqlite")
        # SQLite serialises writers anyway; one thread avoids lock waits.
        self.threads = threads or (1 if sqlite else 4)

    def open(self):
        """
        Open the engine and upgrade the schema to the newest revision, once,
        whichever thread asks first (blocking; never on the reactor thread
        of a daemon); return the engine.
        """
        with self._openLock:
            if self.engine is None:
                from eucad.common import schema
                engine = makeEngine(self.url)
                try:
                    schema.upgrade(engine)
                except BaseException:
                    engine.dispose()
                    raise
                self.sessions = sessionmaker(engine, expire_on_commit=False)
                self.engine = engine
            return self.engine

    def startService(self):
        """Start the pool and open the database in it (the reactor keeps running)."""
        Service.startService(self)
        self.pool = ThreadPool(minthreads=1, maxthreads=self.threads,
                               name="eucad-db")
        self.pool.start()
        self._opening = True
        self.opened = deferToThreadPool(self.reactor, self.pool, self.open)
        self.opened.addBoth(self._finishedOpening)

    def _finishedOpening(self, result):
        self._opening = False
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(None)
        return result

    def stopService(self):
        """Let running queries finish, off the reactor thread (joining blocks)."""
        Service.stopService(self)
        pool, engine = self.pool, self.engine
        self.pool = self.engine = None

        def stop():
            if pool is not None:
                pool.stop()
            if engine is not None:
                engine.dispose()
        if pool is None:
            stop()
            return None
        return deferToThread(stop)

    def transact(self, fn, *args, **kwargs):
        """Run ``fn(session, ...)`` in a transaction in this thread."""
        self.open()
        with self.sessions() as session:
            with session.begin():
                return fn(session, *args, **kwargs)

    def run(self, fn, *args, **kwargs):
        """Run ``fn(session, ...)`` in a transaction in a pool thread."""
        if self._opening:
            waiter = defer.Deferred()
            self._waiting.append(waiter)
            return waiter.addCallback(lambda _: self.run(fn, *args, **kwargs))
        return deferToThreadPool(self.reactor, self.pool, self.transact,
                                 fn, *args, **kwargs)
