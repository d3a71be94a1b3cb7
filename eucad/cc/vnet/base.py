"""What every network mode does for the cluster controller.

A mode decides, per instance, its MAC address, private and public IP and the
bridge its interface joins on the node, and undoes that on termination.  The
``ClusterController`` keeps each allocation in its state file and hands it
back through ``adopt`` after a restart, so a mode holds no state of its own on
disk.  Modes that serve DHCP say so with ``usesDhcp`` and render the entries
through ``dhcpConfig``.

``allocate`` and ``release`` may return a Deferred (MANAGED will run iptables
and ip on the way); whatever must not be handed out twice is taken
synchronously, before the first yield, so concurrent requests never share it.
"""

from twisted.internet import defer

#: The address describe-instances shows when the CC does not know one (guide).
UNKNOWN_ADDRESS = "0.0.0.0"


class VirtualNetwork:
    """
    Base of the network modes: the table of allocations and the node's view.

    @ivar allocations: instanceId -> ``{"macAddress", "privateIp",
        "publicIp", ...}``; a mode may add its own keys (all plain data).
    """

    #: The VNET_MODE value the subclass implements.
    mode = None
    #: Whether the CC runs dhcpd with this mode's host entries.
    usesDhcp = False
    #: Whether the CC picks the private address (False: learnt afterwards).
    assignsAddresses = True

    def __init__(self, bridge, mtu=None):
        self.bridge = bridge
        self.mtu = mtu
        self.allocations = {}

    def allocate(self, instanceId, owner, group, node=None):
        """
        Take a MAC and addresses for ``instanceId`` of ``owner``'s ``group``.

        @param node: the address of the node that will run it (the MANAGED
            modes follow the nodes in use; the flat modes ignore it).

        @return: the allocation dict (or a Deferred firing with it).
        @raise CloudError: when the mode has nothing left to give.
        """
        raise NotImplementedError("%s must implement allocate" % (type(self).__name__,))

    def release(self, instanceId):
        """Give back what ``instanceId`` held; unknown ids are ignored."""
        self.allocations.pop(instanceId, None)

    def adopt(self, instanceId, allocation):
        """Take back an allocation made before a restart (from the state file)."""
        self.allocations[instanceId] = dict(allocation)

    def learn(self, instanceId, privateIp):
        """
        Record an address found after the fact (SYSTEM mode: the node or the
        guest reported it).  Returns True if the allocation changed.
        """
        allocation = self.allocations.get(instanceId)
        if allocation is None or self.assignsAddresses or not privateIp or \
                privateIp == UNKNOWN_ADDRESS or allocation["privateIp"] == privateIp:
            return False
        allocation["privateIp"] = privateIp
        allocation["publicIp"] = privateIp
        return True

    def takenMacs(self):
        return {a["macAddress"] for a in self.allocations.values()}

    def nodeNetwork(self, allocation, owner, group):
        """The ``network`` part of the node's run spec for ``allocation``."""
        return {"owner": owner, "group": group, "bridge": self.bridge,
                "mtu": allocation.get("mtu", self.mtu),
                "privateIp": allocation["privateIp"],
                "publicIp": allocation["publicIp"]}

    def dhcpConfig(self):
        """The DhcpdConfig to serve, or None when the mode has no DHCP."""
        return None

    def dhcpInterfaces(self):
        """The interfaces dhcpd listens on (only asked when ``usesDhcp``)."""
        return []

    def setUp(self):
        """Prepare the front end's data plane at start (nothing for flat modes)."""
        return defer.succeed(None)

    def tearDown(self):
        """Undo ``setUp`` at stop."""
        return defer.succeed(None)
