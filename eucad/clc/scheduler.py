"""Which availability zone a launch goes to, and how many instances it gets.

Pure functions over the clusters' ``describeResources`` answers
(``ClusterResources``), so that
placement policy is tested without any cluster: the requested zone if one was
named, else the zone with the most room for the VM type (first in CLUSTERS
order on a tie).  A launch gets as many instances as fit, up to MaxCount,
and fails unless at least MinCount fit.
"""

from eucad.common.errors import CloudError
from eucad.common.records import ClusterResources
from eucad.common.vmtypes import instancesThatFit

NO_ROOM = "Not enough resources available"


def _count(resources, vmType, reported, room):
    """
    The cluster's own ``reported`` count (of its ``VmTypeRoom``) of
    ``vmType`` when it reports the same type with the same size; otherwise
    (an admin edited the type at the CLC) the count made from its up nodes'
    ``room`` (cpu, ram, disk).  ``vmType`` is a ``VmType`` or the CLC's
    table row as a dict (which may ask for 0 of something).
    """
    size = (vmType["cpu"], vmType["ram"], vmType["disk"])
    for entry in resources.vmTypes:
        if entry.vmType.name == vmType["name"] and entry.vmType.size == size:
            return max(0, reported(entry))
    return sum(instancesThatFit(vmType, *room(node)) for node in resources.upNodes())


def freeFor(resources, vmType):
    """How many more instances of ``vmType`` a cluster holds."""
    return _count(resources, vmType, lambda entry: entry.free,
                  lambda node: (node.freeCpu, node.freeRam, node.freeDisk))


def maxFor(resources, vmType):
    """How many instances of ``vmType`` the cluster holds when empty."""
    return _count(resources, vmType, lambda entry: entry.max,
                  lambda node: (node.cpu, node.ram, node.disk))


def chooseZone(answers, vmType, minCount, maxCount, requestedZone=None):
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
        free = freeFor(resources, vmType) if isinstance(resources, ClusterResources) else 0
        if free > bestFree:
            best, bestFree = zone, free
    if best is None or bestFree < minCount:
        raise CloudError("InsufficientInstanceCapacity", NO_ROOM, 500)
    return best, min(maxCount, bestFree)
