"""Listening inside a named network namespace, for the metadata service.

On a real front end the cluster controller DNATs 169.254.169.254:80 to the
CLC's address.  When the VMs' router is instead a network namespace on the
CLC's own host (the lab and the all-in-one cloud: the CC drives dhcpd and
iptables in ``VNET_NETNS``), nothing in that namespace can reach the
daemons' loopback; ``METADATA_NETNS`` then makes the CLC bind its metadata
port inside that namespace, where the VMs' traffic arrives with their own
source addresses.

The socket is made by a short-lived thread that enters the namespace
(``eucad.common.netnssocket``) and ends; the reactor adopts the listening
socket, so the daemon itself never leaves its own namespace.
"""

import socket

from twisted.application.service import Service

from eucad.common.netnssocket import NamespaceError, makeSocketIn, namespacePath

__all__ = ["NamespaceError", "NamespacedTCPServer", "listeningSocketIn", "namespacePath"]

BACKLOG = 50


def addressFamily(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listeningSocketIn(name, host, port):
    """
    A non-blocking TCP socket listening on ``host:port`` inside the network
    namespace ``name`` (made by ``eucad.common.netnssocket``); the caller's
    thread stays where it is.
    """
    namespacePath(name)  # a bad or empty name is refused, never "right here"

    def make():
        sock = socket.socket(addressFamily(host), socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock
    return makeSocketIn(name, make)


class NamespacedTCPServer(Service):
    """
    Like ``internet.TCPServer``, but the port is bound inside the network
    namespace ``namespace`` when the service starts.
    """

    def __init__(self, namespace, host, port, factory, reactor=None):
        self.namespace = namespace
        self.host = host
        self.portNumber = port
        self.factory = factory
        self.reactor = reactor
        self.port = None

    def startService(self):
        reactor = self.reactor
        if reactor is None:
            from twisted.internet import reactor
        sock = listeningSocketIn(self.namespace, self.host, self.portNumber)
        try:
            self.port = reactor.adoptStreamPort(sock.fileno(), sock.family, self.factory)
        finally:
            # The reactor holds its own duplicate of the descriptor.
            sock.close()
        Service.startService(self)

    def stopService(self):
        Service.stopService(self)
        port, self.port = self.port, None
        if port is not None:
            return port.stopListening()
        return None
