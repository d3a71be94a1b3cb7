"""``eucalyptus-clc``'s cloud controller services, and the CLC served alone.

``buildCloud`` adds the CLC's services to a daemon's tree, in start order:
the database, one link per cluster, start-up recovery, the cluster poller
and its watcher (long polls that bring a poll as soon as a cluster
changes).  ``makeService`` is the CLC with its port to itself: those, then
the EC2 Query API where ``--port`` says (a strports description), by
default on CLOUD_LISTEN:CLOUD_PORT.  The API listens from the start but
answers 503 ServiceUnavailable until recovery is done.  Nothing here opens
files or sockets; the services do when they start.

The ``eucalyptus-clc`` daemon itself is ``eucad.frontend.tap``: it serves
Walrus too when Walrus shares the CLC's port, and this tree otherwise.

The instance metadata service (``eucad.clc.metadata``, on
METADATA_LISTEN:METADATA_PORT) and the web pages (``eucad.clc.web``, over
TLS on WEB_LISTEN:WEB_PORT unless WEB_PORT is 0) are the last of
``buildCloud``'s services.
"""

from twisted.web import server

from eucad.clc.addresspool import poolFromConf
from eucad.clc.api.refusals import ec2Limits
from eucad.clc.api.resource import Ec2Resource, makeRootResource
from eucad.clc.cloud import Cloud, databaseUrl, endpointFromConf
from eucad.clc.clusterlinks import clusterLink
from eucad.clc.clusterregistry import ClusterRegistry
from eucad.clc.clusters import ClusterSet
from eucad.clc.metadata.service import makeMetadataServer
from eucad.clc.poller import ClusterPoller, ClusterWatcher
from eucad.clc.policypush import PolicyPublisher
from eucad.clc.settingchanges import SettingChanges
from eucad.clc.settingspush import SettingsPublisher
from eucad.clc.startup import CloudStartup
from eucad.clc.web.server import makeWebServer
from eucad.common.daemon import DaemonOptions, makeDaemonService
from eucad.common.db import Database
from eucad.common.httpguard import accessLogLine, guardSite
from eucad.common.listening import listeningService, portOption

#: The conf keys of the EC2 API's default listener.
PORT_KEYS = ("CLOUD_PORT", "CLOUD_LISTEN")


class Options(DaemonOptions):
    """Options of the cloud controller; the rest is in eucalyptus.conf."""

    synopsis = "[--prefix=DIR] [--port=STRPORT]"
    optParameters = [portOption(*PORT_KEYS)]


class CloudParts:
    """What the web side of a CLC is built from: the Cloud and its start-up."""

    def __init__(self, cloud, startup, database):
        self.cloud = cloud
        self.startup = startup
        self.database = database

    @property
    def images(self):
        """The ``ImageServices`` the Cloud was given, or None."""
        return self.cloud.imagePreparer


def buildCloud(options, parent, reactor=None, makeImageServices=None):
    """
    Add the CLC's services (database to cluster watcher) to ``parent``.

    @param makeImageServices: ``makeImageServices(options, parent, db,
        reactor)`` adds RegisterImage's services (``eucad.frontend.images``,
        which joins them to Walrus's image cache) and returns them; None:
        RegisterImage answers Unsupported.
    """
    if reactor is None:
        from twisted.internet import reactor
    conf, layout = options.conf, options.layout
    db = Database(databaseUrl(conf, layout), reactor=reactor)
    db.setServiceParent(parent)
    images = None
    if makeImageServices is not None:
        images = makeImageServices(options, parent, db, reactor)
    clusters = ClusterSet([], reactor)
    registry = ClusterRegistry(conf, layout, clusters, parent,
                               lambda layout, host, port: clusterLink(layout, host, port,
                                                                      reactor=reactor))
    registry.connectConfigured()
    cloud = Cloud(db, clusters, reactor, endpointFromConf(conf),
                  addressPool=poolFromConf(conf), bundles=images, imagePreparer=images,
                  imageDelivery=images.deliveryUrl if images and conf.getInt(
                      "WALRUS_IMAGE_PORT") else None)
    startup = CloudStartup(cloud)
    startup.setServiceParent(parent)
    poller = ClusterPoller(cloud, float(conf.get("CLUSTER_POLL_SECONDS")))
    poller.setServiceParent(parent)
    watcher = ClusterWatcher(poller)
    watcher.setServiceParent(parent)
    registry.listeners.append(watcher.refresh)
    PolicyPublisher(cloud, float(conf.get("CLUSTER_POLL_SECONDS"))).setServiceParent(parent)
    makeMetadataServer(conf, db, reactor=reactor).setServiceParent(parent)
    settingChanges = liveSettings(cloud, images, parent, conf)
    webPages = makeWebServer(conf, layout, db, reactor=reactor, clusters=registry,
                             settingChanges=settingChanges)
    if webPages is not None:
        webPages.setServiceParent(parent)
    return CloudParts(cloud, startup, db)


def liveSettings(cloud, images, parent, conf):
    """
    The ``SettingChanges`` the web pages publish saves on, heard by the
    cluster settings publisher (DNS to every CC) and the image services
    (the image cache's size).
    """
    changes = SettingChanges()
    SettingsPublisher(cloud, changes, float(conf.get("CLUSTER_POLL_SECONDS"))
                      ).setServiceParent(parent)
    if images is not None:
        changes.subscribe(images.settingsSaved)
    return changes


def makeEc2Site(parts, limits=None):
    """
    The Site of a CLC alone on its port: EC2 at ``/`` and
    ``/services/Eucalyptus``, under EC2's HTTP limits, logging requests
    without their query strings (where SigV2 carries its signature).
    """
    root = makeRootResource(Ec2Resource(parts.cloud, isReady=parts.startup.isReady))
    site = server.Site(root, logFormatter=accessLogLine)
    return guardSite(site, limits or ec2Limits())


def makeService(options, reactor=None, makeImageServices=None):
    """The CLC alone: its services, and the EC2 API on its port."""
    root = makeDaemonService(options, "cloud-output.log")
    parts = buildCloud(options, root, reactor, makeImageServices)
    listeningService(options, *PORT_KEYS, makeEc2Site(parts),
                     reactor=reactor).setServiceParent(root)
    return root
