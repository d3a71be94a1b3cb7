"""SYSTEM mode: a random MAC, the site's own DHCP server, no addresses of ours.

As in the guide: the instance's interface joins the node's bridge with a MAC
the CC makes up and gets its address from whatever DHCP server the site runs.
The CC does not know the address; describe-instances shows 0.0.0.0 until a
node reports one (``learn``).
"""

import random

from eucad.cc.vnet import macs
from eucad.cc.vnet.base import UNKNOWN_ADDRESS, VirtualNetwork


class SystemNetwork(VirtualNetwork):
    """Random locally administered MACs; nothing else to hand out."""

    mode = "SYSTEM"
    usesDhcp = False
    assignsAddresses = False

    def __init__(self, bridge, rng=None, macPrefix=macs.MAC_PREFIX):
        VirtualNetwork.__init__(self, bridge)
        self.rng = rng or random.SystemRandom()
        self.macPrefix = macPrefix

    def allocate(self, instanceId, owner, group, node=None):
        existing = self.allocations.get(instanceId)
        if existing is not None:
            return dict(existing)
        allocation = {"macAddress": macs.randomMac(self.takenMacs(), self.rng, self.macPrefix),
                      "privateIp": UNKNOWN_ADDRESS, "publicIp": UNKNOWN_ADDRESS}
        self.allocations[instanceId] = allocation
        return dict(allocation)
