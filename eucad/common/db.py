"""The database every front-end tier shares: SQLite by default, any URL else.

Tables are declared on ``Base`` by the modules that own them (accounts here,
instances in ``eucad.clc``, buckets in ``eucad.walrus``).  ``Database`` is a
service: it opens the engine and its thread pool when started, so that every
query runs off the reactor thread through ``Database.run``.
"""

import os

from sqlalchemy import create_engine, event
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from twisted.application.service import Service
from twisted.internet import reactor as _defaultReactor
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool


class Base(DeclarativeBase):
    """Declarative base of every eucad table."""


def defaultUrl(layout):
    """SQLite under ``var/lib/eucalyptus/db`` of the install."""
    return "sqlite:///" + os.path.join(layout.db, "eucalyptus.db")


def makeEngine(url):
    """
    An engine tuned for being shared by several daemons.

    SQLite runs in WAL mode with a busy timeout so that the CLC and Walrus can
    use one file at once; every other URL is passed to SQLAlchemy unchanged.
    """
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
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
    and returns a Deferred of its result.
    """

    def __init__(self, url, reactor=None, threads=None):
        self.url = url
        self.reactor = reactor or _defaultReactor
        self.engine = None
        self.sessions = None
        self.pool = None
        sqlite = url.startswith("sqlite")
        # SQLite serialises writers anyway; one thread avoids lock waits.
        self.threads = threads or (1 if sqlite else 4)

    def open(self):
        """Open the engine and create missing tables (blocking)."""
        if self.engine is None:
            self.engine = makeEngine(self.url)
            Base.metadata.create_all(self.engine)
            self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def startService(self):
        Service.startService(self)
        self.open()
        self.pool = ThreadPool(minthreads=1, maxthreads=self.threads,
                               name="eucad-db")
        self.pool.start()

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
        from twisted.internet.threads import deferToThread
        return deferToThread(stop)

    def transact(self, fn, *args, **kwargs):
        """Run ``fn(session, ...)`` in a transaction in this thread."""
        self.open()
        with self.sessions() as session:
            with session.begin():
                return fn(session, *args, **kwargs)

    def run(self, fn, *args, **kwargs):
        """Run ``fn(session, ...)`` in a transaction in a pool thread."""
        return deferToThreadPool(self.reactor, self.pool, self.transact,
                                 fn, *args, **kwargs)
