"""The listening side of the metadata service, for the CLC's service tree.

``makeMetadataServer`` is what ``eucad.clc.tap`` calls: a TCP server on
``METADATA_LISTEN:METADATA_PORT`` serving ``MetadataResource`` over the
CLC's own database.  It opens nothing until the tree starts.

VMs reach it as 169.254.169.254:80 through the cluster controller's DNAT in
the front end; the DNAT keeps each VM's private address as the source, which
is how the resource knows who asks.  Where no CC owns the router (SYSTEM
mode), the site's router must do the same DNAT to this port.  Where the
VMs' router is a network namespace on this very host (the lab),
``METADATA_NETNS`` binds the port inside it (``namespace``).
"""

import io

from twisted.application import internet
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.web import http, server
from zope.interface import implementer

from eucad.clc.metadata.namespace import NamespacedTCPServer
from eucad.clc.metadata.resource import MetadataResource
from eucad.common.httpguard import RequestLimits, guardSite

SERVICE_NAME = "metadata"


class DiscardedBody(io.BytesIO):
    """A request body that keeps nothing: the service reads none."""

    def write(self, data):
        return len(data)


class MetadataRequest(server.Request):
    """
    A request whose body, if a VM sends one, is dropped as it arrives,
    neither kept in memory nor spilled to a temporary file.
    """

    def gotLength(self, length):
        self.content = DiscardedBody()


def noBody(method, target, headers):
    """The service reads no request body: any declared one is too large."""
    return 0


@implementer(IHalfCloseableProtocol)
class AnsweringHalfClosedChannel(http.HTTPChannel):
    """
    Answers a guest that closes its sending side after its request, as
    ``printf 'GET ...' | nc 169.254.169.254 80`` does in minimal images.
    twisted.web's channel takes the end of the request stream for the end
    of the connection and drops the answer still being looked up; this one
    answers the requests under way first, then closes.
    """

    def readConnectionLost(self):
        # Nothing more will come: no keep-alive after the answers under way.
        self.persistent = False
        if not self.requests:
            self.transport.loseConnection()

    def writeConnectionLost(self):
        self.transport.loseConnection()


def makeMetadataSite(db, clock=None):
    """
    A web site with the metadata tree at its root, under the limits every
    eucad site keeps (``eucad.common.httpguard``): it faces the VMs, so a
    guest that trickles its headers is cut off at the deadline, an
    overlong request line is answered 414, and a request that declares a
    body (or sends a chunked one) is refused from its headers, plain text.
    A guest that half-closes after its request is answered
    (``AnsweringHalfClosedChannel``).
    """
    site = server.Site(MetadataResource(db))
    site.requestFactory = MetadataRequest
    site.protocol = AnsweringHalfClosedChannel
    return guardSite(site, RequestLimits(bodyLimit=noBody, clock=clock))


def makeMetadataServer(conf, db, reactor=None):
    """
    The named (``metadata``) TCP service the CLC's tap adds as a child: on
    METADATA_LISTEN:METADATA_PORT, inside the network namespace
    METADATA_NETNS when one is named.
    """
    port, host = int(conf.get("METADATA_PORT")), conf.get("METADATA_LISTEN")
    site = makeMetadataSite(db)
    if conf.get("METADATA_NETNS"):
        web = NamespacedTCPServer(conf.get("METADATA_NETNS"), host, port, site, reactor=reactor)
    else:
        kwargs = {"interface": host}
        if reactor is not None:
            kwargs["reactor"] = reactor
        web = internet.TCPServer(port, site, **kwargs)
    web.setName(SERVICE_NAME)
    return web
