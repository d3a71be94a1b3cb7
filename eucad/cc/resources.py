"""How many instances of each VM type the cluster can hold.

``ICluster.describeResources`` answers, per VM type, ``max`` (instances the
up nodes could hold if empty) and ``free`` (instances they can still take);
the CLC turns ``free`` into its capacity check and the admin's
``euca-describe-availability-zones verbose`` table.  A node's room for a type
is the smallest of its cpu, ram and disk divided by the type's needs: a node
is not split across instances.
"""

from eucad.common.records import VmType, VmTypeRoom
from eucad.common.vmtypes import DEFAULT_VMTYPES, instancesThatFit


def fits(size, room):
    """Whether ``size`` (cpu, ram, disk) fits into ``room``."""
    return all(need <= have for need, have in zip(size, room))


def countFitting(vmType, room):
    """How many instances of ``vmType`` fit side by side into ``room`` (cpu, ram, disk)."""
    return instancesThatFit(vmType, *room)


def subtract(room, size):
    """``room`` after ``size`` was taken out of it."""
    return tuple(have - need for have, need in zip(room, size))


class VmTypes:
    """
    The VM types the CC reports capacity for, in a stable order.

    The CC has no call that hands it the CLC's table, so it starts from the
    defaults and learns each type a run spec carries (same name = replaced).
    """

    def __init__(self, vmTypes=DEFAULT_VMTYPES):
        self._types = {}
        for vmType in vmTypes:
            self.learn(vmType if isinstance(vmType, VmType) else VmType.fromDict(vmType))

    def learn(self, vmType):
        """Know ``vmType`` (a VmType) from now on."""
        self._types[vmType.name] = vmType

    def all(self):
        return list(self._types.values())


def capacity(vmTypes, nodes):
    """
    ``max``/``free`` per VM type.

    @param vmTypes: a list of VmType.
    @param nodes: ``(total, free)`` pairs of (cpu, ram, disk), one per up node.
    @return: a ``VmTypeRoom`` per type.
    """
    return [VmTypeRoom(vmType=vmType,
                       max=sum(countFitting(vmType, total) for total, _ in nodes),
                       free=sum(countFitting(vmType, free) for _, free in nodes))
            for vmType in vmTypes]
