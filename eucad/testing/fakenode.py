"""FakeNode: an in-memory node controller, and the contract of ``INode``.

The cluster controller's tests place, start and terminate instances on
FakeNodes instead of libvirt hosts.  Its docstrings are the behaviour every
node follows (the real NC in ``eucad.nc`` and the PB facade of
``eucad.common.links``), so code written against a FakeNode works against a
real node:

- capacity is real bookkeeping: ``runInstance`` takes the VM type's cpu, ram
  and disk from the free amounts and fails with
  ``CloudError("InsufficientInstanceCapacity")`` when they do not fit;
  ``terminateInstance`` gives them back;
- an instance is ``pending`` when started and becomes ``running`` the next
  time the node is asked to describe its instances;
- ``terminateInstance`` is idempotent: a second call, or a call for an id the
  node never had, answers ``terminated`` and changes nothing;
- an instance that ends (terminated on request, a launch that failed, a
  domain that stopped) gives back its capacity at once but stays listed by
  ``describeInstances``, state ``terminated`` with its ``reason``, for
  ``lingerSeconds`` (the real NC's ``TERMINATED_LINGER``) on the node's clock,
  so that the CC learns how it ended; then it is forgotten;
- running an id the node already holds (even a lingering terminated one)
  returns that instance again instead of starting a second copy (the CC may
  retry after losing an answer);
- ``waitForChange`` answers as soon as anything ``describeInstances`` would
  show has changed since the caller's generation (an instance started,
  booted, ended or forgotten), or after the timeout: the node's own
  ``ChangeFeed`` on ``clock`` (the global reactor when none is given, looked
  up only when a wait needs a timer);
- what it answers are the link's records (``NodeResources``,
  ``InstanceReport``), fresh ones each time: the table it keeps is its own;
- ``rebootInstance`` reboots a ``running`` instance in place (it stays
  ``running``, its reboot counted in ``reboots``); an id the node does not
  hold alive is ``CloudError("InvalidInstanceID.NotFound")``, a pending one
  ``CloudError("IncorrectInstanceState")``;
- ``getConsoleOutput`` answers the base64 of the last 64 KiB the guest
  wrote (``writeConsole``) and when it last wrote;
- every method returns a Deferred; errors are ``CloudError`` with an EC2 code.

Tests make a node fail on purpose with ``failWith`` (one method or all of them),
which is how a node that is down looks through a ``links.NodeLink``, and
end an instance on the node's side with ``endInstance``.
"""

import base64
import copy
import time

from twisted.internet import defer
from zope.interface import implementer

from eucad.common.changes import ChangeFeed, checkWaitArguments
from eucad.common.errors import CloudError
from eucad.common.interfaces import INode
from eucad.common.records import (CONSOLE_TAIL_BYTES, Change, ConsoleOutput, FloodPeers,
                                  InstanceReport, NodeResources, RunSpec, Termination)
from eucad.nc.instances import TERMINATED_LINGER

_METHODS = ("describeResource", "runInstance", "describeInstances",
            "terminateInstance", "waitForChange", "rebootInstance", "getConsoleOutput",
            "setFloodPeers")


@implementer(INode)
class FakeNode:
    """
    A node with ``cpu`` cores, ``ram`` MiB and ``disk`` GiB to give out.

    @ivar instances: instanceId -> the instance as the node reports it, as a
        dict a test may change (terminated ones included while they linger).
    @ivar calls: (method name, argument) of every call, in order, so a test
        can check what the CC asked.
    @param now: the node's clock (launch times, how long terminated
        instances linger).
    @param clock: the IReactorTime of ``waitForChange``'s timers.
    @ivar changes: the node's ChangeFeed.
    """

    def __init__(self, cpu=4, ram=4096, disk=100, hypervisor="qemu", now=time.time,
                 lingerSeconds=TERMINATED_LINGER, clock=None):
        self.cpu = cpu
        self.ram = ram
        self.disk = disk
        self.hypervisor = hypervisor
        self.now = now
        self.lingerSeconds = lingerSeconds
        self.instances = {}
        self.calls = []
        self._sizes = {}
        self._terminatedAt = {}
        self._failures = {}
        #: instanceId -> how many times it was rebooted.
        self.reboots = {}
        #: instanceId -> (what the guest wrote on its console, when it last wrote).
        self.consoles = {}
        self.changes = ChangeFeed(clock)
        #: The last ``FloodPeers.peers`` the CC set (None: never told).
        self.floodPeers = None

    # Test controls ----------------------------------------------------------

    def failWith(self, error, method=None):
        """
        Make ``method`` (or every method when None) fail with ``error`` until
        ``recover`` is called.
        """
        for name in ((method,) if method else _METHODS):
            if name not in _METHODS:
                raise ValueError("INode has no method %r" % (name,))
            self._failures[name] = error

    def recover(self, method=None):
        """Undo ``failWith`` for ``method`` (or for all methods)."""
        for name in ((method,) if method else _METHODS):
            self._failures.pop(name, None)

    def _failure(self, name):
        error = self._failures.get(name)
        return defer.fail(error) if error is not None else None

    def endInstance(self, instanceId, reason):
        """
        End an instance on the node's side, as a failed launch or a domain
        that stopped does: ``terminated`` with ``reason``, capacity given back.
        """
        self._end(instanceId, reason)

    def writeConsole(self, instanceId, data):
        """Append ``data`` (bytes) to an instance's console, as its guest would."""
        written, _ = self.consoles.get(instanceId, (b"", None))
        self.consoles[instanceId] = (written + data, self.now())

    def _end(self, instanceId, reason):
        instance = self.instances[instanceId]
        self._sizes.pop(instanceId, None)
        if instance["state"] == "terminated":
            return
        instance["state"] = "terminated"
        instance["reason"] = instance["reason"] or reason
        self._terminatedAt[instanceId] = self.now()
        self.changes.changed()

    # Capacity ----------------------------------------------------------------

    @property
    def freeCpu(self):
        return self.cpu - sum(size[0] for size in self._sizes.values())

    @property
    def freeRam(self):
        return self.ram - sum(size[1] for size in self._sizes.values())

    @property
    def freeDisk(self):
        return self.disk - sum(size[2] for size in self._sizes.values())

    # INode -------------------------------------------------------------------

    def describeResource(self):
        """
        Totals and what is still free after the instances this node holds.

        @return: Deferred firing with a ``NodeResources``.
        """
        self.calls.append(("describeResource", None))
        return self._failure("describeResource") or defer.succeed(NodeResources(
            cpu=self.cpu, ram=self.ram, disk=self.disk, freeCpu=self.freeCpu,
            freeRam=self.freeRam, freeDisk=self.freeDisk, hypervisor=self.hypervisor))

    def runInstance(self, spec):
        """
        Start one instance described by the CC's ``spec``.

        The spec must be a ``RunSpec`` whose network carries a ``macAddress``
        and a ``bridge``; otherwise the call fails with
        ``CloudError("InvalidParameterValue")``.  A VM type larger than what
        is free fails with ``CloudError("InsufficientInstanceCapacity")`` and
        changes nothing.

        @return: Deferred firing with the ``InstanceReport``, state ``pending``.
        """
        self.calls.append(("runInstance", spec))
        failed = self._failure("runInstance")
        if failed:
            return failed
        try:
            instanceId, size = self._validate(spec)
        except CloudError as e:
            return defer.fail(e)
        if instanceId in self.instances:
            return defer.succeed(self._report(instanceId))
        cpu, ram, disk = size
        if cpu > self.freeCpu or ram > self.freeRam or disk > self.freeDisk:
            return defer.fail(CloudError(
                "InsufficientInstanceCapacity",
                "Not enough resources available on this node", 500))
        self._sizes[instanceId] = size
        self.instances[instanceId] = InstanceReport.ofSpec(
            spec, "pending", int(self.now()), reason="").toDict()
        self.changes.changed()
        return defer.succeed(self._report(instanceId))

    def _validate(self, spec):
        if not isinstance(spec, RunSpec):
            raise CloudError("InvalidParameterValue", "the run spec must be a RunSpec")
        if spec.network.macAddress is None:
            raise CloudError("InvalidParameterValue", "the run spec has no macAddress")
        if not spec.network.bridge:
            raise CloudError("InvalidParameterValue", "the run spec names no bridge")
        return spec.instanceId, spec.vmType.size

    def _report(self, instanceId):
        return InstanceReport.fromDict(copy.deepcopy(self.instances[instanceId]))

    def describeInstances(self):
        """
        Every instance the node holds, and those terminated less than
        ``lingerSeconds`` ago; ``pending`` ones are ``running`` from this call
        on (a real node reports what libvirt says).

        @return: Deferred firing with a list of ``InstanceReport``.
        """
        self.calls.append(("describeInstances", None))
        failed = self._failure("describeInstances")
        if failed:
            return failed
        return defer.succeed(self._describe())

    def _describe(self):
        for instanceId, instance in list(self.instances.items()):
            if instance["state"] == "pending":
                instance["state"] = "running"
                self.changes.changed()
            elif instance["state"] == "terminated":
                # A test may have set the state by hand: its lingering starts now.
                self._sizes.pop(instanceId, None)
                endedAt = self._terminatedAt.setdefault(instanceId, self.now())
                if self.now() - endedAt >= self.lingerSeconds:
                    del self.instances[instanceId]
                    del self._terminatedAt[instanceId]
                    self.changes.changed()
        return [self._report(key) for key in sorted(self.instances)]

    def terminateInstance(self, instanceId):
        """
        Destroy the instance and give back its capacity; it stays listed as
        terminated for a while.  Idempotent: an id the node does not hold, or
        holds terminated, answers ``previousState`` ``terminated``.

        @return: Deferred firing with a ``Termination`` (state ``terminated``).
        """
        self.calls.append(("terminateInstance", instanceId))
        failed = self._failure("terminateInstance")
        if failed:
            return failed
        instance = self.instances.get(instanceId)
        previous = instance["state"] if instance else "terminated"
        if instance is not None:
            self._end(instanceId, "terminated by request")
        return defer.succeed(Termination(instanceId, previous, "terminated"))

    def waitForChange(self, generation, timeout):
        """
        Wait until the node's generation differs from ``generation`` (at once
        when it already does, as for None), or ``timeout`` seconds (at most
        ``MAX_WAIT_SECONDS``).  The answer describes the instances as
        ``describeInstances`` does (booting pending ones) and carries the
        generation read after that.

        @return: Deferred firing with a ``Change``;
            ``CloudError("InvalidParameterValue")`` for bad arguments.
        """
        self.calls.append(("waitForChange", generation))
        failed = self._failure("waitForChange")
        if failed:
            return failed
        try:
            timeout = checkWaitArguments(generation, timeout)
        except CloudError as e:
            return defer.fail(e)
        d = self.changes.wait(generation, timeout)

        def answer(_):
            instances = self._describe()
            return Change(self.changes.generation, instances)
        return d.addCallback(answer)

    def _aliveInstance(self, instanceId):
        instance = self.instances.get(instanceId)
        if instance is None or instance["state"] == "terminated":
            raise CloudError("InvalidInstanceID.NotFound",
                             "The instance ID '%s' does not exist" % (instanceId,))
        return instance

    def rebootInstance(self, instanceId):
        """
        Reboot a running instance in place: it stays ``running`` and its
        count in ``reboots`` goes up.

        @return: Deferred firing with the ``InstanceReport``; failing with
            ``CloudError("InvalidInstanceID.NotFound")`` for an id not held
            alive, ``CloudError("IncorrectInstanceState")`` for a pending one.
        """
        self.calls.append(("rebootInstance", instanceId))
        failed = self._failure("rebootInstance")
        if failed:
            return failed
        try:
            instance = self._aliveInstance(instanceId)
        except CloudError as e:
            return defer.fail(e)
        if instance["state"] != "running":
            return defer.fail(CloudError(
                "IncorrectInstanceState", "The instance '%s' is %s, not running" % (
                    instanceId, instance["state"])))
        self.reboots[instanceId] = self.reboots.get(instanceId, 0) + 1
        return defer.succeed(self._report(instanceId))

    def getConsoleOutput(self, instanceId):
        """
        The last 64 KiB ``writeConsole`` gave, base64, and when it was
        written (now for an empty console).

        @return: Deferred firing with a ``ConsoleOutput``; failing with
            ``CloudError("InvalidInstanceID.NotFound")`` for an id not held
            alive.
        """
        self.calls.append(("getConsoleOutput", instanceId))
        failed = self._failure("getConsoleOutput")
        if failed:
            return failed
        try:
            self._aliveInstance(instanceId)
        except CloudError as e:
            return defer.fail(e)
        written, at = self.consoles.get(instanceId, (b"", None))
        return defer.succeed(ConsoleOutput(
            instanceId=instanceId, timestamp=at if at is not None else self.now(),
            output=base64.b64encode(written[-CONSOLE_TAIL_BYTES:]).decode("ascii")))

    def setFloodPeers(self, floodPeers):
        """
        Keeps ``floodPeers.peers`` as ``self.floodPeers``, as a node without
        VXLAN networks would accept it; anything else is InvalidParameterValue.
        """
        self.calls.append(("setFloodPeers", floodPeers))
        failed = self._failure("setFloodPeers")
        if failed:
            return failed
        if not isinstance(floodPeers, FloodPeers):
            return defer.fail(CloudError("InvalidParameterValue",
                                         "%r is not a FloodPeers" % (floodPeers,)))
        self.floodPeers = dict(floodPeers.peers)
        return defer.succeed(None)
