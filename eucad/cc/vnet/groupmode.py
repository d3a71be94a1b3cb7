"""What MANAGED and MANAGED-NOVLAN share: group networks, rules, public IPs.

Both modes give each (user, security group) with instances its own slice of
the VM subnet, enforce the groups' ingress rules and the elastic IPs in the
front end's iptables, and serve every active slice from the CC's dhcpd.
They differ only in the links a group network needs on the front end
(``_linksUp``/``_linksDown``/``_peersChanged``) and the bridge a node
attaches the VM to: MANAGED makes a tagged link and a bridge per group,
MANAGED-NOVLAN puts every slice's router address on one interface.

Every change is an *event*: the bookkeeping that must not be handed out
twice (addresses, tags, slices, public IPs) is done synchronously, then the
data plane is brought in line under one lock (links first, then one
``iptables-restore --noflush`` batch).  If the data plane step fails the
bookkeeping is rolled back and the links made for it removed, so a failed
RunInstances or AssociateAddress leaves nothing half-made.

The CLC's policy arrives as ``eucad.common.netpolicy`` records:
``updateGroup``/``removeGroup`` for one group's rules, ``associate`` and
``disassociate`` for one address, ``applyPolicy`` for a full snapshot.
"""

import ipaddress

from twisted.internet import defer
from twisted.logger import Logger

from eucad.cc.dhcpd import DhcpdConfig, DhcpHost, DhcpSubnet
from eucad.cc.vnet import links
from eucad.cc.vnet.base import VirtualNetwork
from eucad.cc.vnet.firewall import Firewall
from eucad.cc.vnet.groupnets import GroupNetworks
from eucad.cc.vnet.ruleset import FirewallState, GroupRules
from eucad.common.errors import CloudError
from eucad.common.netpolicy import NetworkPolicy, SecurityGroupPolicy

log = Logger()

#: Instance MACs carry their IPv4 address after this locally administered
#: prefix, so two instances can never share one (see ``macs``).
MAC_PREFIX = "d2:0d"


def macForAddress(address):
    return MAC_PREFIX + "".join(":%02x" % b for b in ipaddress.IPv4Address(address).packed)


class GroupModeNetwork(VirtualNetwork):
    """
    Base of the two MANAGED modes.

    @param settings: the checked ``NetworkSettings``.
    @param runner: the ProcessRunner for the front end (its namespace, if any).
    @param firewall: the Firewall (made on ``runner`` if not given).
    """

    usesDhcp = True
    assignsAddresses = True
    #: The tag range of the mode (None: untagged).
    tags = None

    def __init__(self, settings, runner, firewall=None, preload=None):
        VirtualNetwork.__init__(self, bridge=settings.bridge, mtu=settings.mtu)
        self.settings = settings
        self.runner = runner
        self.firewall = firewall or Firewall(runner, preload=preload)
        self.networks = GroupNetworks(settings.subnet, settings.addrsPerNet, self._tagRange())
        self.rules = {}
        self.pool = [str(a) for a in settings.publicIps]
        #: publicIp -> instanceId
        self.associations = {}
        #: public IPs present on the public interface
        self.publicUp = set()
        self._lock = defer.DeferredLock()
        #: False after a restart over running instances until the CLC's policy
        #: arrives: the rules in force are kept as they are until then.
        self.policyKnown = True

    def _tagRange(self):
        return None

    # ---- what the mode's links are ----

    def _linksUp(self, network):
        raise NotImplementedError

    def _linksDown(self, network):
        raise NotImplementedError

    def _peersChanged(self, network, added, removed):
        """Commands to follow the nodes a group's instances run on."""
        return []

    def nodeBridge(self, allocation):
        raise NotImplementedError

    # ---- running commands ----

    @defer.inlineCallbacks
    def _runAll(self, commands):
        for argv in commands:
            yield self.runner.run(argv)

    @defer.inlineCallbacks
    def _runQuietly(self, commands):
        """Undo steps: run each, whatever the one before did."""
        for argv in commands:
            result = yield self.runner.run(argv, check=False)
            if result.code != 0:
                log.debug("{argv} exited {code}", argv=argv, code=result.code)

    # ---- the data plane, brought in line with the bookkeeping ----

    def firewallState(self):
        privates = {iid: a["privateIp"] for iid, a in self.allocations.items()}
        return FirewallState(
            self.settings.subnet, self.settings.pubInterface, self.settings.metadata,
            groups=[GroupRules(n.owner, n.group, n.network, self.rules.get(n.key, ()))
                    for n in self.networks if n.members],
            associations=[(pub, privates[iid]) for pub, iid in self.associations.items()
                          if iid in privates])

    @defer.inlineCallbacks
    def _reconcileLinks(self):
        """Make, follow or remove each group network's links on the front end."""
        for network in list(self.networks):
            if network.members and not network.up:
                try:
                    yield self._runAll(self._linksUp(network))
                except Exception:
                    yield self._runQuietly(self._linksDown(network))
                    raise
                network.up = True
                network.peers = network.wantedPeers()
            elif network.members:
                wanted = network.wantedPeers()
                if wanted != network.peers:
                    log.info("{owner}/{group}'s network follows its nodes: {peers}",
                             owner=network.owner, group=network.group, peers=sorted(wanted))
                    yield self._runAll(self._peersChanged(
                        network, sorted(wanted - network.peers), sorted(network.peers - wanted)))
                    network.peers = wanted
            else:
                if network.up:
                    yield self._runQuietly(self._linksDown(network))
                    network.up = False
                self.networks.forget(network)

    @defer.inlineCallbacks
    def _reconcileAddresses(self):
        wanted = set(self.associations)
        for publicIp in sorted(wanted - self.publicUp):
            yield self.runner.run(links.addPublicAddress(publicIp, self.settings.pubInterface))
            self.publicUp.add(publicIp)
            log.info("public address {ip} is up", ip=publicIp)
        for publicIp in sorted(self.publicUp - wanted):
            yield self._runQuietly([links.deletePublicAddress(publicIp,
                                                              self.settings.pubInterface)])
            self.publicUp.discard(publicIp)
            log.info("public address {ip} is down", ip=publicIp)

    @defer.inlineCallbacks
    def _bringInLine(self):
        yield self._reconcileLinks()
        yield self._reconcileAddresses()
        if self.policyKnown:
            yield self.firewall.apply(self.firewallState())

    def _event(self, undo):
        """
        Bring the data plane in line; on failure call ``undo`` (which rolls the
        bookkeeping back), bring it in line again, and fail with the first error.
        """
        def attempt():
            d = self._bringInLine()

            def failed(failure):
                undo()
                again = self._bringInLine()
                again.addErrback(lambda f: log.error("undoing a failed network change "
                                                     "failed too: {e}", e=f.getErrorMessage()))
                again.addCallback(lambda _: failure)
                return again
            return d.addErrback(failed)
        return self._lock.run(attempt)

    # ---- VirtualNetwork ----

    def allocate(self, instanceId, owner, group, node=None):
        """
        An address in (owner, group)'s network; the network's links, dhcp
        slice and chain are made with the first instance.

        @param node: the address of the node that will run it (VXLAN flood
            peers follow the nodes in use).
        """
        existing = self.allocations.get(instanceId)
        if existing is not None:
            return defer.succeed(dict(existing))
        network, address = self.networks.join(owner, group, instanceId, node)
        allocation = {"macAddress": macForAddress(address), "privateIp": address,
                      "publicIp": address, "network": str(network.network),
                      "tag": network.tag, "owner": owner, "group": group, "node": node}
        self.allocations[instanceId] = allocation

        def undo():
            self.allocations.pop(instanceId, None)
            self.networks.leave(instanceId)
        d = self._event(undo)
        # (A release that overtook this event leaves the allocation as it was.)
        d.addCallback(lambda _: dict(self.allocations.get(instanceId, allocation)))
        return d

    def release(self, instanceId):
        """Free the instance's address; its network goes with the last member."""
        if instanceId not in self.allocations:
            return defer.succeed(None)
        self.allocations.pop(instanceId)
        self.networks.leave(instanceId)
        for publicIp, holder in list(self.associations.items()):
            if holder == instanceId:
                del self.associations[publicIp]
        return self._event(lambda: None)

    def adopt(self, instanceId, allocation):
        """Take back an allocation from the state file (applied at ``setUp``)."""
        if not {"owner", "group", "network", "privateIp"} <= set(allocation):
            # Made by another mode before VNET_MODE changed: not ours to serve.
            log.warn("{id}'s network was allocated by another VNET_MODE; not adopted",
                     id=instanceId)
            return
        VirtualNetwork.adopt(self, instanceId, allocation)
        self.networks.adopt(allocation["owner"], allocation["group"], instanceId,
                            allocation["privateIp"], allocation.get("tag"),
                            allocation["network"], allocation.get("node"))
        publicIp = allocation.get("publicIp")
        if publicIp in self.pool:
            self.associations[publicIp] = instanceId

    def nodeNetwork(self, allocation, owner, group):
        spec = VirtualNetwork.nodeNetwork(self, allocation, owner, group)
        spec["bridge"] = self.nodeBridge(allocation)
        return spec

    def setUp(self):
        """
        Start the front end's data plane.  With instances adopted from the
        state file (a restart while they run) nothing of theirs is flushed:
        links, router and public addresses that exist are kept, missing ones
        made, and the rules in force stay until the CLC's policy arrives
        (``resume``).  Without instances it is the guide's start: flush,
        preload, rules.  Either runs under the lock every event takes, so a
        policy that arrives meanwhile is applied right after it.
        """
        if self.allocations:
            # From now on, not when the resume ends: a policy that arrives
            # while the resume runs its commands is applied right after it.
            self.policyKnown = False
            return self._lock.run(self._resume)

        @defer.inlineCallbacks
        def start():
            yield self._runAll(self._startCommands())
            leftovers = []
            for network in self.networks:
                leftovers += self._linksDown(network)
            leftovers += [links.deletePublicAddress(publicIp, self.settings.pubInterface)
                          for publicIp in sorted(self.associations)]
            yield self._runQuietly(leftovers)
            yield self._reconcileLinks()
            yield self._reconcileAddresses()
            yield self.firewall.start(self.firewallState())
        return self._lock.run(start)

    def _startCommands(self):
        """What the mode runs on the front end first at every start (nothing by default)."""
        return []

    @defer.inlineCallbacks
    def _resume(self):
        yield self._runAll(self._startCommands())
        for network in list(self.networks):
            present = yield self._linksPresent(network)
            if present:
                # Kept as they are; flood entries that are there already are
                # refused, harmlessly.
                wanted = network.wantedPeers()
                yield self._runQuietly(self._peersChanged(network, sorted(wanted), []))
                network.up, network.peers = True, wanted
            else:
                # Made again below; whatever is left of them goes first.
                yield self._runQuietly(self._linksDown(network))
        yield self._reconcileLinks()
        yield self._resumeAddresses()
        self.firewall.resume()
        log.info("resumed {n} group network(s) with their rules in force; {policy}",
                 n=len(list(self.networks)), policy="the CLC's policy follows" if
                 self.policyKnown else "waiting for the CLC's policy")

    @defer.inlineCallbacks
    def _resumeAddresses(self):
        """
        Take the public interface's addresses of VNET_PUBLICIPS as they are:
        an earlier run put them there, for the associations of the state file
        or for one it did not record yet (killed between the change and the
        write).  They count as up, so the CLC's policy keeps those it wants
        and removes the others; the adopted associations' missing ones are
        added.
        """
        pub = self.settings.pubInterface
        result = yield self.runner.run(links.showAddresses(pub), check=False)
        if result.code == 0:
            present = {cidr.split("/")[0] for cidr in links.addressesIn(
                result.out.decode("utf-8", "replace")) if cidr.endswith("/32")}
            self.publicUp = present & set(self.pool)
        for publicIp in sorted(set(self.associations) - self.publicUp):
            added = yield self.runner.run(links.addPublicAddress(publicIp, pub), check=False)
            if added.code == 0:
                self.publicUp.add(publicIp)

    def _linksPresent(self, network):
        """
        A Deferred: whether the front end still holds ``network``'s links
        (a restarted CC keeps them rather than cut its instances off while it
        makes them again).  False by default: made again.
        """
        return defer.succeed(False)

    def _policyArrived(self):
        """The CLC's policy is known from now on; whether it was before."""
        wasKnown = self.policyKnown
        if not wasKnown:
            log.info("the CLC's policy arrived: the rules follow it from now on")
        self.policyKnown = True
        return wasKnown

    def dhcpConfig(self):
        dns = self.settings.dns
        subnets = [DhcpSubnet(str(n.network.network_address), str(n.network.netmask),
                              router=str(n.router), dns=[str(a) for a in dns] or [str(n.router)],
                              broadcast=str(n.network.broadcast_address), mtu=self.settings.mtu)
                   for n in self.networks if n.members]
        hosts = [DhcpHost(instanceId, a["macAddress"], a["privateIp"])
                 for instanceId, a in self.allocations.items()]
        return DhcpdConfig(subnets, hosts, sharedNetwork=self.dhcpSharedNetwork())

    def dhcpSharedNetwork(self):
        """The shared-network holding every slice, when they share one interface (None: not)."""
        return None

    # ---- the CLC's policy ----

    def updateGroup(self, policy):
        """Replace one group's ingress rules (authorize/revoke): one batch."""
        if not isinstance(policy, SecurityGroupPolicy):
            raise TypeError("%r is not a SecurityGroupPolicy" % (policy,))
        previous = self.rules.get((policy.owner, policy.name))
        self.rules[(policy.owner, policy.name)] = policy.rules
        wasKnown = self._policyArrived()

        def undo():
            if previous is None:
                self.rules.pop((policy.owner, policy.name), None)
            else:
                self.rules[(policy.owner, policy.name)] = previous
            self.policyKnown = wasKnown
        return self._event(undo)

    def removeGroup(self, owner, name):
        """Forget a deleted group's rules (its chain goes with its instances)."""
        previous = self.rules.pop((owner, name), None)

        def undo():
            if previous is not None:
                self.rules[(owner, name)] = previous
        return self._event(undo)

    def freePublicIp(self):
        """
        The first public IP of VNET_PUBLICIPS no instance holds.

        @raise CloudError: AddressLimitExceeded when every one is taken.
        """
        for publicIp in self.pool:
            if publicIp not in self.associations:
                return publicIp
        raise CloudError("AddressLimitExceeded",
                         "no free public IP: all %d addresses of VNET_PUBLICIPS are in use"
                         % (len(self.pool),))

    def _checkAssociation(self, publicIp, instanceId):
        publicIp = str(ipaddress.IPv4Address(publicIp))
        if publicIp not in self.pool:
            raise CloudError("InvalidAddress.NotFound",
                             "%s is not one of this cluster's public IPs" % (publicIp,))
        if instanceId not in self.allocations:
            raise CloudError("InvalidInstanceID.NotFound",
                             "%s has no network on this cluster" % (instanceId,))
        return publicIp

    def _setPublicIps(self, associations):
        """Set ``associations`` and each allocation's publicIp to match."""
        self.associations = dict(associations)
        held = {iid: pub for pub, iid in self.associations.items()}
        for instanceId, allocation in self.allocations.items():
            allocation["publicIp"] = held.get(instanceId, allocation["privateIp"])

    def associate(self, publicIp, instanceId):
        """Lead ``publicIp`` to ``instanceId`` (moving it if another holds it)."""
        publicIp = self._checkAssociation(publicIp, instanceId)
        previous = dict(self.associations)
        wanted = {pub: iid for pub, iid in previous.items() if iid != instanceId}
        wanted[publicIp] = instanceId
        self._setPublicIps(wanted)
        return self._event(lambda: self._setPublicIps(previous))

    def disassociate(self, publicIp):
        previous = dict(self.associations)
        wanted = dict(previous)
        wanted.pop(str(ipaddress.IPv4Address(publicIp)), None)
        self._setPublicIps(wanted)
        return self._event(lambda: self._setPublicIps(previous))

    def applyPolicy(self, policy):
        """
        Take a whole ``NetworkPolicy`` snapshot from the CLC: one batch.
        Associations of instances this cluster does not run are another
        cluster's and are skipped; one of ours with a public IP outside
        VNET_PUBLICIPS is logged and skipped.
        """
        if not isinstance(policy, NetworkPolicy):
            raise TypeError("%r is not a NetworkPolicy" % (policy,))
        wanted = {}
        for association in policy.associations:
            allocation = self.allocations.get(association.instanceId)
            if allocation is None or allocation["privateIp"] != association.privateIp:
                continue
            if association.publicIp not in self.pool:
                # The CLC's pool and this cluster's VNET_PUBLICIPS disagree:
                # the rest of the policy is still enforced.
                log.warn("{ip} (for {id}) is not in VNET_PUBLICIPS; not enforcing it",
                         ip=association.publicIp, id=association.instanceId)
                continue
            wanted[association.publicIp] = association.instanceId
        previousRules, previousAssociations = dict(self.rules), dict(self.associations)
        self.rules = {(g.owner, g.name): g.rules for g in policy.groups}
        self._setPublicIps(wanted)
        wasKnown = self._policyArrived()

        def undo():
            self.rules = previousRules
            self._setPublicIps(previousAssociations)
            # The first policy after a restart failed: the rules of the run
            # before stay in force, rather than the rules this run knows
            # (none), which would cut every instance off.
            self.policyKnown = wasKnown
        return self._event(undo)
