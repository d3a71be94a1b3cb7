"""Which node runs which instance, decided all or none and reserved at once.

``ClusterController.runInstances`` asks ``Placement.place`` for a node per
instance.  A node's room is what its last poll said is free, minus the
instances placed on it that the node has not listed yet: a node's report only
catches up with a start after the next poll, and two requests arriving
between polls must not both take the same room.  ``place`` is synchronous, so
the check and the reservation cannot interleave with another request.

Policies (``SCHEDPOLICY``, as in Eucalyptus): ``ROUNDROBIN`` (default) starts
each instance on the next node after the previous choice that has room;
``GREEDY`` fills nodes in ``NODES`` order.
"""

from eucad.cc import resources
from eucad.common.errors import CloudError

POLICIES = ("ROUNDROBIN", "GREEDY")


def insufficientCapacity():
    return CloudError("InsufficientInstanceCapacity",
                      "Not enough resources available", 500)


class Placement:
    """
    Reservations of node capacity, one per instance the cluster placed.

    @param registry: the ``NodeRegistry`` whose up nodes may be chosen.
    """

    def __init__(self, registry, policy="ROUNDROBIN"):
        policy = (policy or "ROUNDROBIN").upper()
        if policy not in POLICIES:
            raise ValueError("SCHEDPOLICY must be one of %s, not %r" % (
                ", ".join(POLICIES), policy))
        self.registry = registry
        self.policy = policy
        self.reservations = {}
        self._lastChosen = None

    def reserve(self, instanceId, nodeName, vmType):
        """Hold ``vmType``'s size on ``nodeName`` for ``instanceId``."""
        self.reservations[instanceId] = (nodeName, vmType.size)

    def release(self, instanceId):
        """Give back what ``instanceId`` held; unknown ids are ignored."""
        self.reservations.pop(instanceId, None)

    def room(self, entry):
        """(cpu, ram, disk) that ``entry`` can still take."""
        room = entry.reportedFree()
        for instanceId, (nodeName, size) in self.reservations.items():
            if nodeName == entry.name and instanceId not in entry.instances:
                room = resources.subtract(room, size)
        return room

    def place(self, specs):
        """
        Choose a node for every spec and reserve its room.

        @param specs: ``RunSpec``s.
        @return: the chosen ``NodeEntry`` per spec, in order.
        @raise CloudError: ``InsufficientInstanceCapacity`` when the up nodes
            cannot hold all of them; nothing is reserved then.
        """
        candidates = self.registry.upEntries()
        rooms = {entry.name: self.room(entry) for entry in candidates}
        chosen = []
        last = self._lastChosen
        for spec in specs:
            size = spec.vmType.size
            entry = self._choose(candidates, rooms, size, last)
            if entry is None:
                raise insufficientCapacity()
            rooms[entry.name] = resources.subtract(rooms[entry.name], size)
            chosen.append(entry)
            last = entry.name
        for spec, entry in zip(specs, chosen):
            self.reserve(spec.instanceId, entry.name, spec.vmType)
        if chosen:
            self._lastChosen = last
        return chosen

    def _choose(self, candidates, rooms, size, last):
        order = list(candidates)
        if self.policy == "ROUNDROBIN" and last is not None:
            names = [entry.name for entry in order]
            if last in names:
                start = names.index(last) + 1
                order = order[start:] + order[:start]
        for entry in order:
            if resources.fits(size, rooms[entry.name]):
                return entry
        return None
