"""MANAGED mode: a tagged network and a bridge per (user, security group).

Each group with instances gets a tag -- an 802.1q VLAN id on
VNET_PRIVINTERFACE (``VNET_ENCAP=vlan``), or a VXLAN network identifier
(``VNET_ENCAP=vxlan``, for networks or kernels without 802.1q) whose
broadcast is replicated to every node running one of its instances -- and a
bridge ``eucabrTAG`` on the front end holding the group's router address
(the slice's .1), where dhcpd answers.  Nodes make the same link and bridge
for the tag and attach the VM there (``nodeNetwork`` names it), so groups
meet only through the front end's iptables.
"""

from eucad.cc.vnet import links
from eucad.cc.vnet.groupmode import GroupModeNetwork


class ManagedNetwork(GroupModeNetwork):
    """A tag, a bridge and a slice per group; see the module docstring."""

    mode = "MANAGED"

    def _tagRange(self):
        return self.settings.tags

    @property
    def encap(self):
        return self.settings.encap

    def _linksUp(self, network):
        return links.tagNetworkUp(self.encap, network.tag, self.settings.privInterface,
                                  local=self.settings.localIp,
                                  peers=sorted(network.wantedPeers()),
                                  routerCidr=network.routerCidr)

    def _linksDown(self, network):
        return links.tagNetworkDown(self.encap, network.tag, self.settings.privInterface)

    def _peersChanged(self, network, added, removed):
        if self.encap != "vxlan":
            return []
        return ([links.addFloodPeer(network.tag, peer) for peer in added] +
                [links.deleteFloodPeer(network.tag, peer) for peer in removed])

    def nodeBridge(self, allocation):
        return links.bridgeName(allocation["tag"])

    def _linksPresent(self, network):
        """
        Whether the group's bridge is still on the front end (its link and
        address with it).  Only an answer that it does not exist says no: a
        check that fails otherwise must not have live links taken down.
        """
        d = self.runner.run(["ip", "link", "show", "dev", links.bridgeName(network.tag)],
                            check=False)
        return d.addCallback(lambda result: result.code == 0 or
                             b"does not exist" not in result.err)

    def nodeNetwork(self, allocation, owner, group):
        """The node's part: the bridge and the tag it must make, and its flood peers."""
        spec = GroupModeNetwork.nodeNetwork(self, allocation, owner, group)
        spec["encap"] = self.encap
        spec["tag"] = allocation["tag"]
        if self.encap == "vxlan":
            spec["floodPeers"] = self.floodPeers(owner, group, allocation.get("node"))
        return spec

    @property
    def usesFloodPeers(self):
        """Whether nodes must be told their flood peers (VXLAN: ``floodsync``)."""
        return self.encap == "vxlan"

    def floodPeers(self, owner, group, node):
        """
        Where ``node`` replicates the broadcast of (owner, group)'s VXLAN: the
        front end and every other node running the group.  When the group
        starts on a node, or leaves one, the nodes already running it are
        told (``floodPeerMap``, sent by ``eucad.cc.vnet.floodsync``).
        """
        network = self.networks.get(owner, group)
        others = network.wantedPeers() if network is not None else set()
        return sorted(({str(self.settings.localIp)} | others) - {node})

    def floodPeerMap(self, node):
        """VNI -> flood peers of every group network with an instance on ``node``."""
        if not self.usesFloodPeers:
            return {}
        return {network.tag: self.floodPeers(network.owner, network.group, node)
                for network in self.networks
                if network.members and node in network.wantedPeers()}

    def dhcpInterfaces(self):
        return [links.bridgeName(n.tag) for n in self.networks if n.members]
