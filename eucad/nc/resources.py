"""What this host can give to instances, and what is left.

Totals are the admin's MAX_CORES / MAX_MEM (MiB) / MAX_DISK (GiB) from
eucalyptus.conf, each 0 meaning "what the host has": its CPU count, its
memory (/proc/meminfo) and the size of the file system holding
INSTANCE_PATH.  What is free is the totals minus what the node's live
instances hold by their VM types, which is what the CC places against; the
NC refuses a run that would overcommit, so two CCs (or a confused one) can
never push a node past its limits.
"""

import os
import shutil

MIB = 1024 * 1024
GIB = 1024 * MIB


class Capacity:
    """Amounts of cpu (cores), ram (MiB) and disk (GiB)."""

    def __init__(self, cpu=0, ram=0, disk=0):
        self.cpu = cpu
        self.ram = ram
        self.disk = disk

    def __repr__(self):
        return "<Capacity cpu=%d ram=%dMiB disk=%dGiB>" % (self.cpu, self.ram, self.disk)

    def __eq__(self, other):
        return isinstance(other, Capacity) and (
            (self.cpu, self.ram, self.disk) == (other.cpu, other.ram, other.disk))

    @classmethod
    def ofVmType(cls, vmType):
        return cls(vmType["cpu"], vmType["ram"], vmType["disk"])

    def __add__(self, other):
        return Capacity(self.cpu + other.cpu, self.ram + other.ram, self.disk + other.disk)

    def __sub__(self, other):
        return Capacity(self.cpu - other.cpu, self.ram - other.ram, self.disk - other.disk)

    def covers(self, other):
        """True if ``other`` fits in this amount."""
        return (other.cpu <= self.cpu and other.ram <= self.ram
                and other.disk <= self.disk)


def memoryMiB(meminfoPath="/proc/meminfo"):
    """MemTotal of the host in MiB."""
    with open(meminfoPath, encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise ValueError("no MemTotal in %s" % (meminfoPath,))


def diskGiB(path):
    """Size in GiB of the file system that holds ``path`` (or will)."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return shutil.disk_usage(path).total // GIB


def measureHost(instancePath, maxCores=0, maxMem=0, maxDisk=0,
                meminfoPath="/proc/meminfo"):
    """
    The node's totals: the conf's limits, or the host's own figures where a
    limit is 0.  Blocking (reads /proc and statvfs): call it in a thread.
    """
    return Capacity(maxCores or os.cpu_count() or 1,
                    maxMem or memoryMiB(meminfoPath),
                    maxDisk or diskGiB(instancePath))


def heldBy(vmTypes):
    """What instances of the given VM types hold together."""
    total = Capacity()
    for vmType in vmTypes:
        total = total + Capacity.ofVmType(vmType)
    return total
