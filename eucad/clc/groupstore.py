"""Security groups and their ingress rules: each user's named networks.

Every user has a ``default`` group, made the first time any of their
requests touches groups (or launches).  Groups are known by ``(owner,
name)`` (what instances and the clusters' network records carry) and by an
``sg-`` id.  A rule lets a protocol and port range in from a CIDR or from
another group's members.  Functions run inside ``Database.run``; they return
plain dicts and raise ``CloudError`` with EC2's codes.
"""

import time

from sqlalchemy import (Float, ForeignKey, Integer, String, UniqueConstraint,
                        select)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from eucad.clc import ids
from eucad.clc.models import TERMINATED, Instance, Reservation
from eucad.common.db import Base
from eucad.common.errors import CloudError

GROUP = "sg"
DEFAULT_GROUP = "default"
MAX_NAME_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 255

TCP, UDP, ICMP, ALL = "tcp", "udp", "icmp", "-1"
PROTOCOLS = (TCP, UDP, ICMP, ALL)


class SecurityGroup(Base):
    __tablename__ = "securitygroups"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))
    description: Mapped[str] = mapped_column(String(MAX_DESCRIPTION_LENGTH))
    created: Mapped[float] = mapped_column(Float)


class GroupRule(Base):
    """One ingress permission: a protocol/port range from a CIDR or a group."""

    __tablename__ = "grouprules"
    __table_args__ = (UniqueConstraint("groupId", "protocol", "fromPort", "toPort",
                                       "cidr", "sourceOwner", "sourceGroup"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    groupId: Mapped[str] = mapped_column(
        String(32), ForeignKey("securitygroups.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(8))
    #: Ports for tcp/udp; ICMP type and code for icmp; -1 for "all".
    fromPort: Mapped[int] = mapped_column(Integer)
    toPort: Mapped[int] = mapped_column(Integer)
    #: Empty strings (not NULL) for "none" so that the unique constraint holds.
    cidr: Mapped[str] = mapped_column(String(64), default="")
    sourceOwner: Mapped[str] = mapped_column(String(64), default="")
    sourceGroup: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH), default="")

    def key(self):
        return (self.protocol, self.fromPort, self.toPort, self.cidr,
                self.sourceOwner, self.sourceGroup)


def ruleRecord(row):
    return {"protocol": row.protocol, "fromPort": row.fromPort, "toPort": row.toPort,
            "cidr": row.cidr or None, "sourceOwner": row.sourceOwner or None,
            "sourceGroup": row.sourceGroup or None}


def groupRecord(session, group):
    rules = session.scalars(select(GroupRule).where(GroupRule.groupId == group.id)
                            .order_by(GroupRule.id))
    return {"id": group.id, "owner": group.owner, "name": group.name,
            "description": group.description,
            "rules": [ruleRecord(rule) for rule in rules]}


def checkName(name, what="GroupName"):
    if not name:
        raise CloudError("MissingParameter",
                         "The request must contain the parameter %s" % (what,))
    if len(name) > MAX_NAME_LENGTH or not name.isascii() or not name.isprintable():
        raise CloudError("InvalidParameterValue",
                         "Invalid value '%s' for %s" % (name, what))


def ensureDefaultGroup(session, owner, now=None):
    """``owner``'s ``default`` group, made now if this is their first use."""
    group = _byName(session, owner, DEFAULT_GROUP)
    if group is None:
        try:
            # A savepoint: two first requests of a user may race to make it.
            with session.begin_nested():
                group = SecurityGroup(
                    id=ids.newUniqueId(session, SecurityGroup, GROUP), owner=owner,
                    name=DEFAULT_GROUP, description="default group",
                    created=time.time() if now is None else now)
                session.add(group)
        except IntegrityError:
            group = _byName(session, owner, DEFAULT_GROUP)
    return group


def _byName(session, owner, name):
    return session.scalars(select(SecurityGroup).where(SecurityGroup.owner == owner)
                           .where(SecurityGroup.name == name)).first()


def _notFound(what):
    return CloudError("InvalidGroup.NotFound",
                      "The security group '%s' does not exist" % (what,))


def findGroup(session, owner, isAdmin=False, name=None, groupId=None):
    """
    ``owner``'s group by name, or by id (an admin may name anybody's by id);
    InvalidGroup.NotFound otherwise, also for other users' groups.
    """
    ensureDefaultGroup(session, owner)
    if groupId:
        if not ids.isId(groupId, GROUP):
            raise CloudError("InvalidGroupId.Malformed",
                             "Invalid id: \"%s\"" % (groupId,))
        group = session.get(SecurityGroup, groupId)
        if group is None or not (isAdmin or group.owner == owner):
            raise _notFound(groupId)
        return group
    checkName(name)
    group = _byName(session, owner, name)
    if group is None:
        raise _notFound(name)
    return group


def createGroup(session, owner, name, description, now=None):
    checkName(name)
    if not description:
        raise CloudError("MissingParameter",
                         "The request must contain the parameter GroupDescription")
    if len(description) > MAX_DESCRIPTION_LENGTH or not description.isprintable():
        raise CloudError("InvalidParameterValue",
                         "Invalid value for GroupDescription")
    if name.lower().startswith("sg-"):
        # Names and ids share SecurityGroup.N / SecurityGroupId.N lookups.
        raise CloudError("InvalidParameterValue",
                         "Group names may not be in the format sg-*")
    ensureDefaultGroup(session, owner, now)
    if _byName(session, owner, name) is not None:
        raise CloudError("InvalidGroup.Duplicate",
                         "The security group '%s' already exists" % (name,))
    group = SecurityGroup(id=ids.newUniqueId(session, SecurityGroup, GROUP),
                          owner=owner, name=name, description=description,
                          created=time.time() if now is None else now)
    session.add(group)
    session.flush()
    return groupRecord(session, group)


def _liveUsers(session, owner, name):
    """Ids of ``owner``'s instances not yet terminated that are in group ``name``."""
    rows = session.execute(
        select(Instance.id, Reservation.groups)
        .join(Reservation, Instance.reservationId == Reservation.id)
        .where(Instance.owner == owner).where(Instance.state != TERMINATED))
    return [instanceId for instanceId, groups in rows if name in groups.split()]


def deleteGroup(session, owner, isAdmin, name=None, groupId=None):
    """
    Delete a group: never ``default``, never while instances not yet
    terminated are in it, never while another group's rule names it.
    Returns the deleted group's record.
    """
    group = findGroup(session, owner, isAdmin, name, groupId)
    if group.name == DEFAULT_GROUP:
        raise CloudError("CannotDelete",
                         "The default security group cannot be deleted")
    users = _liveUsers(session, group.owner, group.name)
    if users:
        raise CloudError("InvalidGroup.InUse",
                         "The security group '%s' is in use by %s" % (
                             group.name, ", ".join(sorted(users))))
    referring = session.scalars(
        select(GroupRule).where(GroupRule.sourceOwner == group.owner)
        .where(GroupRule.sourceGroup == group.name)
        .where(GroupRule.groupId != group.id)).first()
    if referring is not None:
        raise CloudError("DependencyViolation",
                         "The security group '%s' is named by a rule of %s" % (
                             group.name, referring.groupId))
    record = groupRecord(session, group)
    session.delete(group)
    session.flush()
    return record


def listGroups(session, owner, seeAll=False, names=(), groupIds=()):
    """
    Records of ``owner``'s groups (everybody's with ``seeAll``); naming one
    that is not there (or not theirs) is InvalidGroup.NotFound.
    """
    ensureDefaultGroup(session, owner)
    query = select(SecurityGroup).order_by(SecurityGroup.owner, SecurityGroup.name)
    if not seeAll:
        query = query.where(SecurityGroup.owner == owner)
    groups = list(session.scalars(query))
    if names or groupIds:
        for groupId in groupIds:
            if not ids.isId(groupId, GROUP):
                raise CloudError("InvalidGroupId.Malformed",
                                 "Invalid id: \"%s\"" % (groupId,))
        # An admin's ``verbose`` shows everybody's, but names stay the caller's.
        byName = {g.name: g for g in groups if g.owner == owner}
        byId = {g.id: g for g in groups}
        missing = ([n for n in names if n not in byName]
                   + [i for i in groupIds if i not in byId])
        if missing:
            raise _notFound(missing[0])
        wanted = {byName[n].id for n in names} | set(groupIds)
        groups = [g for g in groups if g.id in wanted]
    if not groups:
        return []
    rules = {}
    for rule in session.scalars(select(GroupRule).where(
            GroupRule.groupId.in_([g.id for g in groups])).order_by(GroupRule.id)):
        rules.setdefault(rule.groupId, []).append(ruleRecord(rule))
    return [{"id": g.id, "owner": g.owner, "name": g.name,
             "description": g.description, "rules": rules.get(g.id, [])}
            for g in groups]


def groupIdsByName(session, pairs):
    """``{(owner, name): sg-id}`` for ``(owner, name)`` pairs that exist."""
    owners = {owner for owner, _ in pairs}
    if not owners:
        return {}
    rows = session.execute(select(SecurityGroup.owner, SecurityGroup.name,
                                  SecurityGroup.id)
                           .where(SecurityGroup.owner.in_(list(owners))))
    return {(owner, name): groupId for owner, name, groupId in rows}


def _resolveSource(session, owner, rule):
    """Check that a rule's source group exists; fill in its owner."""
    if not rule.get("sourceGroup") and not rule.get("sourceGroupId"):
        return rule
    rule = dict(rule)
    sourceId = rule.pop("sourceGroupId", None)
    if sourceId:
        if not ids.isId(sourceId, GROUP):
            raise CloudError("InvalidGroupId.Malformed",
                             "Invalid id: \"%s\"" % (sourceId,))
        source = session.get(SecurityGroup, sourceId)
        if source is None or (rule.get("sourceOwner") or owner) != source.owner:
            raise _notFound(sourceId)
    else:
        sourceOwner = rule.get("sourceOwner") or owner
        source = _byName(session, sourceOwner, rule["sourceGroup"])
        if source is None:
            raise _notFound(rule["sourceGroup"])
    rule["sourceOwner"], rule["sourceGroup"] = source.owner, source.name
    return rule


def _ruleKey(rule):
    return (rule["protocol"], rule["fromPort"], rule["toPort"], rule.get("cidr") or "",
            rule.get("sourceOwner") or "", rule.get("sourceGroup") or "")


def _describeRule(key):
    protocol, fromPort, toPort, cidr, sourceOwner, sourceGroup = key
    source = cidr or "%s/%s" % (sourceOwner, sourceGroup)
    return "%s %s-%s from %s" % (protocol, fromPort, toPort, source)


def authorize(session, owner, isAdmin, rules, name=None, groupId=None):
    """
    Add ``rules`` to a group, all or none: a rule it already has is
    InvalidPermission.Duplicate.  Returns the group's record.
    """
    group = findGroup(session, owner, isAdmin, name, groupId)
    existing = {row.key() for row in session.scalars(
        select(GroupRule).where(GroupRule.groupId == group.id))}
    added = set()
    for rule in rules:
        rule = _resolveSource(session, group.owner, rule)
        key = _ruleKey(rule)
        if key in existing or key in added:
            raise CloudError("InvalidPermission.Duplicate",
                             "The permission '%s' has already been authorized on "
                             "the group '%s'" % (_describeRule(key), group.name))
        added.add(key)
        session.add(GroupRule(groupId=group.id, protocol=key[0], fromPort=key[1],
                              toPort=key[2], cidr=key[3], sourceOwner=key[4],
                              sourceGroup=key[5]))
    session.flush()
    return groupRecord(session, group)


def revoke(session, owner, isAdmin, rules, name=None, groupId=None):
    """
    Remove ``rules`` from a group, all or none: a rule it does not have is
    InvalidPermission.NotFound.  Returns the group's record.
    """
    group = findGroup(session, owner, isAdmin, name, groupId)
    rows = {row.key(): row for row in session.scalars(
        select(GroupRule).where(GroupRule.groupId == group.id))}
    for rule in rules:
        rule = _resolveSource(session, group.owner, rule)
        key = _ruleKey(rule)
        row = rows.pop(key, None)
        if row is None:
            raise CloudError("InvalidPermission.NotFound",
                             "The permission '%s' is not authorized on the group "
                             "'%s'" % (_describeRule(key), group.name))
        session.delete(row)
    session.flush()
    return groupRecord(session, group)


def resolveLaunchGroups(session, owner, namesOrIds):
    """
    The group names of a launch from ``SecurityGroup.N`` names and
    ``SecurityGroupId.N`` ids (group names never look like ``sg-`` ids);
    ``default`` when none is named.
    """
    ensureDefaultGroup(session, owner)
    names = []
    for entry in namesOrIds or [DEFAULT_GROUP]:
        if ids.isId(entry, GROUP):
            group = session.get(SecurityGroup, entry)
            if group is None or group.owner != owner:
                raise _notFound(entry)
        else:
            group = _byName(session, owner, entry)
            if group is None:
                raise _notFound(entry)
        if group.name not in names:
            names.append(group.name)
    return names
