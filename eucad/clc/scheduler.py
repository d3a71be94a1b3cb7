"""Which availability zone a launch goes to, and how many instances it gets.

Pure functions over the clusters' ``describeResources`` answers, so that
placement policy is tested without any cluster: the requested zone if one was
named, else the zone with the most room for the VM type (first in CLUSTERS
order on a tie).  A launch gets as many instances as fit, up to MaxCount,
and fails unless at least MinCount fit.
"""

from eucad.common.errors import CloudError
from eucad.common.vmtypes import instancesThatFit

NO_ROOM = "Not enough resources available"


#: The keys of a node's room in a ``describeResources`` answer.
FREE_ROOM = ("freeCpu", "freeRam", "freeDisk")
TOTAL_ROOM = ("cpu", "ram", "disk")


def _count(resources, vmtype, reportedKey, roomKeys):
    """
    The cluster's own ``reportedKey`` count of ``vmtype`` when it reports the
    same type with the same size; otherwise (an admin edited the type at the
    CLC) the count made from its up nodes' ``roomKeys`` (cpu, ram, disk).
    """
    for entry in resources.get("vmtypes", []):
        if (entry.get("name") == vmtype["name"]
                and all(entry.get(k) == vmtype[k] for k in ("cpu", "ram", "disk"))):
            return max(0, int(entry.get(reportedKey, 0)))
    cpu, ram, disk = roomKeys
    return sum(instancesThatFit(vmtype, node.get(cpu, 0), node.get(ram, 0),
                                node.get(disk, 0))
               for node in resources.get("nodes", []) if node.get("state") == "up")


def freeFor(resources, vmtype):
    """How many more instances of ``vmtype`` a cluster holds."""
    return _count(resources, vmtype, "free", FREE_ROOM)


def maxFor(resources, vmtype):
    """How many instances of ``vmtype`` the cluster holds when empty."""
    return _count(resources, vmtype, "max", TOTAL_ROOM)


def chooseZone(answers, vmtype, minCount, maxCount, requestedZone=None):
    """
    @param answers: ``{zone: describeResources result, or an exception}`` in
        CLUSTERS order; a zone that failed to answer has no room.
    @return: ``(zone, count)`` with ``minCount <= count <= maxCount``.
    @raise CloudError: InsufficientInstanceCapacity when no zone (or not the
        requested one) holds ``minCount``.
    """
    candidates = [requestedZone] if requestedZone else list(answers)
    best, bestFree = None, -1
    for zone in candidates:
        resources = answers.get(zone)
        free = freeFor(resources, vmtype) if isinstance(resources, dict) else 0
        if free > bestFree:
            best, bestFree = zone, free
    if best is None or bestFree < minCount:
        raise CloudError("InsufficientInstanceCapacity", NO_ROOM, 500)
    return best, min(maxCount, bestFree)
