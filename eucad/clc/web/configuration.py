"""What the admin's configuration tab changes: the VM types.

VM types live in the CLC's database (``eucad.clc.vmtypes``) and the CLC reads
them at each RunInstances and DescribeAvailabilityZones, so a saved change
is in force at once and survives a restart.  The same sizes the guide's
tools accept: cpu 1-64 cores, memory 32-1048576 MiB, disk 1-100000 GiB.
"""

from eucad.clc.vmtypes import VmType, listVmTypes
from eucad.clc.web.store import WebError

LIMITS = {"cpu": (1, 64), "ram": (32, 1048576), "disk": (1, 100000)}
LABELS = {"cpu": "CPUs", "ram": "memory (MiB)", "disk": "disk (GiB)"}


def vmTypes(session):
    return listVmTypes(session)


def saveVmTypes(session, form):
    """
    Set every type's sizes from ``form`` (fields ``cpu.NAME``, ``ram.NAME``,
    ``disk.NAME``); nothing is changed unless every value is valid.
    """
    rows = {row.name: row for row in session.query(VmType)}
    changes = []
    for name in sorted(rows):
        for field, (low, high) in LIMITS.items():
            text = (form.get("%s.%s" % (field, name)) or "").strip()
            if not text.isdigit() or not low <= int(text) <= high:
                raise WebError("%s %s must be a whole number from %d to %d." % (
                    name, LABELS[field], low, high))
            changes.append((rows[name], field, int(text)))
    for row, field, value in changes:
        setattr(row, field, value)
    session.flush()
    return listVmTypes(session)
