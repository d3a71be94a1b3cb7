"""The cluster controller: what the CLC's ICluster calls do.

``ClusterController`` provides ``ICluster`` over the cluster's nodes.  Running
instances means, all or none: check the specs, place them (reserving node
room), allocate their network (MAC/IP, DHCP entry), persist, then ask each
chosen node to start its instance; when any node fails, everything already
done for the request is undone.  Terminating releases the node's domain, the
DHCP entry and the addresses, once the node confirms.

What the CC alone knows (which node, which MAC and addresses, what it was
asked to run) lives in the state file, rewritten on every change and read at
start, so a restarted CC keeps reporting running instances and keeps their
DHCP entries.  What the nodes know (state, launch time) comes from the node
registry's polls; ``describeInstances`` merges the two.  Each poll also
settles what is pending: instances that vanished from their node or that the
node reports terminated are cleaned up, and terminations that could not reach
their node are retried.

The CLC long-polls with ``waitForChange``: the controller keeps a
``ChangeFeed`` and bumps it whenever the view ``describeInstances`` gives
(each instance's id, state, addresses and reason) differs from the last one
it noted, which it checks after every poll and every saved change.
"""

import copy
import re
import time

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from eucad.cc import resources
from eucad.cc.vnet.base import UNKNOWN_ADDRESS
from eucad.common import ids
from eucad.common.changes import ChangeFeed, checkWaitArguments
from eucad.common.errors import CloudError
from eucad.common.interfaces import ICluster

log = Logger()

#: Phases of a record: the CC's side of an instance's life.
LAUNCHING = "launching"      # network allocated, node not yet confirmed
RUNNING = "running"          # the node accepted it; its state comes from polls
TERMINATING = "terminating"  # asked to go; waiting for the node to confirm
TERMINATED = "terminated"    # gone, resources released; kept a while for describe

#: The keys of an instance dict (eucad.common.interfaces).
INSTANCE_KEYS = ("instanceId", "reservationId", "owner", "imageId", "kernelId",
                 "ramdiskId", "vmType", "state", "macAddress", "privateIp",
                 "publicIp", "node", "launchTime", "launchIndex", "keyName", "reason")

# Ids and owners are held to eucad.common.ids, as the node holds them: a
# request is refused here, before addresses and DHCP entries are taken, rather
# than by the node afterwards.
_GROUP = re.compile(r"^[A-Za-z0-9._@:+=,-]{1,255}$")


def _invalid(message):
    return CloudError("InvalidParameterValue", message, 400)


def _isPositiveInt(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _optionalText(spec, key, index):
    value = spec.get(key)
    if value is not None and not isinstance(value, str):
        raise _invalid("spec %d: %s must be a string" % (index, key))
    return value


def _image(spec, key, index, required):
    value = spec.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, dict) or not ids.isImageId(value.get("id")):
        raise _invalid("spec %d: %s must be an image with an emi-/eki-/eri- id" % (index, key))
    return value


def validateSpecs(specs):
    """
    Check the run specs of one request (shape in ICluster.runInstances).

    @return: deep copies, with ``network`` completed (owner defaults to the
        instance's owner, group to ``default``).
    @raise CloudError: ``InvalidParameterValue`` naming the first problem.
    """
    if not isinstance(specs, list) or not specs:
        raise _invalid("runInstances needs a non-empty list of specs")
    checked, seen = [], set()
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise _invalid("spec %d is not a dict" % (index,))
        instanceId = spec.get("instanceId")
        if not ids.isInstanceId(instanceId):
            raise _invalid("spec %d: bad instanceId %r" % (index, instanceId))
        if instanceId in seen:
            raise _invalid("instanceId %s appears twice" % (instanceId,))
        seen.add(instanceId)
        reservationId = spec.get("reservationId")
        if not ids.isReservationId(reservationId):
            raise _invalid("spec %d: bad reservationId %r" % (index, reservationId))
        for key, valid in (("owner", ids.isOwner), ("imageId", ids.isImageId)):
            if not valid(spec.get(key)):
                raise _invalid("spec %d: bad %s %r" % (index, key, spec.get(key)))
        _image(spec, "image", index, required=True)
        _image(spec, "kernel", index, required=False)
        _image(spec, "ramdisk", index, required=False)
        vmtype = spec.get("vmType")
        if not isinstance(vmtype, dict) or not isinstance(vmtype.get("name"), str) \
                or not vmtype["name"] or not all(
                    _isPositiveInt(vmtype.get(key)) for key in ("cpu", "ram", "disk")):
            raise _invalid("spec %d: vmType needs a name and positive integer cpu, ram "
                           "and disk" % (index,))
        launchIndex = spec.get("launchIndex", 0)
        if not isinstance(launchIndex, int) or isinstance(launchIndex, bool) or launchIndex < 0:
            raise _invalid("spec %d: bad launchIndex %r" % (index, launchIndex))
        for key in ("keyName", "keyData", "userData"):
            _optionalText(spec, key, index)
        network = spec.get("network", {})
        if not isinstance(network, dict):
            raise _invalid("spec %d: network must be a dict" % (index,))
        copied = copy.deepcopy(spec)
        copied["launchIndex"] = launchIndex
        copied["network"] = dict(network, owner=network.get("owner") or spec["owner"],
                                 group=network.get("group") or "default")
        if not ids.isOwner(copied["network"]["owner"]):
            raise _invalid("spec %d: bad network owner" % (index,))
        group = copied["network"]["group"]
        if not isinstance(group, str) or not _GROUP.fullmatch(group):
            raise _invalid("spec %d: bad network group" % (index,))
        checked.append(copied)
    return checked


def _asCloudError(failure):
    if failure.check(CloudError):
        return failure.value
    if failure.check(defer.TimeoutError):
        return CloudError("Unavailable", "the node did not answer in time", 503)
    return CloudError("InternalError", failure.getErrorMessage(), 500)


def _nodeIsDown(error):
    """Whether a failed call says the node (not the request) is the problem."""
    return error.code in ("Unavailable", "InternalError")


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
                 now=time.time, vmtypes=None, runTimeout=600.0, terminateTimeout=120.0,
                 keepTerminatedSeconds=600.0):
        if clock is None:
            from twisted.internet import reactor as clock
        self.registry = registry
        self.network = network
        self.placement = placement
        self.stateFile = stateFile
        self.dhcpd = dhcpd if network.usesDhcp else None
        self.clock = clock
        self.now = now
        self.vmtypes = vmtypes or resources.VmTypes()
        self.runTimeout = runTimeout
        self.terminateTimeout = terminateTimeout
        self.keepTerminatedSeconds = keepTerminatedSeconds
        self.records = {}
        self.ready = None
        self._launchedPoll = {}
        self._terminating = {}
        #: Bumped whenever the view of describeInstances changes.
        self.changes = ChangeFeed(clock)
        self._viewSignature = None

    # Service -----------------------------------------------------------------

    def startService(self):
        Service.startService(self)
        self.load()
        self.registry.addObserver(self._afterPoll)
        # Nodes may have answered a poll already: settle against it now.
        self._afterPoll(self.registry.entries)
        self.ready = defer.maybeDeferred(self.network.setUp)
        self.ready.addCallback(lambda _: self._applyDhcp())
        self.ready.addErrback(lambda f: log.failure("cannot set up the VM network", f))

    def stopService(self):
        Service.stopService(self)
        try:
            self.registry.removeObserver(self._afterPoll)
        except ValueError:
            pass
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
        document = self.stateFile.load() or {}
        for instanceId, record in sorted(document.get("instances", {}).items()):
            if record["phase"] == LAUNCHING:
                # The CC stopped while the node was being asked: the next
                # poll tells whether the node has it (else it is cleaned up).
                record["phase"] = RUNNING
            self.records[instanceId] = record
            self.vmtypes.learn(record["vmType"])
            if record["phase"] != TERMINATED:
                self.network.adopt(instanceId, record["network"])
                self.placement.reserve(instanceId, record["node"], record["vmType"])
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
        return self.stateFile.save({"instances": copy.deepcopy(self.records)})

    def noteViewChanges(self):
        """Bump the change feed if what describeInstances answers is different now."""
        signature = tuple(sorted(
            (view["instanceId"], view["state"], view["privateIp"], view["publicIp"],
             view["reason"]) for view in self._views()))
        if signature != self._viewSignature:
            self._viewSignature = signature
            self.changes.changed()

    def _applyDhcp(self):
        if self.dhcpd is None:
            return defer.succeed(None)
        return self.dhcpd.apply(self.network.dhcpConfig(), self.network.dhcpInterfaces())

    def _changed(self):
        """Persist and refresh DHCP after a change; errors are logged, not raised."""
        d = defer.gatherResults([self.persist(), self._applyDhcp()], consumeErrors=True)
        d.addErrback(lambda f: log.error("saving the state or refreshing dhcpd failed: {e}",
                                         e=f.value.subFailure.getErrorMessage()))
        return d

    # ICluster: describeResources ----------------------------------------------

    def describeResources(self):
        rooms = {entry.name: tuple(max(0, v) for v in self.placement.room(entry))
                 for entry in self.registry.entries}
        nodes = [entry.describe(rooms[entry.name] if entry.up else None)
                 for entry in self.registry.entries]
        vmtypes = resources.capacity(
            self.vmtypes.all(),
            [(entry.total(), rooms[entry.name]) for entry in self.registry.upEntries()])
        return defer.succeed({"vmtypes": vmtypes, "nodes": nodes})

    # ICluster: runInstances -----------------------------------------------------

    def runInstances(self, specs):
        try:
            specs = validateSpecs(specs)
            for spec in specs:
                record = self.records.get(spec["instanceId"])
                if record is not None and record["phase"] != TERMINATED:
                    raise _invalid("%s is already known to this cluster" % (
                        spec["instanceId"],))
            for spec in specs:
                self.vmtypes.learn(spec["vmType"])
            entries = self.placement.place(specs)
        except CloudError as e:
            return defer.fail(e)
        # Claim the ids at once, before anything can yield, so a repeated
        # request cannot start the same instances twice.
        records = [self._newRecord(spec, entry) for spec, entry in zip(specs, entries)]
        for record in records:
            self.records[record["instanceId"]] = record
        return self._launch(specs, entries, records)

    def _newRecord(self, spec, entry):
        return {
            "instanceId": spec["instanceId"],
            "reservationId": spec["reservationId"],
            "owner": spec["owner"],
            "imageId": spec["imageId"],
            "kernelId": (spec.get("kernel") or {}).get("id"),
            "ramdiskId": (spec.get("ramdisk") or {}).get("id"),
            "vmType": {key: spec["vmType"][key] for key in ("name", "cpu", "ram", "disk")},
            "keyName": spec.get("keyName"),
            "launchIndex": spec["launchIndex"],
            "launchTime": int(self.now()),
            "group": {"owner": spec["network"]["owner"], "group": spec["network"]["group"]},
            "network": {},
            "node": entry.name,
            "phase": LAUNCHING,
            "reason": "",
            "terminatedAt": None,
        }

    @defer.inlineCallbacks
    def _launch(self, specs, entries, records):
        try:
            for spec, record in zip(specs, records):
                allocation = yield defer.maybeDeferred(
                    self.network.allocate, record["instanceId"],
                    record["group"]["owner"], record["group"]["group"])
                record["network"] = dict(allocation)
            yield self.persist()
        except Exception as e:
            for record in records:
                self._release(record, forget=True)
            if isinstance(e, CloudError):
                raise
            log.failure("preparing the instances failed")
            raise CloudError("InternalError", "preparing the instances failed: %s" % (e,), 500)
        if self.dhcpd is not None:
            try:
                yield self._applyDhcp()
            except Exception as e:
                log.error("dhcpd did not take the new entries: {e}", e=e)
                for record in records:
                    self._release(record, forget=True)
                yield self._changed()
                raise CloudError("InternalError", "the DHCP server failed: %s" % (e,), 500)
        outcomes = yield defer.DeferredList(
            [self._runOnNode(spec, record, entry)
             for spec, record, entry in zip(specs, records, entries)], consumeErrors=True)
        errors = [_asCloudError(result) for ok, result in outcomes if not ok]
        if errors:
            log.warn("rolling back {n} instance(s): {e}", n=len(records), e=errors[0])
            yield self._rollBack(records)
            raise errors[0]
        answer = []
        for (_, instance), record, entry in zip(outcomes, records, entries):
            if record["phase"] != LAUNCHING:
                # Terminated while the node was starting it: its network and
                # room are already released, and the node may have started it
                # after the terminate reached it, so the node is asked again.
                self._terminateAfterLaunch(record, entry)
                answer.append(self._view(record))
                continue
            record["phase"] = RUNNING
            if isinstance(instance, dict) and isinstance(instance.get("launchTime"), int):
                record["launchTime"] = instance["launchTime"]
            self._launchedPoll[record["instanceId"]] = entry.pollsStarted
            answer.append(self._view(record, instance if isinstance(instance, dict) else None))
        yield self.persist()
        defer.returnValue(answer)

    def _terminateAfterLaunch(self, record, entry):
        """
        Destroy on its node an instance that was terminated while launching.
        The record goes back to ``terminating`` until the node confirms (polls
        retry when it cannot be reached); releasing again is harmless.
        """
        instanceId = record["instanceId"]
        log.info("{id} was terminated while {node} started it; terminating it there again",
                 id=instanceId, node=entry.name)
        if self.records.get(instanceId) is record:
            # A terminate still in flight may have reached the node before the
            # instance existed there: send this one after it.
            earlier = defer.Deferred()
            if instanceId in self._terminating:
                self._terminating[instanceId].append(earlier)
            else:
                earlier.callback(None)

            def again(_):
                record["phase"] = TERMINATING
                return self._terminateOnNode(record).addCallback(self._afterCleanup)
            earlier.addCallback(again)
            return
        # The record has already expired: nothing left to release, only the domain.
        d = defer.maybeDeferred(entry.node.terminateInstance, instanceId)
        d.addTimeout(self.terminateTimeout, self.clock)
        d.addErrback(lambda f: log.warn("cannot terminate {id} on {node}: {e}", id=instanceId,
                                        node=entry.name, e=f.getErrorMessage()))

    def _runOnNode(self, spec, record, entry):
        allocation = record["network"]
        nodeSpec = copy.deepcopy(spec)
        nodeSpec["macAddress"] = allocation["macAddress"]
        nodeSpec["network"] = dict(
            self.network.nodeNetwork(allocation, record["group"]["owner"],
                                     record["group"]["group"]))
        d = defer.maybeDeferred(entry.node.runInstance, nodeSpec)
        d.addTimeout(self.runTimeout, self.clock)

        def failed(failure):
            error = _asCloudError(failure)
            if _nodeIsDown(error):
                self.registry.markDown(entry, str(error))
            log.warn("{node} did not run {id}: {e}", node=entry.name,
                     id=record["instanceId"], e=error)
            return failure
        return d.addErrback(failed)

    @defer.inlineCallbacks
    def _rollBack(self, records):
        for record in records:
            record["phase"] = TERMINATING
            record["reason"] = "rolled back: the request failed"
            # The CLC was told the request failed: once the node confirms,
            # the record goes without a trace, now or on a later poll.
            record["rolledBack"] = True
        outcomes = yield defer.DeferredList(
            [self._terminateOnNode(record, forget=True) for record in records])
        for (ok, done), record in zip(outcomes, records):
            if not (ok and done):
                log.warn("{id} could not be rolled back on {node} yet; retrying on polls",
                         id=record["instanceId"], node=record["node"])
        yield self._changed()

    # ICluster: describeInstances -------------------------------------------------

    def describeInstances(self):
        return defer.succeed(self._views())

    def _views(self):
        answer = [self._view(record) for record in
                  sorted(self.records.values(), key=lambda r: (r["launchTime"],
                                                               r["instanceId"]))]
        for entry in self.registry.entries:
            for instanceId, report in sorted(entry.instances.items()):
                if instanceId not in self.records:
                    # Started by an earlier CC whose state is lost, or by hand:
                    # still the cluster's, so the CLC hears about it.
                    view = dict.fromkeys(INSTANCE_KEYS)
                    view.update(report)
                    view["node"] = entry.name
                    answer.append(view)
        return answer

    # ICluster: waitForChange ---------------------------------------------------------

    def waitForChange(self, generation, timeout):
        try:
            timeout = checkWaitArguments(generation, timeout)
        except CloudError as e:
            return defer.fail(e)
        d = self.changes.wait(generation, timeout)
        return d.addCallback(lambda _: {"generation": self.changes.generation,
                                        "instances": self._views()})

    def _state(self, record, report):
        phase = record["phase"]
        if phase == LAUNCHING:
            return "pending"
        if phase == TERMINATING:
            return "shutting-down"
        if phase == TERMINATED:
            return "terminated"
        return (report or {}).get("state") or "pending"

    def _view(self, record, report=None):
        """An instance dict from the CC's record and the node's report."""
        if report is None:
            entry = self.registry.entry(record["node"])
            report = entry.instances.get(record["instanceId"]) if entry else None
        view = dict.fromkeys(INSTANCE_KEYS)
        view.update(report or {})
        network = record["network"]
        privateIp = network.get("privateIp") or UNKNOWN_ADDRESS
        publicIp = network.get("publicIp") or UNKNOWN_ADDRESS
        reported = (report or {}).get("privateIp")
        if privateIp == UNKNOWN_ADDRESS and reported and reported != UNKNOWN_ADDRESS:
            privateIp = reported
            publicIp = (report or {}).get("publicIp") or reported
        view.update({
            "instanceId": record["instanceId"],
            "reservationId": record["reservationId"],
            "owner": record["owner"],
            "imageId": record["imageId"],
            "kernelId": record["kernelId"],
            "ramdiskId": record["ramdiskId"],
            "vmType": record["vmType"]["name"],
            "state": self._state(record, report),
            "macAddress": network.get("macAddress"),
            "privateIp": privateIp,
            "publicIp": publicIp,
            "node": record["node"],
            "launchTime": (report or {}).get("launchTime") or record["launchTime"],
            "launchIndex": record["launchIndex"],
            "keyName": record["keyName"],
            "reason": record["reason"] or (report or {}).get("reason") or "",
        })
        return view

    # ICluster: terminateInstances -------------------------------------------------

    def terminateInstances(self, instanceIds):
        if not isinstance(instanceIds, list) or not all(
                isinstance(i, str) for i in instanceIds):
            return defer.fail(_invalid("terminateInstances needs a list of instance ids"))
        return self._terminate(instanceIds)

    @defer.inlineCallbacks
    def _terminate(self, instanceIds):
        pending = []
        for instanceId in instanceIds:
            record = self.records.get(instanceId)
            if record is None:
                pending.append(self._terminateStray(instanceId))
                continue
            previous = self._state(record, None if record["phase"] != RUNNING else
                                   self._report(record))
            if record["phase"] == TERMINATED:
                pending.append(defer.succeed(self._answer(instanceId, previous, "terminated")))
                continue
            record["phase"] = TERMINATING
            record["reason"] = "terminated by the user"
            d = self._terminateOnNode(record)
            d.addCallback(lambda done, i=instanceId, p=previous: self._answer(
                i, p, "terminated" if done else "shutting-down"))
            pending.append(d)
        answers = yield defer.gatherResults(pending)
        yield self._changed()
        defer.returnValue(answers)

    @staticmethod
    def _answer(instanceId, previous, state):
        return {"instanceId": instanceId, "previousState": previous, "state": state}

    def _report(self, record):
        entry = self.registry.entry(record["node"])
        return entry.instances.get(record["instanceId"]) if entry else None

    def _terminateStray(self, instanceId):
        """An id the CC has no record of: ask the node that lists it, if any."""
        for entry in self.registry.entries:
            report = entry.instances.get(instanceId)
            if report is not None:
                d = defer.maybeDeferred(entry.node.terminateInstance, instanceId)
                d.addTimeout(self.terminateTimeout, self.clock)

                def done(answer, entry=entry, previous=report.get("state") or "running"):
                    entry.instances.pop(instanceId, None)
                    return self._answer(instanceId, previous, "terminated")

                def failed(failure, previous=report.get("state") or "running"):
                    log.warn("cannot terminate {id}: {e}", id=instanceId,
                             e=failure.getErrorMessage())
                    return self._answer(instanceId, previous, "shutting-down")
                return d.addCallbacks(done, failed)
        return defer.succeed(self._answer(instanceId, "terminated", "terminated"))

    def _terminateOnNode(self, record, forget=False):
        """
        Ask the record's node to destroy the instance; on success release its
        network and room.  Only one call per instance is in flight: a second
        caller waits for the first call's outcome.

        @return: Deferred firing True when done, False when the node could not
            be reached (the record stays ``terminating`` for the polls).
        """
        instanceId = record["instanceId"]
        waiter = defer.Deferred()
        if instanceId in self._terminating:
            self._terminating[instanceId].append(waiter)
            return waiter
        entry = self.registry.entry(record["node"])
        if entry is None:
            log.warn("{id} ran on {node}, which NODES no longer lists; releasing it",
                     id=instanceId, node=record["node"])
            self._release(record, forget)
            waiter.callback(True)
            return waiter
        self._terminating[instanceId] = [waiter]

        def done(answer):
            entry.instances.pop(instanceId, None)
            self._release(record, forget)
            return True

        def failed(failure):
            error = _asCloudError(failure)
            if _nodeIsDown(error):
                self.registry.markDown(entry, str(error))
            log.warn("terminating {id} on {node} failed: {e}", id=instanceId,
                     node=entry.name, e=error)
            return False

        def finished(outcome):
            for each in self._terminating.pop(instanceId, []):
                each.callback(outcome)
        d = defer.maybeDeferred(entry.node.terminateInstance, instanceId)
        d.addTimeout(self.terminateTimeout, self.clock)
        d.addCallbacks(done, failed)
        d.addCallback(finished)
        return waiter

    def _release(self, record, forget=False):
        instanceId = record["instanceId"]
        released = defer.maybeDeferred(self.network.release, instanceId)
        released.addErrback(lambda f: log.failure("releasing {id}'s network", f, id=instanceId))
        self.placement.release(instanceId)
        self._launchedPoll.pop(instanceId, None)
        if forget:
            self.records.pop(instanceId, None)
        else:
            record["phase"] = TERMINATED
            record["terminatedAt"] = self.now()

    # Polls ------------------------------------------------------------------------

    def _afterPoll(self, entries):
        """Settle what a poll revealed (see the module docstring)."""
        changed = False
        for record in list(self.records.values()):
            instanceId = record["instanceId"]
            if record["phase"] == TERMINATED:
                if self.now() - (record["terminatedAt"] or 0) > self.keepTerminatedSeconds:
                    del self.records[instanceId]
                    changed = True
                continue
            entry = self.registry.entry(record["node"])
            if entry is None or not entry.up:
                continue
            if record["phase"] == TERMINATING:
                if instanceId not in self._terminating:
                    self._terminateOnNode(record, forget=record.get("rolledBack", False)
                                          ).addCallback(self._afterCleanup)
                continue
            if record["phase"] != RUNNING:
                continue
            report = entry.instances.get(instanceId)
            if report is None:
                if entry.lastPollStarted > self._launchedPoll.get(instanceId, 0):
                    self._cleanUp(record, "the instance vanished from %s" % (entry.name,))
                continue
            if report.get("state") == "terminated":
                self._cleanUp(record, report.get("reason") or "the instance stopped")
                continue
            if self.network.learn(instanceId, report.get("privateIp")):
                record["network"] = dict(self.network.allocations[instanceId])
                changed = True
        if changed:
            self._changed()
        else:
            # The nodes' reports (a state, an address) may differ all the same.
            self.noteViewChanges()

    def _cleanUp(self, record, reason):
        log.info("{id}: {reason}", id=record["instanceId"], reason=reason)
        record["phase"] = TERMINATING
        record["reason"] = reason
        self._terminateOnNode(record).addCallback(self._afterCleanup)

    def _afterCleanup(self, done):
        if done:
            return self._changed()
