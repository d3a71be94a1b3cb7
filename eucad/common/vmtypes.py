"""The VM types of a fresh install (DESIGN.md, as in the Eucalyptus 1.4 guide),
and the one count of how many instances of a type fit into some room.

The CLC stores the types in its database, where the admin may edit them; the
CC starts from them and learns the CLC's definitions from every run spec.
Both count room with ``instancesThatFit``, so that the CLC's estimate and the
CC's answer agree.
"""

#: name, cpu, ram MiB, disk GiB.
DEFAULT_VMTYPES = (
    {"name": "m1.small", "cpu": 1, "ram": 128, "disk": 10},
    {"name": "c1.medium", "cpu": 1, "ram": 256, "disk": 10},
    {"name": "m1.large", "cpu": 2, "ram": 512, "disk": 10},
    {"name": "m1.xlarge", "cpu": 2, "ram": 1024, "disk": 20},
    {"name": "c1.xlarge", "cpu": 4, "ram": 2048, "disk": 20},
)


def instancesThatFit(vmType, cpu, ram, disk):
    """
    How many instances of ``vmType`` fit side by side into ``cpu`` cores,
    ``ram`` MiB and ``disk`` GiB: the scarcest resource decides.

    A resource the type asks none of (0, as an admin may set it) does not
    limit the count; room already overbooked (negative) holds none.  A type
    that asks for nothing at all has no size to count with and fits none,
    rather than without end.
    """
    needs = ((vmType["cpu"], cpu), (vmType["ram"], ram), (vmType["disk"], disk))
    counts = [have // need for need, have in needs if need > 0]
    return max(0, min(counts)) if counts else 0
