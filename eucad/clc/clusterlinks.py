"""The daemon's links to its cluster controllers: PB over mutual TLS.

The cloud's certificate and key are read when the first connection is made
(inside ``startService``), not when the service tree is built, so that
``twistd`` can build the CLC before ``euca_conf --setup`` made the keys.
"""

from eucad.common import pblink, trust
from eucad.common.interfaces import ICluster


def clusterLink(layout, host, port, reactor=None):
    """A reconnecting ``LinkClient`` that provides ICluster for one CC."""
    tls = trust.LazyCredentials(layout, "cloud").clientOptions(host, expectRole="cluster")
    return pblink.LinkClient(ICluster, host, port, tls,
                             reactor=reactor)
