"""An in-memory cluster controller: the contract every ICluster keeps.

The CLC's tests (scheduler, launch, poller, the EC2 API end to end) run
against ``FakeCluster`` instead of a CC with nodes.  Its docstrings state what
the CLC relies on from a cluster; the real CC (``eucad.cc``) keeps the same
promises, and a conformance test holds the two to the same signatures.

Capacity is booked like a CC does it: each node has cpu/ram/disk, an
instance takes its VM type's share of one node, and ``describeResources``
counts how many instances of each type fit.  The clock decides when a pending
instance has booted.  ``waitForChange`` is answered from the cluster's own
``ChangeFeed``, bumped whenever what ``describeInstances`` reports changes.
It keeps its table as dicts a test may change and answers with the link's
records (``ClusterResources``, ``InstanceReport``), as a real link does.
"""

import base64
import copy

from twisted.internet import defer
from zope.interface import implementer

from eucad.common.changes import ChangeFeed, checkWaitArguments
from eucad.common.clustersettings import ClusterSettings
from eucad.common.errors import CloudError
from eucad.common.interfaces import ICluster
from eucad.common.netpolicy import NetworkPolicy
from eucad.common.records import (CONSOLE_TAIL_BYTES, Change, ClusterResources,
                                  ConsoleOutput, InstanceReport, NodeStatus, RunSpec,
                                  Termination, VmType, VmTypeRoom)
from eucad.common.vmtypes import DEFAULT_VMTYPES, instancesThatFit

LIVE = ("pending", "running")


class _Clock0:
    """Time for a fake with no clock: always 0, so only markRunning boots."""

    def seconds(self):
        return 0.0


@implementer(ICluster)
class FakeCluster:
    """
    An ICluster holding its nodes and instances in memory.

    @param nodes: ``[{"host", "cpu", "ram", "disk"}]`` (and optionally
        ``ccCertOk``/``ncCertOk``, True by default); default one node of 4
        cpu, 2048 MiB, 100 GiB.  An up node's ``lastSeen`` is the clock's
        time of the last ``describeResources``.
    @param vmTypes: the types ``describeResources`` reports on.
    @param clock: an ``IReactorTime`` (``task.Clock`` in tests); without
        one, time stands still at 0 and the timers of ``waitForChange`` run
        on the global reactor (looked up only when a wait needs one).
    @param bootSeconds: a pending instance reports ``running`` once this many
        seconds passed since its launch; None keeps it pending until
        ``markRunning``.
    @param keepTerminatedSeconds: how long terminated instances are still
        reported by ``describeInstances``.
    @param subnet: the first three octets of the private addresses handed out.

    Test controls: ``available = False`` makes every call fail with
    ``CloudError("Unavailable")`` as a link to an unreachable CC does;
    ``failures[methodName] = error`` makes the next call of that method fail
    with ``error`` (once); ``calls`` records ``(methodName, args)``.
    """

    def __init__(self, nodes=None, vmTypes=DEFAULT_VMTYPES, clock=None,
                 bootSeconds=None, keepTerminatedSeconds=3600, subnet="10.1.0"):
        if nodes is None:
            nodes = [{"host": "node1", "cpu": 4, "ram": 2048, "disk": 100}]
        self.nodes = []
        for node in nodes:
            self.nodes.append({
                "host": node["host"], "port": node.get("port", 8775),
                "state": node.get("state", "up"), "cpu": node["cpu"],
                "ram": node["ram"], "disk": node["disk"], "freeCpu": node["cpu"],
                "freeRam": node["ram"], "freeDisk": node["disk"],
                "ccCertOk": node.get("ccCertOk", True),
                "ncCertOk": node.get("ncCertOk", True), "lastSeen": None})
        self.vmTypes = [dict(vmType) for vmType in vmTypes]
        self.clock = clock or _Clock0()
        self.bootSeconds = bootSeconds
        self.keepTerminatedSeconds = keepTerminatedSeconds
        self.subnet = subnet
        self.instances = {}
        self.available = True
        self.failures = {}
        self.calls = []
        self._nextHost = 2
        self._terminatedAt = {}
        #: instanceId -> how many times it was rebooted.
        self.reboots = {}
        #: instanceId -> (what its guest wrote on the console, when).
        self.consoles = {}
        self.changes = ChangeFeed(clock)
        #: The last NetworkPolicy applied (None before the first).
        self.policy = None
        #: The last ``ClusterSettings`` received, and every one in order.
        self.settings = None
        self.settingsReceived = []

    # -- ICluster ---------------------------------------------------------

    def describeResources(self):
        """
        Fires with a ``ClusterResources`` (see ICluster).  ``max`` counts what the up nodes hold when empty,
        ``free`` what they still hold now; a down node counts for neither.
        """
        return self._call("describeResources", (), self._resources)

    def runInstances(self, specs):
        """
        Places every ``RunSpec`` on a node with room (first fit, in node
        order) and fires with their reports in state ``pending`` with ``node``,
        ``macAddress`` (``d0:0d:`` + the id's hex) and ``privateIp`` (and the
        same ``publicIp``, as in SYSTEM mode).  All or none: if one does not
        fit, nothing is started and the call fails with
        ``CloudError("InsufficientInstanceCapacity")``.  An instanceId this
        cluster already holds (and has not terminated) is refused with
        ``CloudError("InvalidParameterValue")``, again starting nothing, so
        that no instance is ever started twice; so is anything but a
        non-empty list of ``RunSpec``.
        """
        return self._call("runInstances", (specs,), self._run, specs)

    def describeInstances(self):
        """
        Fires with every instance dict this cluster knows, terminated ones
        included for ``keepTerminatedSeconds`` after their termination.
        """
        return self._call("describeInstances", (), self._describe)

    def terminateInstances(self, instanceIds):
        """
        Terminates at once (no shutting-down phase), frees the node's share,
        and fires with a ``Termination`` per id;
        unknown or already terminated ids report ``terminated`` for both.
        """
        return self._call("terminateInstances", (instanceIds,), self._terminate,
                          instanceIds)

    def waitForChange(self, generation, timeout):
        """
        Fires with a ``Change`` as soon as the cluster's
        generation differs from ``generation`` (at once for None), else after
        ``timeout`` seconds (capped at 60) with the same generation.  Every
        change to the instances ``describeInstances`` reports bumps it: a
        run, a boot, a termination, an expiry, ``markRunning``, ``forget``.
        A pending instance booting by the clock ends the wait when it boots.
        Bad arguments fail with ``CloudError("InvalidParameterValue")``.
        """
        self.calls.append(("waitForChange", (generation, timeout)))
        if not self.available:
            return defer.fail(CloudError("Unavailable", "cluster is not reachable", 503))
        if "waitForChange" in self.failures:
            return defer.fail(self.failures.pop("waitForChange"))
        try:
            timeout = checkWaitArguments(generation, timeout)
        except CloudError as e:
            return defer.fail(e)
        self._boot()
        untilBoot = self._secondsUntilNextBoot()
        if untilBoot is not None:
            timeout = min(timeout, untilBoot)
        d = self.changes.wait(generation, timeout)

        def answer(_):
            instances = self._describe()
            return Change(self.changes.generation, instances)
        return d.addCallback(answer)

    def rebootInstances(self, instanceIds):
        """
        Reboots running instances in place (they stay ``running``; each
        reboot is counted in ``reboots``) and fires with their reports, in
        the order asked.  All or none: an id the cluster does not hold alive
        fails with ``CloudError("InvalidInstanceID.NotFound")``, a pending
        one with ``CloudError("IncorrectInstanceState")``, and nothing is
        rebooted then.
        """
        return self._call("rebootInstances", (instanceIds,), self._reboot, instanceIds)

    def getConsoleOutput(self, instanceId):
        """
        Fires with a ``ConsoleOutput``: the base64 of the last 64 KiB
        ``writeConsole`` gave for the instance and when (the clock's now for
        an empty console); ``CloudError("InvalidInstanceID.NotFound")`` for
        an instance the cluster does not hold alive.
        """
        return self._call("getConsoleOutput", (instanceId,), self._console, instanceId)

    # -- test controls ----------------------------------------------------

    def applyNetworkPolicy(self, policy):
        """
        Keeps ``policy`` (a ``NetworkPolicy``) as ``self.policy``, the last
        one received, as a cluster without security groups would accept it;
        anything else fails with ``CloudError("InvalidParameterValue")``.
        """
        return self._call("applyNetworkPolicy", (policy,), self._applyPolicy, policy)

    def _applyPolicy(self, policy):
        if not isinstance(policy, NetworkPolicy):
            raise CloudError("InvalidParameterValue", "%r is not a NetworkPolicy" % (policy,))
        self.policy = policy

    def applyClusterSettings(self, settings):
        """
        Keeps ``settings`` (a ``ClusterSettings``) as ``self.settings``, the
        last one received, and each in ``self.settingsReceived``; anything
        else fails with ``CloudError("InvalidParameterValue")``.
        """
        return self._call("applyClusterSettings", (settings,), self._applySettings, settings)

    def _applySettings(self, settings):
        if not isinstance(settings, ClusterSettings):
            raise CloudError("InvalidParameterValue", "%r is not a ClusterSettings" % (settings,))
        self.settings = settings
        self.settingsReceived.append(settings)

    def writeConsole(self, instanceId, data):
        """Append ``data`` (bytes) to an instance's console, as its guest would."""
        written, _ = self.consoles.get(instanceId, (b"", None))
        self.consoles[instanceId] = (written + data, self.clock.seconds())

    def markRunning(self, *instanceIds):
        """Boot pending instances now (all of them when no id is given)."""
        for instanceId in instanceIds or list(self.instances):
            instance = self.instances[instanceId]
            if instance["state"] == "pending":
                instance["state"] = "running"
                self.changes.changed()

    def forget(self, instanceId):
        """Lose an instance without terminating it (a CC that lost its state)."""
        instance = self.instances.pop(instanceId)
        if instance["state"] in LIVE:
            self._release(instance)
        self.changes.changed()

    def setNodeState(self, host, state):
        """Take a node ``down`` or bring it back ``up``."""
        for node in self.nodes:
            if node["host"] == host:
                node["state"] = state

    # -- internals --------------------------------------------------------

    def _call(self, name, args, fn, *fnArgs):
        self.calls.append((name, copy.deepcopy(args)))
        if not self.available:
            return defer.fail(CloudError("Unavailable", "cluster is not reachable", 503))
        if name in self.failures:
            return defer.fail(self.failures.pop(name))
        try:
            result = fn(*fnArgs)
        except CloudError as e:
            return defer.fail(e)
        # What crosses a PB link is a copy; so is what leaves the fake.
        return defer.succeed(copy.deepcopy(result))

    def _upNodes(self):
        return [node for node in self.nodes if node["state"] == "up"]

    def _resources(self):
        rooms = []
        for vmType in self.vmTypes:
            rooms.append(VmTypeRoom(
                vmType=VmType.fromDict(vmType),
                max=sum(instancesThatFit(vmType, n["cpu"], n["ram"], n["disk"])
                        for n in self._upNodes()),
                free=sum(instancesThatFit(vmType, n["freeCpu"], n["freeRam"], n["freeDisk"])
                         for n in self._upNodes())))
        for node in self._upNodes():
            node["lastSeen"] = float(self.clock.seconds())
        return ClusterResources(vmTypes=rooms,
                                nodes=[NodeStatus.fromDict(node) for node in self.nodes])

    def _plan(self, specs):
        """Node for each new spec, on a scratch copy of free capacity."""
        if not isinstance(specs, list) or not specs or not all(
                isinstance(spec, RunSpec) for spec in specs):
            raise CloudError("InvalidParameterValue",
                             "runInstances needs a non-empty list of RunSpec")
        free = {node["host"]: [node["freeCpu"], node["freeRam"], node["freeDisk"]]
                for node in self._upNodes()}
        for spec in specs:
            known = self.instances.get(spec["instanceId"])
            if known is not None and known["state"] != "terminated":
                raise CloudError("InvalidParameterValue", "%s is already known to this "
                                 "cluster" % (spec["instanceId"],))
        plan = []
        for spec in specs:
            vmType = spec["vmType"]
            need = (vmType["cpu"], vmType["ram"], vmType["disk"])
            for node in self._upNodes():
                room = free[node["host"]]
                if all(have >= want for have, want in zip(room, need)):
                    free[node["host"]] = [have - want for have, want in zip(room, need)]
                    plan.append((spec, node))
                    break
            else:
                raise CloudError("InsufficientInstanceCapacity",
                                 "Not enough resources available", 500)
        return plan

    def _run(self, specs):
        plan = self._plan(specs)
        for spec, node in plan:
            vmType = spec["vmType"]
            node["freeCpu"] -= vmType["cpu"]
            node["freeRam"] -= vmType["ram"]
            node["freeDisk"] -= vmType["disk"]
            hexPart = spec["instanceId"].split("-", 1)[1]
            address = "%s.%d" % (self.subnet, self._nextHost)
            self._nextHost += 1
            instance = InstanceReport.ofSpec(
                spec, "pending", self.clock.seconds(), node=node["host"], reason="",
                macAddress="d0:0d:" + ":".join(hexPart[i:i + 2] for i in range(0, 8, 2)),
                privateIp=address, publicIp=address).toDict()
            instance["_vmType"] = vmType.toDict()
            self.instances[spec["instanceId"]] = instance
            self._terminatedAt.pop(spec["instanceId"], None)
        if plan:
            self.changes.changed()
        return [self._report(self.instances[spec["instanceId"]]) for spec in specs]

    def _boot(self):
        if self.bootSeconds is None:
            return
        now = self.clock.seconds()
        for instance in self.instances.values():
            if (instance["state"] == "pending"
                    and now >= instance["launchTime"] + self.bootSeconds):
                instance["state"] = "running"
                self.changes.changed()

    def _secondsUntilNextBoot(self):
        """How long until the next pending instance boots, or None."""
        if self.bootSeconds is None:
            return None
        now = self.clock.seconds()
        boots = [instance["launchTime"] + self.bootSeconds - now
                 for instance in self.instances.values() if instance["state"] == "pending"]
        return max(0.0, min(boots)) if boots else None

    def _describe(self):
        self._boot()
        now = self.clock.seconds()
        for instanceId, at in list(self._terminatedAt.items()):
            if now - at > self.keepTerminatedSeconds:
                del self._terminatedAt[instanceId]
                self.instances.pop(instanceId, None)
                self.changes.changed()
        return [self._report(instance) for instance in self.instances.values()]

    def _release(self, instance):
        vmType = instance["_vmType"]
        for node in self.nodes:
            if node["host"] == instance["node"]:
                node["freeCpu"] += vmType["cpu"]
                node["freeRam"] += vmType["ram"]
                node["freeDisk"] += vmType["disk"]

    def _terminate(self, instanceIds):
        self._boot()
        results = []
        for instanceId in instanceIds:
            instance = self.instances.get(instanceId)
            if instance is None:
                results.append(Termination(instanceId, "terminated", "terminated"))
                continue
            previous = instance["state"]
            if previous in LIVE:
                self._release(instance)
                instance["state"] = "terminated"
                instance["reason"] = "User initiated"
                self._terminatedAt[instanceId] = self.clock.seconds()
                self.changes.changed()
            results.append(Termination(instanceId, previous, "terminated"))
        return results

    def _alive(self, instanceId):
        instance = self.instances.get(instanceId) if isinstance(instanceId, str) else None
        if instance is None or instance["state"] not in LIVE:
            raise CloudError("InvalidInstanceID.NotFound",
                             "The instance ID '%s' does not exist" % (instanceId,))
        return instance

    def _reboot(self, instanceIds):
        if not isinstance(instanceIds, list) or not instanceIds:
            raise CloudError("InvalidParameterValue",
                             "rebootInstances needs a non-empty list of instance ids")
        self._boot()
        instances = [self._alive(instanceId) for instanceId in instanceIds]
        for instance in instances:
            if instance["state"] != "running":
                raise CloudError("IncorrectInstanceState",
                                 "The instance '%s' is %s, not running" % (
                                     instance["instanceId"], instance["state"]))
        for instance in instances:
            self.reboots[instance["instanceId"]] = self.reboots.get(
                instance["instanceId"], 0) + 1
        return [self._report(instance) for instance in instances]

    def _console(self, instanceId):
        self._alive(instanceId)
        written, at = self.consoles.get(instanceId, (b"", None))
        return ConsoleOutput(
            instanceId=instanceId, timestamp=at if at is not None else self.clock.seconds(),
            output=base64.b64encode(written[-CONSOLE_TAIL_BYTES:]).decode("ascii"))

    @staticmethod
    def _report(instance):
        return InstanceReport.fromDict({key: value for key, value in instance.items()
                                        if not key.startswith("_")})
