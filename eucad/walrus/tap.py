"""``twistd eucalyptus-walrus``: the Walrus daemon.

The service tree, started in order and stopped in reverse: the log file
(``walrus.log``), the database shared with the CLC (``DB_URL``, else SQLite
under ``var/lib/eucalyptus/db``), the I/O threads, the bukkits directory and
its start-up sweep, and the S3 port (``WALRUS_LISTEN``:``WALRUS_PORT``),
which logs a line per request only at LOGLEVEL DEBUG.

When this host's CLC is enabled on the very same port and address (the
defaults: both at 8773), the CLC's daemon serves Walrus itself
(``eucad.clc.frontdoor``); this daemon then refuses to start, with one line
that says so, rather than fail later to bind the port.
"""

from twisted.application import strports
from twisted.application.internet import TCPServer

from eucad.common import daemon
from eucad.common.control import walrusSharesCloudPort
from eucad.common.db import Database, defaultUrl
from eucad.walrus.app import IoPool, StoreStartup, buildWalrus
from eucad.walrus.service import makeSite


class Options(daemon.DaemonOptions):
    """Everything but ``--prefix`` comes from eucalyptus.conf."""

    optParameters = [
        ["port", None, None,
         "Listen here instead of WALRUS_LISTEN:WALRUS_PORT (a strports description, "
         "e.g. tcp:0:interface=127.0.0.1)."],
    ]


def makeService(options):
    conf = options.conf
    layout = options.layout
    if not options["port"] and walrusSharesCloudPort(conf):
        daemon.fail("Walrus is served by the cloud controller on port %s: "
                    "WALRUS_PORT equals CLOUD_PORT" % (conf.get("CLOUD_PORT"),))
    root = daemon.makeDaemonService(options, "walrus.log")
    database = Database(conf.get("DB_URL") or defaultUrl(layout))
    database.setServiceParent(root)
    io = IoPool(int(conf.get("WALRUS_IO_THREADS")))
    io.setServiceParent(root)
    walrus = buildWalrus(database, layout.bukkits, conf, io.run)
    StoreStartup(walrus.store).setServiceParent(root)
    site = makeSite(walrus, accessLog=conf.get("LOGLEVEL").upper() == "DEBUG")
    if options["port"]:
        server = strports.service(options["port"], site)
    else:
        server = TCPServer(int(conf.get("WALRUS_PORT")), site,
                           interface=conf.get("WALRUS_LISTEN"))
    server.setServiceParent(root)
    root.walrus = walrus
    return root
