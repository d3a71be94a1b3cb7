"""The daemon's links to its cluster controllers: PB over mutual TLS.

The cloud's certificate and key are read when the first connection is made
(inside ``startService``), not when the service tree is built, so that
``twistd`` can build the CLC before ``euca_conf --setup`` made the keys.
"""

from zope.interface import implementer
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator

from eucad.common import pblink, trust
from eucad.common.interfaces import ICluster


@implementer(IOpenSSLClientConnectionCreator)
class CloudClientTLS:
    """Client TLS as the ``cloud`` role toward a ``cluster`` at ``host``, loaded lazily."""

    def __init__(self, layout, host):
        self.layout = layout
        self.host = host
        self._options = None

    def clientConnectionForTLS(self, tlsProtocol):
        if self._options is None:
            self._options = trust.Credentials.load(self.layout, "cloud").clientOptions(
                self.host, expectRole="cluster")
        return self._options.clientConnectionForTLS(tlsProtocol)


def clusterLink(layout, host, port, reactor=None):
    """A reconnecting ``LinkClient`` that provides ICluster for one CC."""
    return pblink.LinkClient(ICluster, host, port, CloudClientTLS(layout, host),
                             reactor=reactor)
