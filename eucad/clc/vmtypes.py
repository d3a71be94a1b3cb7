"""VM types: the sizes a user picks with ``InstanceType`` (DESIGN.md table).

The CLC owns the definitions; the scheduler and the spec sent to a cluster use
them (and ``eucad.common.vmtypes.instancesThatFit`` to count room for them).  Defaults are written once, into an empty table, so that an admin's
later edits are never overwritten at the next start.
"""

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from eucad.common.db import Base

from eucad.common.vmtypes import DEFAULT_VMTYPES  # noqa: F401 (re-exported)

DEFAULT_INSTANCE_TYPE = "m1.small"


class VmType(Base):
    __tablename__ = "vmtypes"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    cpu: Mapped[int] = mapped_column(Integer)
    ram: Mapped[int] = mapped_column(Integer)
    disk: Mapped[int] = mapped_column(Integer)

    def asDict(self):
        """The ``vmtype`` shape of ``eucad.common.interfaces``."""
        return {"name": self.name, "cpu": self.cpu, "ram": self.ram,
                "disk": self.disk}


def ensureDefaults(session):
    """Fill an empty table with the defaults; leave an edited one alone."""
    if session.scalars(select(VmType).limit(1)).first() is None:
        for vmtype in DEFAULT_VMTYPES:
            session.add(VmType(**vmtype))
        session.flush()


def listVmTypes(session):
    """Every type as a dict, smallest first (the order the guide lists them)."""
    rows = session.scalars(select(VmType)).all()
    rows.sort(key=lambda row: (row.cpu, row.ram, row.disk, row.name))
    return [row.asDict() for row in rows]


def findVmType(session, name):
    """The type called ``name`` as a dict, or None."""
    row = session.get(VmType, name)
    return None if row is None else row.asDict()
