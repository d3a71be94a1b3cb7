"""Keeps the cluster's dhcpd serving the host entries of the current allocations.

The ``ClusterController`` asks for a refresh after every change to the
allocations (before a node boots a new instance, so its DHCP request is
answered; after terminations and restarts).  Modes without DHCP have no
dhcpd, and a refresh is then nothing.

The name servers the administrator chose for the whole cloud (the CLC's
``ClusterSettings``) replace every subnet's ``domain-name-servers`` (the
mode's VNET_DNS) once ``setDnsServers`` was given some; the mode's own
subnets are left as they are, each refresh renders copies.
"""

import copy
import ipaddress

from twisted.internet import defer

from eucad.cc.dhcpdconfig import DhcpdConfig


class DhcpRefresh:
    """
    @param network: the mode's ``VirtualNetwork`` (its ``dhcpConfig`` and
        ``dhcpInterfaces``).
    @param dhcpd: a ``DhcpdProcess``, or None; ignored when the mode uses no DHCP.
    """

    def __init__(self, network, dhcpd=None):
        self.network = network
        self.dhcpd = dhcpd if network.usesDhcp else None
        #: The cloud's name servers (IPv4Address list), or None: the mode's VNET_DNS.
        self.dnsServers = None

    def setDnsServers(self, servers):
        """
        Serve ``servers`` (IPv4 address strings; empty: the mode's own
        VNET_DNS again) from the next ``apply`` on.
        """
        self.dnsServers = [ipaddress.IPv4Address(s) for s in servers] or None

    def config(self):
        """The mode's DhcpdConfig, with the cloud's name servers in every subnet."""
        config = self.network.dhcpConfig()
        if self.dnsServers is None:
            return config
        subnets = []
        for subnet in config.subnets:
            subnet = copy.copy(subnet)
            subnet.dns = list(self.dnsServers)
            subnets.append(subnet)
        return DhcpdConfig(subnets, config.hosts, leaseSeconds=config.leaseSeconds,
                           sharedNetwork=config.sharedNetwork)

    def apply(self):
        """Serve the current entries; a Deferred that fires once dhcpd took them."""
        if self.dhcpd is None:
            return defer.succeed(None)
        return self.dhcpd.apply(self.config(), self.network.dhcpInterfaces())
