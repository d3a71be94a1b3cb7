"""The cluster controller: what the CLC's ICluster calls do.

``ClusterController`` provides ``ICluster`` over the cluster's nodes.  Running
instances means, all or none: check the request, place it (reserving node
room, ``eucad.cc.placement``), allocate the network (``eucad.cc.allocation``)
and serve its DHCP entries (``eucad.cc.dhcprefresh``), persist, then ask each
chosen node to start its instance; when any node fails, everything already
done for the request is undone (``eucad.cc.rollback``).  Terminating
releases the node's domain, the DHCP entry and the addresses, once the node
confirms (``eucad.cc.terminations``).

What the CC alone knows (which node, which MAC and addresses, the run spec)
lives in its records (``eucad.cc.ledger``), written to the state file on
every change and read at start, so a restarted CC keeps reporting running
instances and keeps their DHCP entries.  What the nodes know (state, launch
time) comes from the node registry's polls; ``describeInstances`` merges the
two.  Each poll also settles what is pending (``eucad.cc.reconcile``).

The CLC long-polls with ``waitForChange``: the controller keeps a
``ChangeFeed`` and bumps it whenever the view ``describeInstances`` gives
(each instance's id, state, addresses and reason) differs from the last one
it noted, which it checks after every poll and every saved change.
"""

import time

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from eucad.cc import ledger, reconcile, resources
from eucad.cc.allocation import NetworkAllocation
from eucad.cc.dhcprefresh import DhcpRefresh
from eucad.cc.ledger import LAUNCHING, RUNNING, TERMINATED, TERMINATING
from eucad.cc.nodecalls import asCloudError, nodeIsDown
from eucad.cc.rollback import rollBack
from eucad.cc.terminations import NodeTerminations
from eucad.cc.vnet.floodsync import FloodPeerSync
from eucad.common.changes import ChangeFeed, checkWaitArguments
from eucad.common.clustersettings import ClusterSettings
from eucad.common.errors import CloudError
from eucad.common.interfaces import ICluster
from eucad.common.netpolicy import NetworkPolicy
from eucad.common.records import Change, ClusterResources

log = Logger()


def _raise(error):
    raise error


@implementer(ICluster)
class ClusterController(Service):
    """
    The ICluster of one cluster.

    @param registry: the NodeRegistry (already polling, or started as a
        sibling service).
    @param network: the mode's VirtualNetwork.
    @param placement: the Placement over ``registry``.
    @param stateFile: a StateFile for the records.
    @param dhcpd: a DhcpdProcess when the mode uses DHCP, else None.
    @param clock: IReactorTime for timeouts.
    @param now: wall-clock time for launch and termination times.
    """

    def __init__(self, registry, network, placement, stateFile, dhcpd=None, clock=None,
                 now=time.time, vmTypes=None, runTimeout=600.0, terminateTimeout=120.0,
                 keepTerminatedSeconds=600.0):
        if clock is None:
            from twisted.internet import reactor as clock
        self.registry = registry
        self.network = network
        self.allocation = NetworkAllocation(network, self.nodeAddress)
        self.floodSync = (FloodPeerSync(network, registry, self.nodeAddress)
                          if getattr(network, "usesFloodPeers", False) else None)
        self.dhcp = DhcpRefresh(network, dhcpd)
        self.placement = placement
        self.stateFile = stateFile
        self.clock = clock
        self.now = now
        self.vmTypes = vmTypes or resources.VmTypes()
        self.runTimeout = runTimeout
        self.keepTerminatedSeconds = keepTerminatedSeconds
        self.terminations = NodeTerminations(registry, self._release, clock,
                                             terminateTimeout)
        self.records = {}
        self.ready = None
        self._launchedPoll = {}
        #: Bumped whenever the view of describeInstances changes.
        self.changes = ChangeFeed(clock)
        self._viewSignature = None

    # Service -----------------------------------------------------------------

    def startService(self):
        Service.startService(self)
        self.load()
        self.registry.addObserver(self.afterPoll)
        # Nodes may have answered a poll already: settle against it now.
        self.afterPoll(self.registry.entries)
        self.ready = defer.maybeDeferred(self.network.setUp)
        self.ready.addCallback(lambda _: self.dhcp.apply())
        self.ready.addErrback(lambda f: log.failure("cannot set up the VM network", f))

    def stopService(self):
        Service.stopService(self)
        try:
            self.registry.removeObserver(self.afterPoll)
        except ValueError:
            pass
        if self.floodSync is not None:
            self.floodSync.stop()
        # The CLC's long polls end now rather than at their timeout.
        self.changes.release()
        return defer.gatherResults([self.stateFile.whenIdle(),
                                    defer.maybeDeferred(self.network.tearDown)],
                                   consumeErrors=True)

    def load(self):
        """
        Take back the records of the state file: their allocations, their
        node reservations and the VM types they used.
        """
        for instanceId, record in ledger.fromDisk(self.stateFile.load()).items():
            if record["phase"] == LAUNCHING:
                # The CC stopped while the node was being asked: the next
                # poll tells whether the node has it (else it is cleaned up).
                record["phase"] = RUNNING
            self.records[instanceId] = record
            self.vmTypes.learn(record["spec"].vmType)
            if record["phase"] != TERMINATED:
                self.allocation.adopt(record)
                self.placement.reserve(instanceId, record["node"], record["spec"].vmType)
                self._launchedPoll[instanceId] = 0
        if self.records:
            log.info("state file: {n} instance record(s)", n=len(self.records))

    def persist(self):
        """
        Write the records; a Deferred that fires when they are on disk.  The
        records change only before a persist, so this is also where the CLC's
        long polls hear of it.
        """
        self.noteViewChanges()
        return self.stateFile.save({"instances": ledger.forDisk(self.records)})

    def noteViewChanges(self):
        """Bump the change feed if what describeInstances answers is different now."""
        signature = tuple(sorted(
            (view.instanceId, view.state, view.privateIp, view.publicIp, view.reason)
            for view in self._views()))
        if signature != self._viewSignature:
            self._viewSignature = signature
            self.changes.changed()

    def _changed(self):
        """Persist and refresh DHCP after a change; errors are logged, not raised."""
        d = defer.gatherResults([self.persist(), self.dhcp.apply()], consumeErrors=True)
        d.addErrback(lambda f: log.error("saving the state or refreshing dhcpd failed: {e}",
                                         e=f.value.subFailure.getErrorMessage()))
        return d

    # ICluster: describeResources ----------------------------------------------

    def describeResources(self):
        rooms = {entry.name: tuple(max(0, v) for v in self.placement.room(entry))
                 for entry in self.registry.entries}
        nodes = [entry.describe(rooms[entry.name] if entry.up else None,
                                asleep=self.placement.asleep(entry))
                 for entry in self.registry.entries]
        vmTypes = resources.capacity(
            self.vmTypes.all(),
            [(entry.total(), rooms[entry.name]) for entry in self.placement.available()])
        return defer.succeed(ClusterResources(vmTypes=vmTypes, nodes=nodes))

    # ICluster: runInstances -----------------------------------------------------

    def runInstances(self, specs):
        try:
            ledger.checkRequest(specs, self.records)
            for spec in specs:
                self.vmTypes.learn(spec.vmType)
            entries = self.placement.place(specs)
        except CloudError as e:
            return defer.fail(e)
        # Claim the ids at once, before anything can yield, so a repeated
        # request cannot start the same instances twice.
        records = [ledger.newRecord(spec, entry.name, self.now())
                   for spec, entry in zip(specs, entries)]
        for record in records:
            self.records[record["instanceId"]] = record
        return self._launch(entries, records)

    @defer.inlineCallbacks
    def _launch(self, entries, records):
        try:
            # Sleeping nodes chosen by POWERSAVE are woken before anything is made.
            yield self.placement.whenReady(entries)
            yield self.allocation.allocate(records)
            self._floodPeersChanged()
            yield self.persist()
        except Exception as e:
            for record in records:
                self._release(record, forget=True)
            if isinstance(e, CloudError):
                raise
            log.failure("preparing the instances failed")
            raise CloudError("InternalError", "preparing the instances failed: %s" % (e,), 500)
        try:
            yield self.dhcp.apply()
        except Exception as e:
            log.error("dhcpd did not take the new entries: {e}", e=e)
            for record in records:
                self._release(record, forget=True)
            yield self._changed()
            raise CloudError("InternalError", "the DHCP server failed: %s" % (e,), 500)
        outcomes = yield defer.DeferredList(
            [self._runOnNode(record, entry) for record, entry in zip(records, entries)],
            consumeErrors=True)
        errors = [asCloudError(result) for ok, result in outcomes if not ok]
        if errors:
            log.warn("rolling back {n} instance(s): {e}", n=len(records), e=errors[0])
            yield rollBack(records, self.terminations)
            yield self._changed()
            raise errors[0]
        answer = []
        for (_, report), record, entry in zip(outcomes, records, entries):
            if record["phase"] != LAUNCHING:
                # Terminated while the node was starting it: its network and
                # room are already released, and the node may have started it
                # after the terminate reached it, so the node is asked again.
                self._terminateAfterLaunch(record, entry)
                answer.append(ledger.view(record, self._report(record)))
                continue
            record["phase"] = RUNNING
            if isinstance(report.launchTime, int):
                record["launchTime"] = report.launchTime
            self._launchedPoll[record["instanceId"]] = entry.pollsStarted
            answer.append(ledger.view(record, report))
        yield self.persist()
        defer.returnValue(answer)

    def _terminateAfterLaunch(self, record, entry):
        """Destroy on its node an instance that was terminated while launching."""
        log.info("{id} was terminated while {node} started it; terminating it there again",
                 id=record["instanceId"], node=entry.name)
        if self.records.get(record["instanceId"]) is record:
            self.terminations.terminateAgain(record).addCallback(
                self._afterCleanup)
        else:
            # The record has already expired: nothing left to release, only the domain.
            self.terminations.destroyOn(entry, record["instanceId"])

    def _runOnNode(self, record, entry):
        d = defer.maybeDeferred(entry.node.runInstance, self.allocation.placedSpec(record))
        d.addTimeout(self.runTimeout, self.clock)

        def failed(failure):
            error = asCloudError(failure)
            if nodeIsDown(error):
                self.registry.markDown(entry, str(error))
            log.warn("{node} did not run {id}: {e}", node=entry.name,
                     id=record["instanceId"], e=error)
            return failure
        return d.addErrback(failed)

    # ICluster: describeInstances -------------------------------------------------

    def describeInstances(self):
        return defer.succeed(self._views())

    def _report(self, record):
        entry = self.registry.entry(record["node"])
        return entry.instances.get(record["instanceId"]) if entry else None

    def _views(self):
        answer = [ledger.view(record, self._report(record)) for record in
                  sorted(self.records.values(), key=lambda r: (r["launchTime"],
                                                               r["instanceId"]))]
        for entry in self.registry.entries:
            for instanceId, report in sorted(entry.instances.items()):
                if instanceId not in self.records:
                    # Started by an earlier CC whose state is lost, or by hand:
                    # still the cluster's, so the CLC hears about it.
                    answer.append(report.replace(node=entry.name))
        return answer

    # ICluster: waitForChange ---------------------------------------------------------

    def waitForChange(self, generation, timeout):
        try:
            timeout = checkWaitArguments(generation, timeout)
        except CloudError as e:
            return defer.fail(e)
        d = self.changes.wait(generation, timeout)
        return d.addCallback(lambda _: Change(self.changes.generation, self._views()))

    # ICluster: terminateInstances -------------------------------------------------

    def terminateInstances(self, instanceIds):
        if not isinstance(instanceIds, list) or not all(
                isinstance(i, str) for i in instanceIds):
            return defer.fail(CloudError("InvalidParameterValue",
                                         "terminateInstances needs a list of instance ids"))
        return self._terminate(instanceIds)

    @defer.inlineCallbacks
    def _terminate(self, instanceIds):
        pending = []
        for instanceId in instanceIds:
            record = self.records.get(instanceId)
            if record is None:
                pending.append(self.terminations.terminateStray(instanceId))
                continue
            previous = ledger.stateOf(record, None if record["phase"] != RUNNING else
                                      self._report(record))
            if record["phase"] == TERMINATED:
                pending.append(defer.succeed(ledger.termination(
                    instanceId, previous, "terminated")))
                continue
            record["phase"] = TERMINATING
            record["reason"] = "terminated by the user"
            d = self.terminations.terminate(record)
            d.addCallback(lambda done, i=instanceId, p=previous: ledger.termination(
                i, p, "terminated" if done else "shutting-down"))
            pending.append(d)
        answers = yield defer.gatherResults(pending)
        yield self._changed()
        defer.returnValue(answers)

    # ICluster: rebootInstances, getConsoleOutput ------------------------------------

    def _nodeOf(self, instanceId):
        """
        The up NodeEntry that holds ``instanceId`` alive: the node of its
        record, or a node that reports it (an instance an earlier CC started).
        """
        notFound = CloudError("InvalidInstanceID.NotFound",
                              "The instance ID '%s' does not exist" % (instanceId,))
        if not isinstance(instanceId, str):
            raise notFound
        record = self.records.get(instanceId)
        if record is not None:
            if record["phase"] in (TERMINATING, TERMINATED):
                raise notFound
            if record["phase"] == LAUNCHING:
                raise CloudError("IncorrectInstanceState",
                                 "The instance '%s' is pending" % (instanceId,))
            entry = self.registry.entry(record["node"])
        else:
            entry = next((e for e in self.registry.entries
                          if instanceId in e.instances), None)
            if entry is None or entry.instances[instanceId].state == "terminated":
                raise notFound
        if entry is None or not entry.up:
            raise CloudError("Unavailable", "the node of %s is not reachable" % (
                instanceId,), 503)
        return entry

    def rebootInstances(self, instanceIds):
        try:
            if not isinstance(instanceIds, list) or not instanceIds:
                raise CloudError("InvalidParameterValue",
                                 "rebootInstances needs a non-empty list of instance ids")
            # Every id is checked before any node is asked: all or none.
            entries = [self._nodeOf(instanceId) for instanceId in instanceIds]
        except CloudError as e:
            return defer.fail(e)
        calls = [defer.maybeDeferred(entry.node.rebootInstance, instanceId)
                 for entry, instanceId in zip(entries, instanceIds)]
        d = defer.gatherResults(calls, consumeErrors=True)
        d.addErrback(lambda failure: _raise(asCloudError(failure.value.subFailure)))
        return d.addCallback(lambda reports: [
            self._viewOf(instanceId, entry, report)
            for instanceId, entry, report in zip(instanceIds, entries, reports)])

    def _viewOf(self, instanceId, entry, report):
        record = self.records.get(instanceId)
        if record is None:
            return report.replace(node=entry.name)
        return ledger.view(record, report)

    def getConsoleOutput(self, instanceId):
        try:
            entry = self._nodeOf(instanceId)
        except CloudError as e:
            return defer.fail(e)
        d = defer.maybeDeferred(entry.node.getConsoleOutput, instanceId)
        return d.addErrback(lambda failure: _raise(asCloudError(failure)))

    # ICluster: applyNetworkPolicy ---------------------------------------------------

    def applyNetworkPolicy(self, policy):
        if not isinstance(policy, NetworkPolicy):
            return defer.fail(CloudError("InvalidParameterValue",
                                         "applyNetworkPolicy needs a NetworkPolicy"))
        apply = getattr(self.network, "applyPolicy", None)
        if apply is None:
            # SYSTEM and STATIC have no groups or elastic IPs to enforce.
            return defer.succeed(None)
        d = defer.maybeDeferred(apply, policy)
        d.addCallback(lambda _: self._publicIpsChanged())
        return d

    # ICluster: applyClusterSettings -------------------------------------------------

    def applyClusterSettings(self, settings):
        """The cloud's name servers into dhcpd (modes without DHCP take them and do nothing)."""
        if not isinstance(settings, ClusterSettings):
            return defer.fail(CloudError("InvalidParameterValue",
                                         "applyClusterSettings needs a ClusterSettings"))
        self.dhcp.setDnsServers(settings.dnsServers)
        if not self.running:
            # startService's first refresh serves them.
            return defer.succeed(None)
        d = self.dhcp.apply()
        d.addErrback(lambda f: _raise(CloudError(
            "InternalError", "dhcpd did not take the name servers: %s" % (
                f.getErrorMessage(),), 500)))
        return d

    def _floodPeersChanged(self):
        """Nodes whose VXLAN flood peers may differ now are told (MANAGED on VXLAN)."""
        if self.floodSync is not None and self.running:
            self.floodSync.sync()

    def _publicIpsChanged(self):
        """Keep the records' addresses (and so the state file) as the mode now has them."""
        changed = False
        for instanceId, record in self.records.items():
            allocation = self.network.allocations.get(instanceId)
            if record["phase"] != TERMINATED and allocation is not None and \
                    record.get("network") != allocation:
                record["network"] = dict(allocation)
                changed = True
        if changed:
            self._changed()

    def _release(self, record, forget=False):
        instanceId = record["instanceId"]
        self.allocation.release(instanceId)
        self._floodPeersChanged()
        self.placement.release(instanceId)
        self._launchedPoll.pop(instanceId, None)
        if forget:
            self.records.pop(instanceId, None)
        else:
            record["phase"] = TERMINATED
            record["terminatedAt"] = self.now()

    # Polls ------------------------------------------------------------------------

    def nodeAddress(self, name):
        """
        The address of node ``name`` on the cluster's network: what it
        reports (VNET_LOCALIP), else its host; None for a node NODES lacks.
        """
        entry = self.registry.entry(name)
        if entry is None:
            return None
        reported = entry.resource.vnetAddress if entry.resource is not None else None
        return reported or entry.host

    def afterPoll(self, entries):
        """Settle what a poll revealed (``eucad.cc.reconcile``)."""
        self._floodPeersChanged()
        changed = False
        for action, record, detail in reconcile.reconcile(
                self.records, self.registry, self._launchedPoll,
                self.terminations.inFlight, self.now(), self.keepTerminatedSeconds):
            if action == reconcile.EXPIRE:
                del self.records[record["instanceId"]]
                changed = True
            elif action == reconcile.TERMINATE:
                self.terminations.terminate(
                    record, forget=record.get("rolledBack", False)).addCallback(
                        self._afterCleanup)
            elif action == reconcile.CLEAN_UP:
                self._cleanUp(record, detail)
            elif action == reconcile.LEARN_ADDRESS:
                changed = self.allocation.learn(record, detail) or changed
        if changed:
            self._changed()
        else:
            # The nodes' reports (a state, an address) may differ all the same.
            self.noteViewChanges()

    def _cleanUp(self, record, reason):
        log.info("{id}: {reason}", id=record["instanceId"], reason=reason)
        record["phase"] = TERMINATING
        record["reason"] = reason
        self.terminations.terminate(record).addCallback(self._afterCleanup)

    def _afterCleanup(self, done):
        if done:
            return self._changed()
