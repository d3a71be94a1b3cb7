"""The daemon's links to its cluster controllers: PB over mutual TLS.

The cloud's certificate and key are read when the first connection is made
(inside ``startService``), not when the service tree is built, so that
``twistd`` can build the CLC before ``euca_conf --setup`` made the keys.
"""

from eucad.common import trust
from eucad.common.links import ClusterLink


def clusterLink(layout, host, port, reactor=None):
    """A reconnecting ``ClusterLink`` (the ICluster facade) for one CC."""
    tls = trust.LazyCredentials(layout, "cloud").clientOptions(host, expectRole="cluster")
    return ClusterLink(host, port, tls, reactor=reactor)
