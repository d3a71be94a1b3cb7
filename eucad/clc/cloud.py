"""The collaborators an EC2 operation may use, handed to it in one object.

Built once by ``eucad.clc.tap`` (or by a test) and passed to the API
resource; operations never reach for globals, so tests inject an in-memory
database runner, ``FakeCluster`` links and a ``task.Clock``.
"""

from eucad.clc import tables  # noqa: F401 (every CLC table exists when the DB opens)
from eucad.clc.addresspool import AddressPool
from eucad.clc.clienttokens import ClientTokens
from eucad.clc.netchanges import NetworkChanges


class Cloud:
    """
    @param db: a ``eucad.common.db.Database`` (anything with ``run``).
    @param clusters: a ``eucad.clc.clusters.ClusterSet``.
    @param clock: the IReactorTime for timestamps, timeouts and signature
        time checks.
    @param endpoint: the EC2 URL DescribeRegions hands out.
    @param regionName: the one region of this cloud.
    @param addressPool: the ``eucad.clc.addresspool.AddressPool`` users
        allocate public addresses from (default: none to give).
    @param bundles: the ``eucad.clc.bundlecheck.BundleChecker`` RegisterImage
        uses to read and verify manifests in Walrus (None: no RegisterImage).
    @param imagePreparer: the ``eucad.clc.imageprep.ImagePreparer`` that
        takes registered bundles to ``available`` (None: they stay pending).
    @param imageDelivery: ``imageDelivery(imageId)`` -> the URL the nodes
        fetch a bundle's decrypted image from (None: bundle images cannot
        be launched).
    @ivar networkChanges: the ``eucad.clc.netchanges.NetworkChanges`` the
        group and address operations publish to.
    @ivar clientTokens: RunInstances' ``ClientToken`` bookkeeping.
    """

    def __init__(self, db, clusters, clock, endpoint, regionName="eucalyptus",
                 addressPool=None, bundles=None, imagePreparer=None, imageDelivery=None):
        self.db = db
        self.imageDelivery = imageDelivery
        self.bundles = bundles
        self.imagePreparer = imagePreparer
        self.clusters = clusters
        self.clock = clock
        self.endpoint = endpoint
        self.regionName = regionName
        self.addressPool = addressPool or AddressPool([], 0)
        self.networkChanges = NetworkChanges()
        self.clientTokens = ClientTokens()

    def now(self):
        return self.clock.seconds()


def endpointFromConf(conf):
    """``http://CLOUD_HOST:CLOUD_PORT/services/Eucalyptus`` from eucalyptus.conf."""
    host = conf.get("CLOUD_HOST")
    if ":" in host and not host.startswith("["):
        host = "[%s]" % (host,)
    return "http://%s:%s/services/Eucalyptus" % (host, conf.get("CLOUD_PORT"))


def databaseUrl(conf, layout):
    """``CLOUD_DB_URL`` if the admin set one, else the SQLite file of the install."""
    from eucad.common import db
    return db.databaseUrl(conf, layout)
