"""MANAGED-NOVLAN mode: security groups and elastic IPs on one flat network.

As MANAGED, each (user, security group) with instances gets its own slice of
the VM subnet, its chain and its elastic IPs, but no tag: every instance is
on the nodes' VNET_BRIDGE, and the front end holds each active slice's router
address (.1) on VNET_PRIVINTERFACE, where dhcpd answers (the slices in one
``shared-network``: they are one wire).  Instances of different groups are
on different subnets, so they meet only through the front end's router and
its FORWARD rules; the front end sends no ICMP redirects on that interface,
which would tell them to meet directly.
"""

from eucad.cc.vnet import links
from eucad.cc.vnet.groupmode import GroupModeNetwork


class ManagedNoVlanNetwork(GroupModeNetwork):
    """A slice and a chain per group on one bridge; see the module docstring."""

    mode = "MANAGED-NOVLAN"

    def _linksUp(self, network):
        return [links.addAddress(network.routerCidr, self.settings.privInterface)]

    def _linksDown(self, network):
        return [links.deleteAddress(network.routerCidr, self.settings.privInterface)]

    #: dhcpd's name for the one physical network every slice is on.
    SHARED_NETWORK = "eucad-novlan"

    def _startCommands(self):
        """
        No ICMP redirects from the private interface: instances of different
        groups share its wire, and a redirect would tell one to reach the
        other directly, round the FORWARD rules.
        """
        return [links.noRedirects(self.settings.privInterface)]

    def _linksPresent(self, network):
        """
        Whether the slice's router address is still on the private interface.
        A restarted CC keeps it: taking it off, even for a moment, takes the
        slice's route with it and cuts the instances off.
        """
        d = self.runner.run(links.showAddresses(self.settings.privInterface), check=False)
        # A listing that failed says nothing: the address is kept, not taken off.
        return d.addCallback(lambda result: result.code != 0 or network.routerCidr in
                             links.addressesIn(result.out.decode("utf-8", "replace")))

    def nodeBridge(self, allocation):
        return self.settings.bridge

    def dhcpSharedNetwork(self):
        return self.SHARED_NETWORK

    def dhcpInterfaces(self):
        """The private interface while a slice is served (dhcpd needs a subnet there)."""
        if any(network.members for network in self.networks):
            return [self.settings.privInterface]
        return []
