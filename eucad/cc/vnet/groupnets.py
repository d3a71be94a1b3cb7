"""Which security group holds which tag, subnet slice and addresses (MANAGED modes).

Plain bookkeeping, no I/O: the MANAGED modes ask ``GroupNetworks.join`` for
an address when an instance of (owner, group) is allocated and give it back
with ``leave``.  A group's network exists while it has members: the first
member takes the lowest free tag (VLAN id or VXLAN VNI; none in
MANAGED-NOVLAN) and the lowest free slice of VNET_ADDRSPERNET addresses of
the VM subnet; in a slice, .0 is the network, .1 the router on the front
end, the last the broadcast, the rest go to instances lowest first.  When
something runs out, ``join`` raises a ``CloudError`` that says what and takes
nothing.  ``forget`` frees the tag and slice of a network with no members
(the mode calls it once the links are gone).
"""

import ipaddress

from eucad.common.errors import CloudError


def _capacityError(message):
    # The CLC passes this code on to RunInstances, like a lack of node room.
    return CloudError("InsufficientInstanceCapacity", message, 500)


class GroupNetwork:
    """
    One (owner, group)'s network while it has instances.

    @ivar members: instanceId -> private IP (str).
    @ivar nodes: instanceId -> the node's address (for VXLAN flood peers).
    @ivar up: whether the front end's links for it exist (set by the mode).
    @ivar peers: the flood peers applied on the front end (set by the mode).
    """

    def __init__(self, owner, group, tag, network):
        self.owner = owner
        self.group = group
        self.tag = tag
        self.network = network
        self.members = {}
        self.nodes = {}
        self.up = False
        self.peers = set()

    @property
    def key(self):
        return (self.owner, self.group)

    @property
    def router(self):
        return self.network.network_address + 1

    @property
    def routerCidr(self):
        return "%s/%d" % (self.router, self.network.prefixlen)

    def wantedPeers(self):
        """Nodes that run members of this group now."""
        return {node for node in self.nodes.values() if node}


class GroupNetworks:
    """
    @param subnet: the VM subnet (IPv4Network).
    @param perNet: VNET_ADDRSPERNET.
    @param tags: the usable tag range, or None for untagged networks.
    """

    def __init__(self, subnet, perNet, tags=None):
        self.subnet = ipaddress.IPv4Network(subnet)
        self.perNet = perNet
        self.tags = tags
        self.sliceCount = self.subnet.num_addresses // perNet
        self.byKey = {}

    def __iter__(self):
        return iter(sorted(self.byKey.values(), key=lambda n: n.key))

    def get(self, owner, group):
        return self.byKey.get((owner, group))

    def owning(self, instanceId):
        for network in self.byKey.values():
            if instanceId in network.members:
                return network
        return None

    def _slice(self, index):
        return ipaddress.IPv4Network((int(self.subnet.network_address) + index * self.perNet,
                                      32 - (self.perNet.bit_length() - 1)))

    def _newNetwork(self, owner, group):
        usedSlices = {n.network for n in self.byKey.values()}
        network = next((self._slice(i) for i in range(self.sliceCount)
                        if self._slice(i) not in usedSlices), None)
        if network is None:
            raise _capacityError(
                "no free network for security group %s/%s: all %d slices of %d addresses "
                "in %s are in use" % (owner, group, self.sliceCount, self.perNet, self.subnet))
        tag = None
        if self.tags is not None:
            usedTags = {n.tag for n in self.byKey.values()}
            # Bounded by the number of networks in use, not the size of the range.
            tag = next((t for t in self.tags[:len(usedTags) + 1] if t not in usedTags), None)
            if tag is None:
                raise _capacityError(
                    "no free tag for security group %s/%s: all %d tags (%d..%d) are in use"
                    % (owner, group, len(self.tags), self.tags[0], self.tags[-1]))
        return GroupNetwork(owner, group, tag, network)

    def join(self, owner, group, instanceId, node=None):
        """
        Give ``instanceId`` an address in its group's network (made if needed).

        @return: (GroupNetwork, private IP as str)
        @raise CloudError: no slice, tag or address left; nothing was taken.
        """
        network = self.byKey.get((owner, group))
        fresh = network is None
        if fresh:
            network = self._newNetwork(owner, group)
        used = set(network.members.values())
        first = int(network.network.network_address) + 2
        last = int(network.network.broadcast_address) - 1
        address = next((str(ipaddress.IPv4Address(n)) for n in range(first, last + 1)
                        if str(ipaddress.IPv4Address(n)) not in used), None)
        if address is None:
            raise _capacityError(
                "security group %s/%s's network %s is full (%d instances)" % (
                    owner, group, network.network, len(used)))
        if fresh:
            self.byKey[network.key] = network
        network.members[instanceId] = address
        network.nodes[instanceId] = node
        return network, address

    def adopt(self, owner, group, instanceId, address, tag, network, node=None):
        """Take back a member recorded before a restart (same tag, slice, address)."""
        group_ = self.byKey.get((owner, group))
        if group_ is None:
            group_ = GroupNetwork(owner, group, tag, ipaddress.IPv4Network(network))
            self.byKey[group_.key] = group_
        group_.members[instanceId] = address
        group_.nodes[instanceId] = node
        return group_

    def leave(self, instanceId):
        """Remove ``instanceId`` from its network; returns that network or None."""
        network = self.owning(instanceId)
        if network is not None:
            del network.members[instanceId]
            network.nodes.pop(instanceId, None)
        return network

    def forget(self, network):
        """Free the tag and slice of ``network`` (it must have no members)."""
        if network.members:
            raise ValueError("%s/%s still has instances" % network.key)
        if self.byKey.get(network.key) is network:
            del self.byKey[network.key]
