"""Which node runs which instance, decided all or none and reserved at once.

``ClusterController.runInstances`` asks ``Placement.place`` for a node per
instance.  A node's room is what its last poll said is free, minus the
instances placed on it that the node has not listed yet: a node's report only
catches up with a start after the next poll, and two requests arriving
between polls must not both take the same room.  ``place`` is synchronous, so
the check and the reservation cannot interleave with another request.

Policies (``SCHEDPOLICY``, as in Eucalyptus): ``ROUNDROBIN`` (default) starts
each instance on the next node after the previous choice that has room;
``GREEDY`` fills nodes in ``NODES`` order; ``POWERSAVE`` packs instances on
the fewest nodes (nodes that hold instances first, then idle awake ones,
then sleeping ones) and, with an ``eucad.cc.power.NodePower``, counts the
room of sleeping nodes and wakes the ones it chose (``whenReady``) before
anything else is done for the request.
"""

from twisted.internet import defer

from eucad.cc import resources
from eucad.cc.power import NodePower, PowerSettings
from eucad.common.errors import CloudError

POLICIES = ("ROUNDROBIN", "GREEDY", "POWERSAVE")


def insufficientCapacity():
    return CloudError("InsufficientInstanceCapacity",
                      "Not enough resources available", 500)


class Placement:
    """
    Reservations of node capacity, one per instance the cluster placed.

    @param registry: the ``NodeRegistry`` whose up nodes may be chosen.
    @param power: the ``NodePower`` of POWERSAVE, or None (no node sleeps).
    """

    def __init__(self, registry, policy="ROUNDROBIN", power=None):
        policy = (policy or "ROUNDROBIN").upper()
        if policy not in POLICIES:
            raise ValueError("SCHEDPOLICY must be one of %s, not %r" % (
                ", ".join(POLICIES), policy))
        self.registry = registry
        self.policy = policy
        self.reservations = {}
        self._lastChosen = None
        self.power = power
        if power is not None:
            power.busy = self.holdsAnything

    def holdsAnything(self, entry):
        """Whether an instance is placed on ``entry``."""
        return any(nodeName == entry.name for nodeName, _ in self.reservations.values())

    def available(self):
        """
        The nodes whose room counts: the up ones, and with POWERSAVE the
        sleeping ones that may be woken (in NODES order).
        """
        if self.power is None:
            return self.registry.upEntries()
        return [entry for entry in self.registry.entries
                if self.power.usable(entry) or self.power.sleeping(entry)]

    def asleep(self, entry):
        """Whether POWERSAVE put ``entry`` to sleep (never without POWERSAVE)."""
        return self.power is not None and self.power.asleep(entry)

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
        candidates = self.available()
        if self.policy == "POWERSAVE":
            candidates = self._packingOrder(candidates)
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

    def _packingOrder(self, candidates):
        """Busy awake nodes, then idle awake ones, then sleeping ones."""
        def rank(entry):
            if self.power is not None and not self.power.usable(entry):
                return 2
            live = any(report.state != "terminated" for report in entry.instances.values())
            return 0 if live or self.holdsAnything(entry) else 1
        return sorted(candidates, key=rank)

    def whenReady(self, entries):
        """
        A Deferred that fires once every chosen node can be asked to run its
        instances: sleeping ones are woken first (POWERSAVE).  Fails with
        the first node's ``CloudError`` when one does not wake.
        """
        if self.power is None:
            return defer.succeed(None)
        waking = []
        for entry in entries:
            if entry not in waking and not self.power.usable(entry):
                waking.append(entry)
        if not waking:
            return defer.succeed(None)
        d = defer.gatherResults([self.power.wake(entry) for entry in waking],
                                consumeErrors=True)

        def firstError(failure):
            return failure.value.subFailure
        return d.addErrback(firstError)

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


def placementFromConf(conf, registry, runner, clock, powerStateFile=None):
    """
    The Placement that SCHEDPOLICY asks for; with POWERSAVE it carries a
    ``NodePower`` (the caller makes it a service) built from the POWER_* keys.

    @param runner: the ProcessRunner the sleep and wake commands run through.
    @param powerStateFile: the StateFile where POWERSAVE keeps the sleeping nodes.
    @raise ValueError: for a bad SCHEDPOLICY or POWER_* setting, one line each.
    """
    policy = (conf.get("SCHEDPOLICY") or "ROUNDROBIN").upper()
    power = None
    if policy == "POWERSAVE":
        settings = PowerSettings.fromConf(
            conf, [(entry.host, entry.port) for entry in registry.entries],
            conf.getInt("NC_PORT"))
        power = NodePower(registry, settings, runner, clock, stateFile=powerStateFile)
    return Placement(registry, policy, power)
