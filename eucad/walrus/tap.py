"""``twistd eucalyptus-walrus``: the Walrus daemon.

The service tree, started in order and stopped in reverse: the log file
(``walrus.log``), the database shared with the CLC (``CLOUD_DB_URL``, else SQLite
under ``var/lib/eucalyptus/db``), then ``buildWalrusServices``: the I/O
threads, the bucket directory's watch (the administrator may move it:
``eucad.walrus.bucketmove``), the bukkits directory's start-up sweep and the
lifecycle timer; last the S3 port, where
``--port`` says (a strports description), by default
``WALRUS_LISTEN``:``WALRUS_PORT``, under the HTTP guard's limits
(``eucad.walrus.refusals``).  It logs a line per request, without its query
string, only at LOGLEVEL DEBUG.

When this host's CLC is enabled on the very same port and address (the
defaults: both at 8773), the CLC's daemon serves Walrus itself
(``eucad.frontend``, which builds it with ``buildWalrusServices``); this
daemon then refuses to start, with one line that says so, rather than fail
later to bind the port.
"""

from eucad.common import daemon
from eucad.common.components import walrusSharesCloudPort
from eucad.common.db import Database, databaseUrl
from eucad.common.httpguard import guardSite
from eucad.common.listening import listeningService, portOption
from eucad.walrus.app import IoPool, StoreStartup, buildWalrus
from eucad.walrus.bucketdir import MovableBlobs
from eucad.walrus.bucketmove import BucketDirectoryService
from eucad.walrus.lifecycleservice import LifecycleService
from eucad.walrus.refusals import s3Limits
from eucad.walrus.service import makeSite

#: The conf keys of Walrus's default listener.
PORT_KEYS = ("WALRUS_PORT", "WALRUS_LISTEN")


class Options(daemon.DaemonOptions):
    """Everything but ``--prefix`` and ``--port`` comes from eucalyptus.conf."""

    optParameters = [portOption(*PORT_KEYS)]


def buildWalrusServices(options, parent, database, reactor=None):
    """
    Add Walrus's I/O threads and start-up sweep to ``parent``; return the
    Walrus over ``database`` and the install's bukkits.
    """
    conf = options.conf
    io = IoPool(int(conf.get("WALRUS_IO_THREADS")), reactor=reactor)
    io.setServiceParent(parent)
    walrus = buildWalrus(database, options.layout.bukkits, conf, io.run,
                         blobs=movableBucketDirectory(options, parent, database, io))
    StoreStartup(walrus.store).setServiceParent(parent)
    addLifecycleService(conf, walrus, parent, reactor)
    return walrus


def movableBucketDirectory(options, parent, database, io):
    """
    The blobs' directory, which the configuration page may move while Walrus
    runs (``eucad.walrus.bucketmove``): its watch is added to ``parent``.
    """
    blobs = MovableBlobs(options.layout.bukkits, waitForRoots=True)
    BucketDirectoryService(blobs, database, options.layout.bukkits, io.run
                           ).setServiceParent(parent)
    return blobs


def addLifecycleService(conf, walrus, parent, reactor=None):
    """The timer that applies buckets' lifecycle rules every WALRUS_LIFECYCLE_SECONDS."""
    LifecycleService(walrus.store, float(conf.get("WALRUS_LIFECYCLE_SECONDS")),
                     reactor).setServiceParent(parent)


def makeService(options, reactor=None):
    conf = options.conf
    if not options["port"] and walrusSharesCloudPort(conf):
        daemon.fail("Walrus is served by the cloud controller on port %s: "
                    "WALRUS_PORT equals CLOUD_PORT" % (conf.get("CLOUD_PORT"),))
    root = daemon.makeDaemonService(options, "walrus.log")
    database = Database(databaseUrl(conf, options.layout))
    database.setServiceParent(root)
    walrus = buildWalrusServices(options, root, database, reactor)
    site = guardSite(makeSite(walrus, accessLog=daemon.logLevel(options) == "DEBUG"),
                     s3Limits())
    listeningService(options, *PORT_KEYS, site, reactor=reactor).setServiceParent(root)
    root.walrus = walrus
    return root
