"""The front end's iptables rules in MANAGED modes, rendered from the whole state.

``renderRuleset`` is a pure function: given every active security-group
network, its ingress rules and every public-address association, it returns
the ``iptables-restore --noflush`` input that makes the kernel's rules match.
The CC applies it as one batch per event (``firewall.Firewall``), so the
rules are replaced in one transaction and never half-written.

What the rules are (the guide's MANAGED mode, made explicit):

- filter: the built-in FORWARD chain has policy DROP and jumps to
  ``EUCA_FORWARD``, which accepts established traffic, lets instances out
  (anything from the VM subnet to outside it), and sends traffic for each
  group's network to that group's chain ``<owner>-<group>``; the group chain
  accepts the group's own network and what its ingress rules allow (a CIDR,
  or the network of a source group while it has instances).
- nat: ``EUCA_PREROUTING`` sends 169.254.169.254:80 from instances to the
  CLC's metadata service and each public IP to its private IP (DNAT);
  ``EUCA_OUTPUT`` does the same for the front end's own connections;
  ``EUCA_POSTROUTING`` gives an associated instance its public IP on the way
  out (SNAT) and masquerades the rest of the VM subnet.

Only the ``EUCA_*`` chains and the group chains are eucad's: redeclaring a
user chain under ``--noflush`` empties it, built-in chains are left as the
admin's ``iptables-preload`` made them, except for the hooks (jumps) that
``renderHooks`` adds once at start.  Group chains that are no longer needed
are emptied and deleted in the same batch (``staleChains``).
"""

import hashlib
import ipaddress
import re

from eucad.common.netpolicy import IngressRule

METADATA_ADDRESS = "169.254.169.254"

FORWARD_CHAIN = "EUCA_FORWARD"
PREROUTING_CHAIN = "EUCA_PREROUTING"
OUTPUT_CHAIN = "EUCA_OUTPUT"
POSTROUTING_CHAIN = "EUCA_POSTROUTING"

#: iptables chain names hold at most 28 characters.
MAX_CHAIN = 28
_PLAIN_OWNER = re.compile(r"^[A-Za-z0-9_.]+$")
_PLAIN_GROUP = re.compile(r"^[A-Za-z0-9_.-]+$")


def groupChain(owner, name):
    """
    The chain of ``owner``'s group ``name``: ``<owner>-<group>`` when that is
    a safe, unambiguous chain name (owner without '-', both plain
    characters, 28 at most), else ``g_`` and a digest of both.  eucad's own
    chains have no '-' and do not start with ``g_``, so no group can take one.
    """
    plain = "%s-%s" % (owner, name)
    if _PLAIN_OWNER.match(owner) and _PLAIN_GROUP.match(name) and len(plain) <= MAX_CHAIN:
        return plain
    digest = hashlib.sha256(("%s\0%s" % (owner, name)).encode("utf-8")).hexdigest()
    return "g_" + digest[:MAX_CHAIN - 2]


class GroupRules:
    """
    A group that has instances, as the firewall sees it.

    @param network: the group's slice of the VM subnet (IPv4Network).
    @param rules: its IngressRule records.
    """

    def __init__(self, owner, name, network, rules=()):
        self.owner = owner
        self.name = name
        self.network = ipaddress.IPv4Network(network)
        self.rules = tuple(rules)
        for rule in self.rules:
            if not isinstance(rule, IngressRule):
                raise TypeError("%r is not an IngressRule" % (rule,))

    @property
    def chain(self):
        return groupChain(self.owner, self.name)


class FirewallState:
    """
    Everything the rules depend on.

    @param subnet: the whole VM subnet (VNET_SUBNET/VNET_NETMASK).
    @param pubInterface: where public IPs live (VNET_PUBINTERFACE).
    @param metadata: (address, port) of the CLC's metadata service, or None.
    @param groups: GroupRules per active group.
    @param associations: (publicIp, privateIp) pairs.
    """

    def __init__(self, subnet, pubInterface, metadata=None, groups=(), associations=()):
        self.subnet = ipaddress.IPv4Network(subnet)
        self.pubInterface = pubInterface
        self.metadata = metadata
        self.groups = sorted(groups, key=lambda g: (g.owner, g.name))
        self.associations = sorted(
            ((str(ipaddress.IPv4Address(p)), str(ipaddress.IPv4Address(q)))
             for p, q in associations), key=lambda pq: ipaddress.IPv4Address(pq[0]))

    def chains(self):
        """The group chains this state needs."""
        return {group.chain for group in self.groups}


def _match(rule):
    """The protocol/port part of an ingress rule, as iptables arguments."""
    if rule.protocol == "-1":
        return []
    words = ["-p", rule.protocol]
    if rule.protocol in ("tcp", "udp"):
        ports = str(rule.fromPort) if rule.fromPort == rule.toPort else "%d:%d" % (
            rule.fromPort, rule.toPort)
        words += ["-m", rule.protocol, "--dport", ports]
    elif rule.fromPort != -1:
        icmp = str(rule.fromPort) if rule.toPort == -1 else "%d/%d" % (rule.fromPort,
                                                                       rule.toPort)
        words += ["-m", "icmp", "--icmp-type", icmp]
    return words


def _groupRules(group, networks):
    lines = ["-A %s -s %s -j ACCEPT" % (group.chain, group.network)]
    for rule in group.rules:
        if rule.cidr is not None:
            sources = [rule.cidr]
        else:
            source = networks.get((rule.sourceGroup.owner, rule.sourceGroup.name))
            # A source group without instances has no addresses: nothing to allow.
            sources = [str(source)] if source is not None else []
        for source in sources:
            lines.append(" ".join(["-A", group.chain, "-s", source] + _match(rule) +
                                  ["-j", "ACCEPT"]))
    return lines


def chainRules(state):
    """
    The rules of every chain eucad owns for ``state``, in render order:
    a list of ``(table, chain, lines)`` with ``lines`` a tuple of ``-A`` lines.
    """
    networks = {(g.owner, g.name): g.network for g in state.groups}
    forward = [
        "-A %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" % (FORWARD_CHAIN,),
        "-A %s -s %s ! -d %s -j ACCEPT" % (FORWARD_CHAIN, state.subnet, state.subnet),
    ] + ["-A %s -d %s -j %s" % (FORWARD_CHAIN, g.network, g.chain) for g in state.groups]
    chains = [("filter", FORWARD_CHAIN, tuple(forward))]
    chains += [("filter", g.chain, tuple(_groupRules(g, networks))) for g in state.groups]

    prerouting = []
    if state.metadata is not None:
        host, port = state.metadata
        prerouting.append("-A %s -s %s -d %s/32 -p tcp -m tcp --dport 80 -j DNAT "
                          "--to-destination %s:%d" % (PREROUTING_CHAIN, state.subnet,
                                                      METADATA_ADDRESS, host, port))
    prerouting += ["-A %s -d %s/32 -j DNAT --to-destination %s" % (
        PREROUTING_CHAIN, publicIp, privateIp) for publicIp, privateIp in state.associations]
    output = ["-A %s -d %s/32 -j DNAT --to-destination %s" % (
        OUTPUT_CHAIN, publicIp, privateIp) for publicIp, privateIp in state.associations]
    postrouting = ["-A %s -s %s/32 -o %s -j SNAT --to-source %s" % (
        POSTROUTING_CHAIN, privateIp, state.pubInterface, publicIp)
        for publicIp, privateIp in state.associations]
    postrouting.append("-A %s -s %s -o %s -j MASQUERADE" % (
        POSTROUTING_CHAIN, state.subnet, state.pubInterface))
    chains += [("nat", PREROUTING_CHAIN, tuple(prerouting)),
               ("nat", OUTPUT_CHAIN, tuple(output)),
               ("nat", POSTROUTING_CHAIN, tuple(postrouting))]
    return chains


def _compose(chains, stale):
    """iptables-restore input that redeclares (empties) and refills ``chains``."""
    lines = []
    for table in ("filter", "nat"):
        inTable = [(chain, rules) for t, chain, rules in chains if t == table]
        deletions = sorted(stale) if table == "filter" else []
        if not inTable and not deletions:
            continue
        lines.append("*" + table)
        lines += [":%s - [0:0]" % (chain,) for chain, _ in inTable]
        lines += [":%s - [0:0]" % (chain,) for chain in deletions]
        for _, rules in inTable:
            lines += rules
        lines += ["-X %s" % (chain,) for chain in deletions]
        lines.append("COMMIT")
    return "\n".join(lines) + "\n" if lines else ""


def renderRuleset(state, staleChains=()):
    """
    The ``iptables-restore --noflush`` input for the whole of ``state``.

    @param staleChains: group chains applied before that ``state`` no longer
        has; they are emptied and deleted.
    """
    return _compose(chainRules(state), set(staleChains) - state.chains())


def renderChanges(state, applied):
    """
    Only what differs from ``applied`` (the ``appliedChains`` of the state
    last in force): the chains whose rules changed, redeclared and refilled,
    and group chains no longer needed, deleted.  Unchanged chains are not
    touched, so an authorize costs the size of one group, not of the cloud.

    @return: (text, appliedChains of ``state``); the text is empty when
        nothing changed.
    """
    chains = chainRules(state)
    now = appliedChains(chains)
    changed = [(table, chain, rules) for table, chain, rules in chains
               if applied.get((table, chain)) != rules]
    stale = {chain for table, chain in applied if table == "filter"} - \
        {chain for table, chain in now if table == "filter"}
    return _compose(changed, stale), now


def appliedChains(chains):
    """``chainRules`` output as ``{(table, chain): lines}``."""
    return {(table, chain): rules for table, chain, rules in chains}


def renderHooks():
    """
    The start-time batch (after the flush and ``iptables-preload``): declare
    eucad's chains, FORWARD policy DROP, and the jumps from the built-in chains.
    """
    return "\n".join([
        "*filter",
        ":FORWARD DROP [0:0]",
        ":%s - [0:0]" % (FORWARD_CHAIN,),
        "-A FORWARD -j %s" % (FORWARD_CHAIN,),
        "COMMIT",
        "*nat",
        ":%s - [0:0]" % (PREROUTING_CHAIN,),
        ":%s - [0:0]" % (OUTPUT_CHAIN,),
        ":%s - [0:0]" % (POSTROUTING_CHAIN,),
        "-A PREROUTING -j %s" % (PREROUTING_CHAIN,),
        "-A OUTPUT -j %s" % (OUTPUT_CHAIN,),
        "-A POSTROUTING -j %s" % (POSTROUTING_CHAIN,),
        "COMMIT",
    ]) + "\n"
