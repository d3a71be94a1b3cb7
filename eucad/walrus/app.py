"""Putting a Walrus together: configuration, thread pools, start-up sweep.

``tap.py`` (the daemon) and the tests that run a real listening Walrus both
build it here, so they run the same assembly.  Nothing here does I/O until
its service starts.
"""

import socket
import time

from twisted.application.service import Service
from twisted.internet import reactor as _defaultReactor
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from eucad.walrus.addressing import Router
from eucad.walrus.auth import Authenticator
from eucad.walrus.blobs import BlobDirectory
from eucad.walrus.livelimits import LiveLimits
from eucad.walrus.service import Walrus
from eucad.walrus.store import WalrusStore
from eucad.walrus.storebase import Limits
from eucad.walrus.users import UserDirectory

_log = Logger()

def limitsFromConf(conf):
    return Limits(maxBucketsPerUser=int(conf.get("WALRUS_MAX_BUCKETS_PER_USER") or 0),
                  maxBucketBytes=int(conf.get("WALRUS_MAX_BUCKET_SIZE_MB") or 0)
                  * 1024 * 1024)


class IoPool(Service):
    """The threads that do Walrus's blocking file work (and hashing)."""

    def __init__(self, threads=8, reactor=None):
        self.threads = threads
        self.reactor = reactor or _defaultReactor
        self.pool = None

    def startService(self):
        Service.startService(self)
        self.pool = ThreadPool(minthreads=1, maxthreads=self.threads, name="walrus-io")
        self.pool.start()

    def stopService(self):
        """
        Stop the pool without blocking the reactor: ThreadPool.stop waits
        for the running jobs, so it is itself run in the reactor's own
        thread pool, and the Deferred tells twistd when it is done.
        """
        Service.stopService(self)
        pool, self.pool = self.pool, None
        if pool is None:
            return None
        return deferToThreadPool(self.reactor, self.reactor.getThreadPool(), pool.stop)

    def run(self, fn, *args, **kwargs):
        return deferToThreadPool(self.reactor, self.pool, fn, *args, **kwargs)


class StoreStartup(Service):
    """
    Creates the bukkits directories and sweeps what a crash left behind
    (temporary files, blobs no row names), in the background: only files
    older than this start are touched, so requests may be served meanwhile.
    """

    def __init__(self, store, clock=time.time):
        self.store = store
        self.clock = clock
        self.swept = None

    def startService(self):
        Service.startService(self)
        started = self.clock()
        self.store.blobs.prepare()
        self.swept = self.store.sweep(started)
        self.swept.addCallback(self._report)
        self.swept.addErrback(lambda f: _log.failure("Sweeping the bukkits failed", f))

    def _report(self, counts):
        temporary, blobs = counts
        if temporary or blobs:
            _log.info("Removed {temporary} unfinished uploads and {blobs} orphaned blobs",
                      temporary=temporary, blobs=blobs)
        return counts


def serverNames(conf):
    """Host names that name this server, never a bucket."""
    names = {socket.gethostname(), conf.get("CLOUD_HOST")}
    for domain in conf.get("WALRUS_DOMAIN").split():
        names.add(domain)
    return [n for n in names if n]


def buildWalrus(database, bukkits, conf, runIo, clock=time.time, blobs=None):
    """
    A Walrus (and its store) over ``database`` and the ``bukkits`` directory
    (or ``blobs``, a BlobDirectory-like object: the daemon's ``MovableBlobs``).
    """
    if blobs is None:
        blobs = BlobDirectory(bukkits)
    store = WalrusStore(database, blobs, runIo, LiveLimits(database, conf), clock)
    users = UserDirectory(database)
    authenticator = Authenticator(users.byAccessKey, clock)
    router = Router(conf.get("WALRUS_DOMAIN").split(), serverNames(conf))
    return Walrus(store, users, authenticator, router, conf.get("WALRUS_LOCATION"),
                  clock)
