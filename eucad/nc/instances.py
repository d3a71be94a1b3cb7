"""The life of the instances on one node: run, watch, terminate, re-adopt.

``InstanceLifecycle`` keeps the node's table of instances.  A run is
answered at once with ``pending`` while the launch goes on in the
background (images into the cache, the instance directory and disks, the
domain XML, createXML); the instance turns ``running`` when libvirt says its
domain runs, or ``terminated`` with a ``reason`` when a step fails, after
everything already made for it is removed again.  A terminate, even in the
middle of a launch, destroys the domain and removes the directory, and may
be repeated.  Terminated instances stay listed for ``TERMINATED_LINGER``
seconds so the CC sees how they ended, then are forgotten.

Every change the CC would see in ``describe`` (an instance added, a state
changed, an instance forgotten) bumps the lifecycle's ``ChangeFeed``, which
``NodeController.waitForChange`` waits on.

The table is not stored anywhere: each domain carries its run spec and
launch time in its XML, so after a restart (stopped, or killed with SIGKILL)
``restore`` rebuilds the table from libvirt and the instances keep running;
nothing is restarted.  What a crash leaves behind is reconciled at start:

- an instance directory no running domain uses (its domain ended while the
  NC was down, or a launch died half-way) is removed; "uses" is checked
  against the files every running domain names, eucad's or not;
- a domain with an instance record is re-adopted and reported whether or
  not the CC knows it.  The NC does not decide: the CC passes instances it
  has no record of up to the CLC, which keeps the one its database holds
  (the CC lost its state) and has the cluster terminate one it never knew
  (``eucad.clc.instancestore.applyClusterReport``), the one place that
  knows what users asked for;
- a domain without a record (not eucad's) is left alone, and so are its files.

Called by ``eucad.nc.node``.
"""

import base64
import os
import re
import shutil

from twisted.internet import defer, task
from twisted.logger import Logger

from eucad.common.changes import ChangeFeed
from eucad.common.errors import CloudError
from eucad.common.records import (CONSOLE_TAIL_BYTES, ConsoleOutput, InstanceReport,
                                  NodeResources, Termination)
from eucad.nc.domainxml import buildDomainXml, filesUsedBy, parseInstanceRecord
from eucad.nc.resources import Capacity, heldBy

log = Logger()

#: Seconds a terminated instance stays in describeInstances.
TERMINATED_LINGER = 60

#: Seconds a describe that finds a domain gone leaves libvirt's stop event
#: to say why (a guest's power-off, a crash) before it ends the instance
#: with the bare "the domain stopped".  The event and the listing travel on
#: different threads, so a poll can see the domain gone first.
STOP_EVENT_GRACE = 2.0

_INSTANCE_DIRECTORY = re.compile(r"^i-[0-9a-f]{8}$")


class _Terminated(Exception):
    """The instance was terminated while it was being launched."""


#: CONCURRENT_LAUNCHES when the conf does not say.
DEFAULT_CONCURRENT_LAUNCHES = 4


class LaunchSteps:
    """
    How long each step of one launch took, from the moment the node
    accepted it: ``waiting`` (for a launch slot), ``images``, ``disks``,
    ``xml`` and ``create``.  Logged when the domain runs, to the
    millisecond, which is where ``bench/launch.py`` reads its breakdown.
    """

    def __init__(self, clock, acceptedAt):
        self.clock = clock
        self.seconds = {"waiting": clock.seconds() - acceptedAt}
        self._last = clock.seconds()

    def done(self, step):
        now = self.clock.seconds()
        self.seconds[step] = now - self._last
        self._last = now

    def __str__(self):
        return " ".join("%s=%.3f" % item for item in self.seconds.items())


class Instance:
    """
    One instance in the node's table: the ``RunSpec`` it was started with
    (its network placed by the CC), when, and how it is doing.

    @param onChange: called with no arguments whenever ``state`` really
        changes, so that waiting callers hear of it (the lifecycle's
        ``ChangeFeed.changed``).
    """

    def __init__(self, spec, launchTime, files, state="pending", onChange=None):
        self.spec = spec
        self.launchTime = launchTime
        self.files = files
        self._state = state
        self._onChange = onChange
        self.reason = None
        self.terminatedAt = None
        # True from the moment createXML may have made a domain.
        self.domainStarted = False
        # True while the NC's own terminate destroys the domain: the stop
        # that follows is its own, and it ends the instance itself.  Not
        # the same as the state "shutting-down", which a listing also
        # shows of a guest powering itself off (libvirt's SHUTDOWN state).
        self.terminating = False

    @property
    def state(self):
        return self._state

    @state.setter
    def state(self, value):
        if value != self._state:
            self._state = value
            if self._onChange is not None:
                self._onChange()

    @property
    def instanceId(self):
        return self.spec.instanceId

    @property
    def alive(self):
        return self.state != "terminated"

    def report(self, nodeName=None):
        """The ``InstanceReport`` of this instance."""
        return InstanceReport.ofSpec(self.spec, self.state, self.launchTime,
                                     node=nodeName, reason=self.reason)


class InstanceLifecycle:
    """
    @param hypervisor: an ``eucad.nc.hypervisor.Hypervisor``.
    @param imageCache: an ``eucad.nc.imagecache.ImageCache``.
    @param disks: an ``eucad.nc.instancefiles.InstanceDisks``.
    @param clock: an IReactorTime (launch times, forgetting terminated ones).
    @param capacity: the node's totals (a Capacity); set once measured.
    @param domainType: ``kvm`` or ``qemu``; set once chosen.
    """

    def __init__(self, hypervisor, imageCache, disks, clock, capacity=None,
                 domainType="qemu", nodeName=None,
                 concurrentLaunches=DEFAULT_CONCURRENT_LAUNCHES):
        if not isinstance(concurrentLaunches, int) or concurrentLaunches < 1:
            raise ValueError("concurrent launches must be a whole number >= 1, not %r" % (
                concurrentLaunches,))
        self.hypervisor = hypervisor
        self.imageCache = imageCache
        self.disks = disks
        self.clock = clock
        self.capacity = capacity
        self.domainType = domainType
        self.nodeName = nodeName
        self.instances = {}
        #: instanceId -> Deferred of a launch still in progress (waiting for
        #: a slot included).
        self.launches = {}
        #: At most CONCURRENT_LAUNCHES launches fetch, lay out disks and
        #: create domains at once; the others wait, pending, in arrival order.
        self.launchSlots = defer.DeferredSemaphore(concurrentLaunches)
        #: Names of running domains whose instance record could not be read:
        #: their directories are left alone, never swept as orphans.
        self.unreadable = set()
        #: Every file the running domains used when last restored (any
        #: domain, eucad's or not): their directories are never swept.
        self.filesInUse = set()
        #: Instances whose domain a describe found gone, waiting for its
        #: stop event (``STOP_EVENT_GRACE``).
        self._awaitingStopEvent = {}
        #: Bumped on every change ``describe`` would show.
        self.changes = ChangeFeed(clock)

    # -- resources ----------------------------------------------------------

    def held(self):
        """What the instances that are not terminated hold."""
        return heldBy(i.spec.vmType for i in self.instances.values() if i.alive)

    def resources(self):
        """Totals and what is free: ``INode.describeResource``'s NodeResources."""
        total = self.capacity or Capacity()
        free = total - self.held()
        return NodeResources(cpu=total.cpu, ram=total.ram, disk=total.disk,
                             freeCpu=max(free.cpu, 0), freeRam=max(free.ram, 0),
                             freeDisk=max(free.disk, 0), hypervisor=self.domainType)

    # -- run ----------------------------------------------------------------

    def run(self, spec):
        """
        Accept an instance and start launching it.

        @param spec: a ``RunSpec`` placed by the CC (``eucad.nc.runspec``).
        @return: the ``InstanceReport``, state ``pending``; the same
            instance's current report when its id is already known (the CC
            retried).
        @raise CloudError: InsufficientInstanceCapacity when it does not fit.
        """
        known = self.instances.get(spec.instanceId)
        if known is not None:
            return known.report(self.nodeName)
        free = (self.capacity or Capacity()) - self.held()
        if not free.covers(Capacity.ofVmType(spec.vmType)):
            raise CloudError("InsufficientInstanceCapacity",
                             "Not enough resources available on this node"
                             " for %s (free: %d cpu, %d MiB, %d GiB)" % (
                                 spec.vmType.name, max(free.cpu, 0),
                                 max(free.ram, 0), max(free.disk, 0)))
        instance = Instance(spec, int(self.clock.seconds()),
                            self.disks.filesFor(spec.owner, spec.instanceId),
                            onChange=self.changes.changed)
        self.instances[instance.instanceId] = instance
        self.changes.changed()
        log.info("launching {id} ({vmType}) for {owner}", id=instance.instanceId,
                 vmType=spec.vmType.name, owner=spec.owner)
        launch = self.launchSlots.run(self._launch, instance, self.clock.seconds())
        self.launches[instance.instanceId] = launch
        launch.addBoth(self._launchEnded, instance.instanceId)
        return instance.report(self.nodeName)

    def launched(self, instanceId):
        """A Deferred that fires once the instance's launch is over."""
        launch = self.launches.get(instanceId)
        if launch is None:
            return defer.succeed(None)
        over = defer.Deferred()
        launch.addBoth(lambda result: over.callback(None) or result)
        return over

    def _launchEnded(self, result, instanceId):
        self.launches.pop(instanceId, None)
        return None

    def _stillWanted(self, instance):
        if instance.terminating or not instance.alive:
            raise _Terminated()

    @defer.inlineCallbacks
    def _launch(self, instance, acceptedAt):
        spec = instance.spec
        step = "fetching images"
        steps = LaunchSteps(self.clock, acceptedAt)
        try:
            self._stillWanted(instance)
            fetched = yield defer.gatherResults([
                self.imageCache.fetch(image) if image else defer.succeed(None)
                for image in (spec.image, spec.kernel, spec.ramdisk)], consumeErrors=True)
            machine, kernel, ramdisk = fetched
            steps.done("images")
            self._stillWanted(instance)
            step = "preparing disks"
            yield self.disks.prepare(instance.files, spec.vmType,
                                     machine, kernel, ramdisk)
            steps.done("disks")
            self._stillWanted(instance)
            step = "writing the domain XML"
            xml = buildDomainXml(spec, instance.launchTime, self.domainType,
                                 instance.files)
            yield self.disks.writeDomainXml(instance.files, xml)
            steps.done("xml")
            self._stillWanted(instance)
            step = "starting the domain"
            instance.domainStarted = True
            state = yield self.hypervisor.createDomain(xml)
            steps.done("create")
            self._stillWanted(instance)
            if state == "terminated":
                raise RuntimeError("the domain stopped as soon as it started")
            instance.state = state
            log.info("{id} is {state}; launch steps in seconds: {steps}",
                     id=instance.instanceId, state=state, steps=steps)
        except _Terminated:
            log.info("{id} was terminated while launching", id=instance.instanceId)
            yield self._undo(instance)
        except Exception as e:
            if isinstance(e, defer.FirstError):
                e = e.subFailure.value
            reason = "%s failed: %s" % (step, e)
            log.warn("{id}: {reason}", id=instance.instanceId, reason=reason)
            if instance.alive:
                self._markTerminated(instance, reason)
            yield self._undo(instance)

    def _markTerminated(self, instance, reason=None):
        instance.state = "terminated"
        if reason and not instance.reason:
            instance.reason = reason
        if instance.terminatedAt is None:
            instance.terminatedAt = self.clock.seconds()

    @defer.inlineCallbacks
    def _undo(self, instance):
        """Remove whatever a launch made; never fails (it only logs)."""
        try:
            if instance.domainStarted:
                yield self.hypervisor.destroyDomain(instance.instanceId)
            yield self.disks.remove(instance.files)
        except Exception as e:
            log.error("cleaning up {id} failed: {e}", id=instance.instanceId, e=e)

    # -- terminate ----------------------------------------------------------

    @defer.inlineCallbacks
    def terminate(self, instanceId):
        """
        Destroy an instance's domain and files.  Unknown ids answer
        terminated; repeating a terminate repeats the (harmless) cleanup.

        @return: Deferred firing with a ``Termination``.
        """
        instance = self.instances.get(instanceId)
        if instance is None:
            defer.returnValue(Termination(instanceId, "terminated", "terminated"))
        previous = instance.state
        if instance.alive:
            instance.terminating = True
            instance.state = "shutting-down"
        log.info("terminating {id} ({state})", id=instanceId, state=previous)
        try:
            yield self.hypervisor.destroyDomain(instanceId)
        except Exception:
            # Leave the table as it was so the CC can retry the terminate.
            if previous != "terminated":
                instance.terminating = False
                instance.state = previous
            raise
        yield self.disks.remove(instance.files)
        self._markTerminated(instance, instance.reason or "terminated by request")
        defer.returnValue(Termination(instanceId, previous, "terminated"))

    # -- reboot and console ------------------------------------------------

    def _alive(self, instanceId):
        instance = self.instances.get(instanceId)
        if instance is None or not instance.alive:
            raise CloudError("InvalidInstanceID.NotFound",
                             "The instance ID '%s' does not exist" % (instanceId,))
        return instance

    @defer.inlineCallbacks
    def reboot(self, instanceId):
        """
        Reset a running instance's domain in place: the same domain, the same
        disks, the console log going on.

        @return: Deferred firing with the ``InstanceReport``.
        """
        instance = self._alive(instanceId)
        if instance.state != "running":
            raise CloudError("IncorrectInstanceState",
                             "The instance '%s' is %s, not running" % (
                                 instanceId, instance.state))
        log.info("rebooting {id}", id=instanceId)
        existed = yield self.hypervisor.resetDomain(instanceId)
        if not existed:
            # The domain ended under us (its stop event may tell why later).
            yield self._domainEnded(instance, "the domain stopped")
            raise CloudError("InvalidInstanceID.NotFound",
                             "The instance ID '%s' does not exist" % (instanceId,))
        defer.returnValue(instance.report(self.nodeName))

    @defer.inlineCallbacks
    def consoleOutput(self, instanceId):
        """
        The last ``CONSOLE_TAIL_BYTES`` of the instance's serial console.

        @return: Deferred firing with a ``ConsoleOutput`` whose timestamp is
            when the console was last written (now when it is still empty).
        """
        instance = self._alive(instanceId)
        tail, written = yield self.disks.consoleTail(instance.files, CONSOLE_TAIL_BYTES)
        defer.returnValue(ConsoleOutput(
            instanceId=instanceId,
            timestamp=written if written is not None else self.clock.seconds(),
            output=base64.b64encode(tail).decode("ascii")))

    # -- describe -----------------------------------------------------------

    @defer.inlineCallbacks
    def describe(self):
        """
        Every instance in the table, after merging what libvirt says now: a
        domain that vanished means its instance is terminated (by its stop
        event, or after ``STOP_EVENT_GRACE`` without one).  When libvirt
        cannot be asked, the table is reported as it stands.

        A listing judges only the instances whose domain was known before it
        was asked for: those still launching then are left out, whatever
        they are by the time it comes back (``_merge``).
        """
        launching = frozenset(self.launches)
        try:
            domains = yield self.hypervisor.listDomains()
        except Exception as e:
            log.warn("cannot list domains: {e}", e=e)
            domains = None
        if domains is not None:
            states = {domain.name: domain.state for domain in domains}
            for instance in list(self.instances.values()):
                yield self._merge(instance, states.get(instance.instanceId), launching)
        self._forgetOldTerminated()
        defer.returnValue([instance.report(self.nodeName)
                           for instance in self.instances.values()])

    def _merge(self, instance, domainState, launching):
        """
        Bring ``instance`` in line with ``domainState``, what a listing said
        of its domain (None: not listed).

        @param launching: the ids of the instances whose launch was still
            going when the listing was asked for.  Such a listing may have
            been taken before createXML made the domain, or while libvirt
            showed it paused and starting, and come back after the launch
            had finished (ten launches at once on a busy node did this): it
            says nothing about them, neither that the domain runs nor that
            it is gone.  The launch itself says when the instance runs; the
            next listing judges it.
        """
        if not instance.alive or not instance.domainStarted:
            return None
        if instance.instanceId in launching:
            return None
        if instance.terminating:
            # The NC's terminate is under way: it ends the instance itself.
            return None
        if domainState is None or domainState == "terminated":
            self._awaitStopEvent(instance)
            return None
        if domainState != instance.state:
            log.info("{id}: libvirt lists its domain {state}", id=instance.instanceId,
                     state=domainState)
            instance.state = domainState
        return None

    def _awaitStopEvent(self, instance):
        """
        The instance's domain is gone, by a listing: give libvirt's stop
        event ``STOP_EVENT_GRACE`` seconds to end it with the real reason
        (``domainStopped``), then end it with the bare one.
        """
        instanceId = instance.instanceId
        if instanceId in self._awaitingStopEvent:
            return
        log.info("{id}: its domain is no longer listed; waiting {grace} s for its stop event",
                 id=instanceId, grace=STOP_EVENT_GRACE)

        def conclude():
            self._awaitingStopEvent.pop(instanceId, None)
            if (self.instances.get(instanceId) is instance and instance.alive
                    and not instance.terminating):
                return self._domainEnded(instance, "the domain stopped")
            return None
        d = task.deferLater(self.clock, STOP_EVENT_GRACE, conclude)
        self._awaitingStopEvent[instanceId] = d
        d.addErrback(lambda failure: failure.trap(defer.CancelledError))
        d.addErrback(lambda failure: log.error("ending {id} failed: {e}", id=instanceId,
                                               e=failure.getErrorMessage()))

    def stopWaiting(self):
        """
        Forget the stop events being waited for (the NC stops); the next
        NC's describe finds those domains gone again.
        """
        waiting, self._awaitingStopEvent = self._awaitingStopEvent, {}
        for d in waiting.values():
            d.cancel()

    def _domainEnded(self, instance, reason):
        """The instance's domain ended by itself: terminated, its files removed."""
        log.info("{id}: its domain ended ({reason})", id=instance.instanceId, reason=reason)
        self._markTerminated(instance, reason)
        return self.disks.remove(instance.files)

    def domainStopped(self, name, reason):
        """
        libvirt says domain ``name`` stopped (``eucad.nc.domainevents``): a
        guest that powered itself off, a crash.  Its instance ends now, with
        that reason, and its files are removed; the change wakes the CC's
        long poll.  Stops the NC caused itself (a terminate, a failed
        launch, which clean up on their own) and unknown domains are ignored;
        a guest a listing saw shutting down (libvirt's SHUTDOWN state, while
        its qemu exits) is not the NC's own stop and does end here.

        @return: a Deferred firing once the files are removed (or None).
        """
        instance = self.instances.get(name)
        if (instance is None or not instance.alive or not instance.domainStarted
                or instance.terminating or name in self.launches):
            return None
        d = self._domainEnded(instance, reason)
        d.addErrback(lambda failure: log.error("removing the files of {id} failed: {e}",
                                               id=name, e=failure.getErrorMessage()))
        return d

    def _forgetOldTerminated(self):
        now = self.clock.seconds()
        for instanceId, instance in list(self.instances.items()):
            if (not instance.alive and instanceId not in self.launches
                    and now - instance.terminatedAt >= TERMINATED_LINGER):
                del self.instances[instanceId]
                self.changes.changed()

    # -- restart ------------------------------------------------------------

    @defer.inlineCallbacks
    def restore(self):
        """
        Adopt every running domain that carries an eucad instance record;
        the instances are untouched and keep running.

        @return: Deferred firing with the adopted instance ids.
        """
        domains = yield self.hypervisor.listDomains(withXml=True)
        adopted = []
        inUse = set()
        for domain in domains:
            try:
                inUse |= filesUsedBy(domain.xml)
            except Exception as e:
                log.warn("domain {name}: unreadable XML: {e}", name=domain.name, e=e)
            try:
                record = parseInstanceRecord(domain.xml)
            except Exception as e:
                log.warn("domain {name}: unreadable instance record: {e}; left alone",
                         name=domain.name, e=e)
                self.unreadable.add(domain.name)
                continue
            if record is None:
                continue
            spec, launchTime = record
            if spec.instanceId != domain.name or spec.instanceId in self.instances:
                continue
            instance = Instance(spec, launchTime, self.disks.filesFor(
                spec.owner, spec.instanceId), domain.state,
                onChange=self.changes.changed)
            instance.domainStarted = True
            if not instance.alive:
                self._markTerminated(instance, "the domain stopped")
            self.instances[instance.instanceId] = instance
            self.changes.changed()
            adopted.append(instance.instanceId)
        self.filesInUse = inUse
        if adopted:
            log.info("re-adopted {count} running instance(s): {ids}",
                     count=len(adopted), ids=" ".join(adopted))
        defer.returnValue(adopted)

    def liveDirectories(self):
        """
        The directories of the instances that are not terminated, the names
        of domains whose record was unreadable, and every file a running
        domain uses (reactor thread).
        """
        return ({i.files.directory for i in self.instances.values() if i.alive}
                | set(self.unreadable) | set(self.filesInUse))

    def orphanDirectories(self, live):
        """
        Instance directories under INSTANCE_PATH that are not in ``live``
        (their domain ended while the NC was down).  Blocking: a thread's job;
        ``live`` comes from ``liveDirectories`` on the reactor, since the
        instance table is the reactor's.
        """
        root = self.disks.instancePath
        orphans = []
        try:
            owners = os.listdir(root)
        except FileNotFoundError:
            return orphans
        for owner in owners:
            ownerPath = os.path.join(root, owner)
            if owner == "eucalyptus" or not os.path.isdir(ownerPath):
                continue
            for name in os.listdir(ownerPath):
                path = os.path.join(ownerPath, name)
                if (_INSTANCE_DIRECTORY.match(name) and os.path.isdir(path)
                        and path not in live and name not in live
                        and not any(used.startswith(path + os.sep) for used in live)):
                    orphans.append(path)
        return orphans

    def removeOrphans(self):
        """Delete the orphan directories (see above); fire with their paths."""
        def sweep(live):
            orphans = self.orphanDirectories(live)
            for path in orphans:
                log.info("removing {path}: no domain runs from it", path=path)
                shutil.rmtree(path, ignore_errors=True)
            return orphans
        return self.disks.runInThread(sweep, self.liveDirectories())
