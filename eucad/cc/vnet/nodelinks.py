"""The node's half of a MANAGED group network: its tagged link and bridge.

In MANAGED mode a VM's interface joins the bridge of its group's tag
(``eucabrTAG``), which the node must make before the domain starts and may
remove once its last instance of that tag is gone.  ``NodeGroupLinks`` does
that from the ``network`` part of the run spec the CC sends
(``ManagedNetwork.nodeNetwork``: ``encap``, ``tag``, ``floodPeers``), through
the node's process runner, with the same argv builders as the front end
(``links``).  With VXLAN the flood peers (the front end and the other nodes
running the group) change as instances come and go, on this node or
another one (a node added later): the CC tells each node the whole map with
``INode.setFloodPeers``, which the node controller hands to ``followPeers``.

Meant for the node controller (and used by the lab to play it): attach
before defining the domain, detach after destroying it.  Untagged networks
(MANAGED-NOVLAN, STATIC, SYSTEM: no ``tag``) need nothing here.
"""

from twisted.internet import defer
from twisted.logger import Logger

from eucad.cc.vnet import links

log = Logger()


class NodeGroupLinks:
    """
    @param runner: the node's ProcessRunner.
    @param device: the node's interface towards the front end.
    @param localIp: the node's address on it (VXLAN's local end).
    @ivar users: tag -> set of instance ids using it.
    @ivar peers: tag -> set of flood peers applied.
    """

    def __init__(self, runner, device, localIp=None):
        self.runner = runner
        self.device = device
        self.localIp = localIp
        self.users = {}
        self.peers = {}
        self.encaps = {}
        #: Adopted VXLAN tags whose flood entries were not read back yet.
        self.unread = set()
        self._lock = defer.DeferredLock()

    @defer.inlineCallbacks
    def _quietly(self, commands):
        for argv in commands:
            yield self.runner.run(argv, check=False)

    def attach(self, instanceId, network):
        """Make the tag's link and bridge if this is its first instance here."""
        tag = network.get("tag")
        if tag is None:
            return defer.succeed(network.get("bridge"))
        return self._lock.run(self._attach, instanceId, network, tag)

    def adopt(self, instanceId, network):
        """
        Count an instance a previous run of the node started (its links
        outlive the node controller); its flood peers are re-applied with the
        next attach or ``setPeers``.
        """
        tag = network.get("tag")
        if tag is None:
            return
        self.users.setdefault(tag, set()).add(instanceId)
        self.peers.setdefault(tag, set())
        self.encaps[tag] = network["encap"]
        if network["encap"] == "vxlan":
            # What the kernel holds is read before the first change.
            self.unread.add(tag)

    @defer.inlineCallbacks
    def _attach(self, instanceId, network, tag):
        encap = network["encap"]
        if tag not in self.users:
            peers = set(network.get("floodPeers") or ()) - {self.localIp}
            # Links of the tag left by an earlier run with no instance now.
            yield self._quietly(links.tagNetworkDown(encap, tag, self.device))
            commands = links.tagNetworkUp(encap, tag, self.device, local=self.localIp,
                                          peers=sorted(peers))
            try:
                for argv in commands:
                    yield self.runner.run(argv)
            except Exception:
                yield self._quietly(links.tagNetworkDown(encap, tag, self.device))
                raise
            self.users[tag] = set()
            self.peers[tag] = peers if encap == "vxlan" else set()
            self.encaps[tag] = encap
        self.users[tag].add(instanceId)
        if encap == "vxlan" and network.get("floodPeers") is not None:
            yield self._setPeers(tag, network["floodPeers"])
        return links.bridgeName(tag)

    def setPeers(self, tag, peers):
        """Replicate the tag's broadcast to exactly ``peers`` (VXLAN only)."""
        return self._lock.run(self._setPeers, tag, peers)

    def followPeers(self, peersByTag):
        """
        Replicate each VXLAN tag's broadcast to exactly its peers in
        ``peersByTag`` (VNI -> addresses, from the CC); tags this node does
        not carry are left to the launch that makes them.
        """
        @defer.inlineCallbacks
        def follow():
            for tag in sorted(peersByTag):
                if tag in self.users:
                    yield self._setPeers(tag, peersByTag[tag])
        return self._lock.run(follow)

    @defer.inlineCallbacks
    def _readPeers(self, tag):
        """The flood entries an earlier run of the node left on the tag's link."""
        result = yield self.runner.run(links.showFloodEntries(tag), check=False)
        if result.code == 0:
            self.peers[tag] = links.floodPeersIn(result.out.decode("utf-8", "replace"))
        self.unread.discard(tag)

    @defer.inlineCallbacks
    def _setPeers(self, tag, peers):
        if self.encaps.get(tag) != "vxlan":
            return
        if tag in self.unread:
            yield self._readPeers(tag)
        wanted = set(peers) - {self.localIp}
        for peer in sorted(wanted - self.peers[tag]):
            yield self.runner.run(links.addFloodPeer(tag, peer))
            self.peers[tag].add(peer)
        for peer in sorted(self.peers[tag] - wanted):
            yield self.runner.run(links.deleteFloodPeer(tag, peer), check=False)
            self.peers[tag].discard(peer)

    def detach(self, instanceId, network):
        """Forget ``instanceId``; the tag's links go with its last instance here."""
        tag = network.get("tag")
        if tag is None:
            return defer.succeed(None)
        return self._lock.run(self._detach, instanceId, tag)

    @defer.inlineCallbacks
    def _detach(self, instanceId, tag):
        users = self.users.get(tag)
        if users is None:
            return
        users.discard(instanceId)
        if not users:
            yield self._quietly(links.tagNetworkDown(self.encaps[tag], tag, self.device))
            del self.users[tag], self.peers[tag], self.encaps[tag]
            self.unread.discard(tag)
