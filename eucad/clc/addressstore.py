"""Allocated public addresses and what each is associated with.

A row exists for every address a user holds; the free ones are the pool's
(``eucad.clc.addresspool``) without a row.  An association with an instance
that has since terminated counts as none (and is cleared at the next change),
so that terminating an instance frees its address for reuse without any
other flow having to know about addresses.  Functions run inside
``Database.run``; mutations return the ``changes`` the network must apply,
as dicts ``{"kind": "associate"|"disassociate", publicIp, instanceId,
privateIp, cluster}``.
"""

import ipaddress
import time

from sqlalchemy import Float, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from eucad.clc import instancestore
from eucad.clc.models import LIVE_STATES, Instance
from eucad.common.db import Base
from eucad.common.errors import CloudError

ASSOCIATE, DISASSOCIATE = "associate", "disassociate"


class Address(Base):
    __tablename__ = "addresses"

    publicIp: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    instanceId: Mapped[str | None] = mapped_column(String(16), nullable=True,
                                                   index=True)
    allocated: Mapped[float] = mapped_column(Float)


def checkAddress(publicIp):
    try:
        return str(ipaddress.IPv4Address(publicIp or ""))
    except ValueError:
        raise CloudError("InvalidParameterValue",
                         "Invalid value '%s' for PublicIp" % (publicIp,))


def _liveInstance(session, instanceId):
    if instanceId is None:
        return None
    row = session.get(Instance, instanceId)
    return row if row is not None and row.state in LIVE_STATES else None


def _change(kind, address, instance):
    return {"kind": kind, "publicIp": address,
            "instanceId": instance.id if instance is not None else None,
            "privateIp": instance.privateIp if instance is not None else None,
            "cluster": instance.cluster if instance is not None else None}


def _owned(session, caller, isAdmin, publicIp):
    publicIp = checkAddress(publicIp)
    row = session.get(Address, publicIp)
    if row is None or not (isAdmin or row.owner == caller):
        raise CloudError("InvalidAddress.NotFound",
                         "Address '%s' not found." % (publicIp,))
    return row


def allocate(session, owner, pool, now=None):
    """The next free pool address, now ``owner``'s."""
    held = session.scalar(select(func.count()).select_from(Address)
                          .where(Address.owner == owner))
    if held >= pool.perUser:
        raise CloudError("AddressLimitExceeded",
                         "Too many addresses allocated (the limit is %d)"
                         % (pool.perUser,))
    taken = set(session.scalars(select(Address.publicIp)))
    for publicIp in pool.addresses:
        if publicIp in taken:
            continue
        try:
            # A savepoint: a concurrent allocation may take the same address
            # first (PostgreSQL runs several at once); then try the next.
            with session.begin_nested():
                session.add(Address(publicIp=publicIp, owner=owner, instanceId=None,
                                    allocated=time.time() if now is None else now))
        except IntegrityError:
            continue
        return publicIp
    raise CloudError("InsufficientAddressCapacity",
                     "There are no more public addresses to allocate")


def release(session, caller, isAdmin, publicIp):
    """Give an address back (ending its association first)."""
    row = _owned(session, caller, isAdmin, publicIp)
    changes = []
    instance = _liveInstance(session, row.instanceId)
    if instance is not None:
        changes.append(_change(DISASSOCIATE, row.publicIp, instance))
    session.delete(row)
    session.flush()
    return changes


def associate(session, caller, isAdmin, publicIp, instanceId):
    """
    Map an address to an instance of the same user; whatever either was
    associated with before is disassociated first, as in EC2.
    """
    row = _owned(session, caller, isAdmin, publicIp)
    instancestore.checkInstanceIds([instanceId])
    instance = session.get(Instance, instanceId)
    if instance is None or instance.owner != row.owner:
        raise CloudError("InvalidInstanceID.NotFound",
                         "The instance ID '%s' does not exist" % (instanceId,))
    if instance.state not in LIVE_STATES:
        raise CloudError("IncorrectInstanceState",
                         "The instance '%s' is not in a state from which it can "
                         "be associated" % (instanceId,))
    changes = []
    if row.instanceId == instanceId:
        return changes
    previous = _liveInstance(session, row.instanceId)
    if previous is not None:
        changes.append(_change(DISASSOCIATE, row.publicIp, previous))
    for other in session.scalars(select(Address).where(
            Address.instanceId == instanceId)):
        changes.append(_change(DISASSOCIATE, other.publicIp, instance))
        other.instanceId = None
    row.instanceId = instanceId
    changes.append(_change(ASSOCIATE, row.publicIp, instance))
    session.flush()
    return changes


def disassociate(session, caller, isAdmin, publicIp):
    row = _owned(session, caller, isAdmin, publicIp)
    instance = _liveInstance(session, row.instanceId)
    row.instanceId = None
    session.flush()
    return [_change(DISASSOCIATE, row.publicIp, instance)] if instance else []


def listAddresses(session, caller, seeAll=False, publicIps=()):
    """
    ``[{publicIp, owner, instanceId}]`` of ``caller``'s addresses (every
    allocated one with ``seeAll``); naming one not theirs is
    InvalidAddress.NotFound.
    """
    wanted = [checkAddress(ip) for ip in publicIps]
    query = select(Address).order_by(Address.allocated, Address.publicIp)
    if not seeAll:
        query = query.where(Address.owner == caller)
    if wanted:
        query = query.where(Address.publicIp.in_(wanted))
    rows = list(session.scalars(query))
    missing = [ip for ip in wanted if ip not in {row.publicIp for row in rows}]
    if missing:
        raise CloudError("InvalidAddress.NotFound",
                         "Address '%s' not found." % (missing[0],))
    live = liveAssociations(session, [row.instanceId for row in rows if row.instanceId])
    return [{"publicIp": row.publicIp, "owner": row.owner,
             "instanceId": row.instanceId if row.instanceId in live else None}
            for row in rows]


def liveAssociations(session, instanceIds):
    """The ids among ``instanceIds`` of instances not yet shutting down."""
    live = set()
    instanceIds = list(set(instanceIds))
    for start in range(0, len(instanceIds), 400):
        live.update(session.scalars(select(Instance.id).where(
            Instance.id.in_(instanceIds[start:start + 400]))
            .where(Instance.state.in_(LIVE_STATES))))
    return live


def addressesOf(session, instanceIds=None, owner=None):
    """
    ``{instanceId: publicIp}`` of associated addresses, for DescribeInstances:
    of ``owner``'s addresses, or of every address when ``owner`` is None.
    """
    query = select(Address.instanceId, Address.publicIp).where(
        Address.instanceId.is_not(None))
    if owner is not None:
        query = query.where(Address.owner == owner)
    result = dict(session.execute(query).all())
    if instanceIds is not None:
        result = {i: ip for i, ip in result.items() if i in instanceIds}
    return result
