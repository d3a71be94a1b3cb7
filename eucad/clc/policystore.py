"""The network policy of the whole cloud, read from the group and address
rows as ``eucad.common.netpolicy`` records.

This is what the CLC -> CC link hands each cluster: its whole
``NetworkPolicy`` (the groups in use there, the associations of that
cluster's instances) after every change published on ``eucad.clc.netchanges`` and
whenever the link comes back (``eucad.clc.policypush``).  Functions run
inside ``Database.run``.
"""

from sqlalchemy import select

from eucad.clc.addressstore import Address
from eucad.clc.groupstore import GroupRule, SecurityGroup, ruleRecord
from eucad.clc.models import LIVE_STATES, TERMINATED, Instance, Reservation
from eucad.common.netpolicy import (AddressAssociation, GroupRef, IngressRule,
                                    NetworkPolicy, SecurityGroupPolicy)


def ingressRule(rule):
    """The ``IngressRule`` of a ``groupstore`` rule record."""
    source = None
    if rule["sourceGroup"]:
        source = GroupRef(rule["sourceOwner"], rule["sourceGroup"])
    return IngressRule(rule["protocol"], rule["fromPort"], rule["toPort"],
                       cidr=rule["cidr"], sourceGroup=source)


def groupPolicy(owner, name, rules):
    """The ``SecurityGroupPolicy`` of a group and its rule records."""
    return SecurityGroupPolicy(owner, name, [ingressRule(rule) for rule in rules])


def groupsInUse(session, cluster):
    """
    The (owner, name) of every group an instance of ``cluster`` not yet
    terminated was launched in.  A group is enforced where its instances run:
    a cluster has no use for the others' rules.
    """
    query = (select(Reservation.owner, Reservation.groups).distinct()
             .join(Instance, Instance.reservationId == Reservation.id)
             .where(Instance.cluster == cluster)
             .where(Instance.state != TERMINATED))
    return {(owner, name) for owner, names in session.execute(query)
            for name in (names or "").split()}


def _referenced(rules, keys):
    """The source groups the rules of the groups ``keys`` name."""
    return {(rule["sourceOwner"], rule["sourceGroup"])
            for key in keys for rule in rules.get(key, ()) if rule["sourceGroup"]}


def networkPolicy(session, cluster=None):
    """
    The groups with their rules and every live address association.

    With ``cluster`` named, only what that cluster enforces: the groups its
    instances run in, the groups their rules name as sources (their members
    elsewhere are not reachable through this cluster, but the cluster keeps
    the reference whole), and the associations of its instances.
    """
    rules, byId = {}, {}
    groupRows = list(session.scalars(select(SecurityGroup).order_by(
        SecurityGroup.owner, SecurityGroup.name)))
    for group in groupRows:
        byId[group.id] = (group.owner, group.name)
    for rule in session.scalars(select(GroupRule).order_by(GroupRule.id)):
        key = byId.get(rule.groupId)
        if key is not None:
            rules.setdefault(key, []).append(ruleRecord(rule))
    if cluster is not None:
        wanted = groupsInUse(session, cluster)
        wanted |= _referenced(rules, wanted)
        groupRows = [group for group in groupRows if (group.owner, group.name) in wanted]
    groups = [groupPolicy(group.owner, group.name, rules.get((group.owner, group.name), []))
              for group in groupRows]
    associations = []
    query = (select(Address.publicIp, Instance.privateIp, Instance.id)
             .join(Instance, Address.instanceId == Instance.id)
             .where(Instance.state.in_(LIVE_STATES))
             .where(Instance.privateIp.is_not(None))
             .order_by(Address.publicIp))
    if cluster is not None:
        query = query.where(Instance.cluster == cluster)
    rows = session.execute(query)
    for publicIp, privateIp, instanceId in rows:
        associations.append(AddressAssociation(publicIp, privateIp, instanceId))
    return NetworkPolicy(groups, associations)
