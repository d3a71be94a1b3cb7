"""``twistd eucalyptus-clc``: the cloud controller's service tree.

Children start in this order: logging, the database, one link per cluster,
start-up recovery, the cluster poller and its watcher (long polls that bring
a poll as soon as a cluster changes), and the EC2 Query API on
CLOUD_LISTEN:CLOUD_PORT.  The API listens from the start but answers 503
ServiceUnavailable until recovery is done.  Nothing here opens files or
sockets; the services do when they start.

When Walrus shares the CLC's port (``control.walrusSharesCloudPort``: the
defaults put both at 8773), Walrus is built here too, over the same
database: its I/O threads and bukkits sweep come before the port, which
then serves EC2 and S3 together (``eucad.clc.frontdoor``).

The instance metadata service (``eucad.clc.metadata``, on
METADATA_LISTEN:METADATA_PORT) comes just before the API's port.
"""

from twisted.application import internet
from twisted.web import server

from eucad.clc import frontdoor
from eucad.clc.api.resource import Ec2Resource, makeRootResource
from eucad.clc.cloud import Cloud, databaseUrl, endpointFromConf
from eucad.clc.clusterlinks import clusterLink
from eucad.clc.clusters import ClusterEntry, ClusterSet, parseClusters
from eucad.clc.metadata.service import makeMetadataServer
from eucad.clc.poller import ClusterPoller, ClusterWatcher
from eucad.clc.startup import CloudStartup
from eucad.common.control import walrusSharesCloudPort
from eucad.common.daemon import DaemonOptions, makeDaemonService
from eucad.common.db import Database
from eucad.walrus.app import IoPool, StoreStartup, buildWalrus


class Options(DaemonOptions):
    """Options of the cloud controller; the rest is in eucalyptus.conf."""

    synopsis = "[--prefix=DIR]"


def makeService(options, reactor=None):
    if reactor is None:
        from twisted.internet import reactor
    conf, layout = options.conf, options.layout
    root = makeDaemonService(options, "cloud-output.log")
    db = Database(databaseUrl(conf, layout), reactor=reactor)
    db.setServiceParent(root)
    entries = []
    for name, host, port in parseClusters(conf.get("CLUSTERS")):
        link = clusterLink(layout, host, port, reactor=reactor)
        link.setServiceParent(root)
        entries.append(ClusterEntry(name, host, port, link))
    cloud = Cloud(db, ClusterSet(entries, reactor), reactor, endpointFromConf(conf))
    startup = CloudStartup(cloud)
    startup.setServiceParent(root)
    poller = ClusterPoller(cloud, float(conf.get("CLUSTER_POLL_SECONDS")))
    poller.setServiceParent(root)
    ClusterWatcher(poller).setServiceParent(root)
    if walrusSharesCloudPort(conf):
        io = IoPool(int(conf.get("WALRUS_IO_THREADS")), reactor=reactor)
        io.setServiceParent(root)
        walrus = buildWalrus(db, layout.bukkits, conf, io.run)
        StoreStartup(walrus.store).setServiceParent(root)
        site = frontdoor.makeSharedSite(cloud, walrus, isReady=startup.isReady)
        root.walrus = walrus
    else:
        site = server.Site(makeRootResource(Ec2Resource(cloud, isReady=startup.isReady)))
    makeMetadataServer(conf, db, reactor=reactor).setServiceParent(root)
    web = internet.TCPServer(int(conf.get("CLOUD_PORT")), site,
                             interface=conf.get("CLOUD_LISTEN"), reactor=reactor)
    web.setServiceParent(root)
    return root
