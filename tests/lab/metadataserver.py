"""The CLC's metadata service alone, for a lab test to run inside a namespace.

``ip netns exec NS python -m tests.lab.metadataserver DB_URL HOST PORT``
serves the real ``eucad.clc.metadata`` service, made by the same
``makeMetadataServer`` the CLC's tap calls, over the database at DB_URL,
and prints ``listening`` once the port is bound.  It runs until terminated.
"""

import sys

from twisted.internet import reactor
from twisted.python import log

from eucad.clc.metadata.service import makeMetadataServer
from eucad.common.config import EucaConf
from eucad.common.db import Database


def main(argv):
    url, host, port = argv
    conf = EucaConf("/nonexistent/eucalyptus.conf")
    conf.set("METADATA_LISTEN", host)
    conf.set("METADATA_PORT", port)
    log.startLogging(sys.stderr, setStdout=False)
    db = Database(url, reactor=reactor)
    server = makeMetadataServer(conf, db, reactor=reactor)

    def start():
        db.startService()
        server.startService()
        print("listening", flush=True)
    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", server.stopService)
    reactor.addSystemEventTrigger("before", "shutdown", db.stopService)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
