"""The network policy the CLC publishes to its clusters, as typed records.

A security group's ingress rules and the cloud's public-address associations
are what a cluster in MANAGED mode turns into iptables rules.  They cross the
CLC->CC link as these records: each is a ``pb.Copyable`` on the sending side
and the same class as ``pb.RemoteCopy`` on the receiving side, and every
constructor -- and every unjellied copy -- checks its fields once, so a CC
never sees a rule with ports out of range, a protocol it cannot render, or a
group name that could smuggle text into an iptables batch.

Who calls: the CLC's group and address stores build them; the CC's MANAGED
modes (``eucad.cc.vnet``) consume them.
"""

import ipaddress
import re

from twisted.spread import pb

#: The protocols a rule can name; "-1" is EC2's "all protocols".
PROTOCOLS = ("tcp", "udp", "icmp", "-1")

#: EC2 group names: up to 255 ASCII characters (spaces allowed).
_NAME = re.compile(r"^[\x20-\x7e]{1,255}$")
#: Owners are user ids / account names.
_OWNER = re.compile(r"^[A-Za-z0-9_.@+=,-]{1,64}$")
#: EC2 instance ids.
_INSTANCE = re.compile(r"^i-[0-9a-f]{8,17}$")


class PolicyError(ValueError):
    """A record field has no valid value; the message names the field."""


def _text(value, pattern, what):
    if not isinstance(value, str) or not pattern.match(value):
        raise PolicyError("%s %r is not valid" % (what, value))
    return value


def _integer(value, low, high, what):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PolicyError("%s %r is not an integer from %d to %d" % (what, value, low, high))
    return value


def _address(value, what):
    try:
        return str(ipaddress.IPv4Address(value))
    except (ValueError, TypeError):
        raise PolicyError("%s %r is not an IPv4 address" % (what, value)) from None


class _Record(pb.Copyable, pb.RemoteCopy):
    """
    Fields in ``fields``; the wire carries exactly those, checked again on
    arrival by the same ``_check`` the constructor uses.
    """

    fields = ()

    def _check(self):
        raise NotImplementedError

    def getStateToCopy(self):
        return {name: getattr(self, name) for name in self.fields}

    def setCopyableState(self, state):
        if not isinstance(state, dict) or set(state) != set(self.fields):
            raise PolicyError("%s arrived with fields %r" % (
                type(self).__name__, sorted(state) if isinstance(state, dict) else state))
        for name in self.fields:
            setattr(self, name, state[name])
        self._check()

    def _key(self):
        return tuple(getattr(self, name) for name in self.fields)

    def __eq__(self, other):
        return type(self) is type(other) and self._key() == other._key()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((type(self).__name__,) + self._key())

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (name, getattr(self, name)) for name in self.fields))


class GroupRef(_Record):
    """A security group named by its owner and name (a rule's source group)."""

    fields = ("owner", "name")

    def __init__(self, owner, name):
        self.owner = owner
        self.name = name
        self._check()

    def _check(self):
        _text(self.owner, _OWNER, "group owner")
        _text(self.name, _NAME, "group name")


class IngressRule(_Record):
    """
    One permission of a group: traffic of ``protocol`` to ports
    ``fromPort``..``toPort`` (ICMP: type ``fromPort``, code ``toPort``, -1 for
    any) from ``cidr`` or from the instances of ``sourceGroup``.

    For ``-1`` (all protocols) the ports are -1.  Exactly one of ``cidr`` and
    ``sourceGroup`` is given; ``cidr`` is kept in its network form
    (10.0.0.7/8 becomes 10.0.0.0/8, as EC2 answers it).
    """

    fields = ("protocol", "fromPort", "toPort", "cidr", "sourceGroup")

    def __init__(self, protocol, fromPort=-1, toPort=-1, cidr=None, sourceGroup=None):
        self.protocol = str(protocol).lower() if isinstance(protocol, str) else protocol
        self.fromPort = fromPort
        self.toPort = toPort
        self.cidr = cidr
        self.sourceGroup = sourceGroup
        self._check()

    def _check(self):
        if self.protocol not in PROTOCOLS:
            raise PolicyError("protocol %r is not one of %s" % (self.protocol,
                                                                 ", ".join(PROTOCOLS)))
        if self.protocol in ("tcp", "udp"):
            _integer(self.fromPort, 0, 65535, "from port")
            _integer(self.toPort, 0, 65535, "to port")
            if self.fromPort > self.toPort:
                raise PolicyError("port range %d-%d runs backwards" % (self.fromPort,
                                                                      self.toPort))
        elif self.protocol == "icmp":
            _integer(self.fromPort, -1, 255, "ICMP type")
            _integer(self.toPort, -1, 255, "ICMP code")
            if self.fromPort == -1 and self.toPort != -1:
                raise PolicyError("an ICMP code needs an ICMP type")
        elif (self.fromPort, self.toPort) != (-1, -1):
            raise PolicyError("all protocols (-1) takes no ports, got %r-%r" % (
                self.fromPort, self.toPort))
        if (self.cidr is None) == (self.sourceGroup is None):
            raise PolicyError("a rule names either a CIDR or a source group")
        if self.cidr is not None:
            try:
                self.cidr = str(ipaddress.IPv4Network(self.cidr, strict=False))
            except (ValueError, TypeError):
                raise PolicyError("CIDR %r is not an IPv4 network" % (self.cidr,)) from None
        elif not isinstance(self.sourceGroup, GroupRef):
            raise PolicyError("source group %r is not a GroupRef" % (self.sourceGroup,))


class SecurityGroupPolicy(_Record):
    """A group and all its ingress rules (each rule at most once)."""

    fields = ("owner", "name", "rules")

    def __init__(self, owner, name, rules=()):
        self.owner = owner
        self.name = name
        self.rules = tuple(rules)
        self._check()

    @property
    def ref(self):
        return GroupRef(self.owner, self.name)

    def _check(self):
        _text(self.owner, _OWNER, "group owner")
        _text(self.name, _NAME, "group name")
        if not isinstance(self.rules, (tuple, list)):
            raise PolicyError("rules %r are not a list" % (self.rules,))
        self.rules = tuple(self.rules)
        seen = set()
        for rule in self.rules:
            if not isinstance(rule, IngressRule):
                raise PolicyError("rule %r is not an IngressRule" % (rule,))
            if rule in seen:
                raise PolicyError("rule %r is listed twice" % (rule,))
            seen.add(rule)


class AddressAssociation(_Record):
    """A public IP that leads to an instance's private IP."""

    fields = ("publicIp", "privateIp", "instanceId")

    def __init__(self, publicIp, privateIp, instanceId):
        self.publicIp = publicIp
        self.privateIp = privateIp
        self.instanceId = instanceId
        self._check()

    def _check(self):
        self.publicIp = _address(self.publicIp, "public IP")
        self.privateIp = _address(self.privateIp, "private IP")
        _text(self.instanceId, _INSTANCE, "instance id")


class NetworkPolicy(_Record):
    """
    Everything a cluster enforces: every group's rules and every address
    association; a group or a public/private address appears once.
    """

    fields = ("groups", "associations")

    def __init__(self, groups=(), associations=()):
        self.groups = tuple(groups)
        self.associations = tuple(associations)
        self._check()

    def _check(self):
        if not isinstance(self.groups, (tuple, list)) or \
                not isinstance(self.associations, (tuple, list)):
            raise PolicyError("groups and associations must be lists")
        self.groups = tuple(self.groups)
        self.associations = tuple(self.associations)
        refs = set()
        for group in self.groups:
            if not isinstance(group, SecurityGroupPolicy):
                raise PolicyError("group %r is not a SecurityGroupPolicy" % (group,))
            if group.ref in refs:
                raise PolicyError("group %s/%s is listed twice" % (group.owner, group.name))
            refs.add(group.ref)
        publics, privates = set(), set()
        for association in self.associations:
            if not isinstance(association, AddressAssociation):
                raise PolicyError("association %r is not an AddressAssociation" % (
                    association,))
            for value, seen in ((association.publicIp, publics),
                                (association.privateIp, privates)):
                if value in seen:
                    raise PolicyError("address %s is associated twice" % (value,))
                seen.add(value)

    def group(self, owner, name):
        """The SecurityGroupPolicy of ``owner``'s ``name``, or None."""
        for group in self.groups:
            if (group.owner, group.name) == (owner, name):
                return group
        return None


for _cls in (GroupRef, IngressRule, SecurityGroupPolicy, AddressAssociation, NetworkPolicy):
    pb.setUnjellyableForClass(_cls, _cls)
