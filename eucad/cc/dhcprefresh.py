"""Keeps the cluster's dhcpd serving the host entries of the current allocations.

The ``ClusterController`` asks for a refresh after every change to the
allocations (before a node boots a new instance, so its DHCP request is
answered; after terminations and restarts).  Modes without DHCP have no
dhcpd, and a refresh is then nothing.
"""

from twisted.internet import defer


class DhcpRefresh:
    """
    @param network: the mode's ``VirtualNetwork`` (its ``dhcpConfig`` and
        ``dhcpInterfaces``).
    @param dhcpd: a ``DhcpdProcess``, or None; ignored when the mode uses no DHCP.
    """

    def __init__(self, network, dhcpd=None):
        self.network = network
        self.dhcpd = dhcpd if network.usesDhcp else None

    def apply(self):
        """Serve the current entries; a Deferred that fires once dhcpd took them."""
        if self.dhcpd is None:
            return defer.succeed(None)
        return self.dhcpd.apply(self.network.dhcpConfig(), self.network.dhcpInterfaces())
