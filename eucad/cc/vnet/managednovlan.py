"""MANAGED-NOVLAN mode: security groups and elastic IPs on one flat network.

As MANAGED, each (user, security group) with instances gets its own slice of
the VM subnet, its chain and its elastic IPs, but no tag: every instance is
on the nodes' VNET_BRIDGE, and the front end holds each active slice's router
address (.1) on VNET_PRIVINTERFACE, where dhcpd answers.  Instances of
different groups are on different subnets, so they meet only through the
front end's router and its FORWARD rules.
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

    def nodeBridge(self, allocation):
        return self.settings.bridge

    def dhcpInterfaces(self):
        return [self.settings.privInterface]
