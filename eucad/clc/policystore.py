"""The network policy of the whole cloud, read from the group and address
rows as ``eucad.common.netpolicy`` records.

This is what the CLC -> CC link hands each cluster: the whole
``NetworkPolicy`` (every group, the associations of that cluster's
instances) after every change published on ``eucad.clc.netchanges`` and
whenever the link comes back (``eucad.clc.policypush``).  Functions run
inside ``Database.run``.
"""

from sqlalchemy import select

from eucad.clc.addressstore import Address
from eucad.clc.groupstore import GroupRule, SecurityGroup, ruleRecord
from eucad.clc.models import LIVE_STATES, Instance
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


def networkPolicy(session, cluster=None):
    """
    Every group with its rules and every live address association (of the
    instances of ``cluster`` only, when one is named).
    """
    rules = {}
    for rule in session.scalars(select(GroupRule).order_by(GroupRule.id)):
        rules.setdefault(rule.groupId, []).append(ruleRecord(rule))
    groups = [groupPolicy(group.owner, group.name, rules.get(group.id, []))
              for group in session.scalars(select(SecurityGroup).order_by(
                  SecurityGroup.owner, SecurityGroup.name))]
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
