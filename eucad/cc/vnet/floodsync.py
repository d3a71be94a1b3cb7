"""Keeps every node's VXLAN flood peers what the CC says they are.

In MANAGED mode on VXLAN a node replicates each group network's broadcast
(ARP, DHCP) to the front end and to the other nodes running that group.
That set changes on other nodes than the one a launch or a termination
touches: when a group's first instance starts on a node added to the
cluster later, the nodes already running the group must start flooding to
it, or their VMs' ARP requests never reach it.  ``FloodPeerSync`` computes
each node's whole map (``ManagedNetwork.floodPeerMap``) and sends it over
the CC -> NC link as one ``FloodPeers`` record (``INode.setFloodPeers``)
whenever it differs from what the node last took, or the node's link
connected again since (a restarted node controller starts from what the
kernel holds).

The ``ClusterController`` calls ``sync`` after every allocation and release
and after every poll (the safety net for a push that failed).  Pushes to one
node never overlap (``SerialPoll``); a failure is logged once and retried.
"""

from twisted.logger import Logger

from eucad.common.changes import SerialPoll
from eucad.common.errors import CloudError
from eucad.common.records import FloodPeers

log = Logger()


class FloodPeerSync:
    """
    @param network: the ``ManagedNetwork`` (``floodPeerMap(address)``).
    @param registry: the ``NodeRegistry`` (entries, their links).
    @param nodeAddress: ``f(node name)`` -> the node's address on the cluster
        network (its VXLAN endpoint).
    """

    def __init__(self, network, registry, nodeAddress):
        self.network = network
        self.registry = registry
        self.nodeAddress = nodeAddress
        #: node name -> (the map it took, (its link, the link's connectionCount) then)
        self.delivered = {}
        self._pushes = {}
        self._failing = set()

    def sync(self):
        """Push to every node that answers and may lack its current map; never fails."""
        for entry in self.registry.entries:
            if entry.up:
                self._serial(entry.name).soon()

    def stop(self):
        for push in self._pushes.values():
            push.stop()

    def _serial(self, name):
        push = self._pushes.get(name)
        if push is None:
            push = self._pushes[name] = SerialPoll(
                lambda: self._push(name), "flood peers of %s" % (name,))
        return push

    def _push(self, name):
        entry = self.registry.entry(name)
        address = self.nodeAddress(name)
        if entry is None or not entry.up or address is None:
            return None
        peers = self.network.floodPeerMap(address)
        connection = (entry.node, getattr(entry.node, "connectionCount", None))
        if self.delivered.get(name) == (peers, connection):
            return None
        d = entry.node.setFloodPeers(FloodPeers(peers))

        def took(_):
            self._failing.discard(name)
            self.delivered[name] = (peers, connection)
            log.debug("node {name} floods to {peers}", name=name, peers=peers)

        def refused(failure):
            failure.trap(CloudError)
            self.delivered.pop(name, None)
            if name not in self._failing:
                self._failing.add(name)
                log.warn("node {name} did not take its flood peers: {error}",
                         name=name, error=failure.value)
        return d.addCallbacks(took, refused)
