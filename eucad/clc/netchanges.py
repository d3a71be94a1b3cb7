"""Changes of users' network policy, told to whoever must enforce them.

The group and address operations commit their rows, then publish a change
here: ``GroupRulesChanged`` (a group's full rule set, or its deletion),
``AddressAssociated`` and ``AddressDisassociated``; the launcher publishes
``InstancesPlaced`` (a cluster gets only the groups in use there).  Observers are plain
callables run on the reactor thread; ``eucad.clc.policypush`` subscribes
and sends every cluster the whole policy over the CLC -> CC link (the
clusters turn it into iptables and NAT rules).
An observer that fails is logged and never undoes the committed change.
``eucad.clc.policystore`` turns the rows into the ``eucad.common.netpolicy``
records that the link carries.
"""

from twisted.logger import Logger

log = Logger()


class GroupRulesChanged:
    """
    The ingress rules of ``owner``'s group ``groupName`` are now ``rules``
    (``[{protocol, fromPort, toPort, cidr, sourceOwner, sourceGroup}]``);
    ``deleted`` when the group is gone.
    """

    kind = "group"

    def __init__(self, owner, groupName, groupId, rules, deleted=False):
        self.owner = owner
        self.groupName = groupName
        self.groupId = groupId
        self.rules = [dict(rule) for rule in rules]
        self.deleted = deleted

    def __repr__(self):
        return "<GroupRulesChanged %s/%s %d rules%s>" % (
            self.owner, self.groupName, len(self.rules),
            " deleted" if self.deleted else "")


class _AddressChange:
    """What both address changes carry: the public and private address, the
    instance and the cluster that runs it."""

    kind = None
    arrow = None

    def __init__(self, publicIp, instanceId, privateIp, cluster):
        self.publicIp = publicIp
        self.instanceId = instanceId
        self.privateIp = privateIp
        self.cluster = cluster

    def __repr__(self):
        return "<%s %s %s %s>" % (type(self).__name__, self.publicIp, self.arrow,
                                  self.instanceId)


class AddressAssociated(_AddressChange):
    """``publicIp`` now maps to ``instanceId`` (running in ``cluster``)."""

    kind = "associate"
    arrow = "->"


class AddressDisassociated(_AddressChange):
    """``publicIp`` no longer maps to ``instanceId``."""

    kind = "disassociate"
    arrow = "-x-"


class InstancesPlaced:
    """
    Instances were reserved in ``cluster``: the groups in use there may
    have grown, so that cluster needs its policy again before they boot.
    """

    kind = "placed"

    def __init__(self, cluster, instanceIds):
        self.cluster = cluster
        self.instanceIds = list(instanceIds)

    def __repr__(self):
        return "<InstancesPlaced %s in %s>" % (" ".join(self.instanceIds), self.cluster)


class NetworkChanges:
    """The observers of committed network policy changes."""

    def __init__(self):
        self._observers = []

    def subscribe(self, observer):
        """Call ``observer(change)`` for every change from now on."""
        self._observers.append(observer)

    def unsubscribe(self, observer):
        self._observers.remove(observer)

    def publish(self, changes):
        """Tell every observer about each of ``changes``, in order."""
        for change in changes:
            for observer in list(self._observers):
                try:
                    observer(change)
                except Exception:
                    log.failure("network change observer failed on {change!r}",
                                change=change)
