"""The node controller: what a cluster controller talks to on each host.

``NodeController`` provides ``INode`` and is a Service: on start it chooses
the domain type (kvm or TCG), measures the host and re-adopts the domains a
previous NC left running; requests wait for that, and when it failed
(libvirtd was down) the next request tries again, so an NC started before
its libvirtd heals by itself.  It checks every request (``eucad.nc.runspec``)
and hands the work to ``InstanceLifecycle``, whose change feed answers the
CC's long polls (``waitForChange``).  Everything it touches is given
to it (hypervisor, image cache, disks, clock, probe, host measure), so tests
run it against libvirt's ``test:///default`` driver and temporary
directories; ``eucad.nc.tap`` builds the real one.
"""

from twisted.application.service import Service
from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from eucad.common.changes import checkWaitArguments
from eucad.common.errors import CloudError
from eucad.common.interfaces import INode
from eucad.common.records import Change, FloodPeers
from eucad.nc.hypervisor import HypervisorError, HypervisorUnavailable
from eucad.nc.instances import DEFAULT_CONCURRENT_LAUNCHES, InstanceLifecycle
from eucad.nc.kvmprobe import chooseDomainType
from eucad.nc.resources import measureHost
from eucad.nc.runspec import checkInstanceId, placedSpec

log = Logger()


def _asCloudError(failure):
    """Turn the hypervisor's own errors into codes the CC understands."""
    if failure.check(HypervisorUnavailable):
        raise CloudError("Unavailable", str(failure.value), 503)
    if failure.check(HypervisorError):
        raise CloudError("InternalError", str(failure.value), 500)
    return failure


@implementer(INode)
class NodeController(Service):
    """
    @param hypervisor: an ``eucad.nc.hypervisor.Hypervisor`` (started by
        its own parent service before this one).
    @param imageCache: an ``eucad.nc.imagecache.ImageCache``.
    @param disks: an ``eucad.nc.instancefiles.InstanceDisks``.
    @param hypervisorSetting: HYPERVISOR (auto|kvm|qemu).
    @param probe: an ``eucad.nc.kvmprobe.AcceleratorProbe``.
    @param limits: (MAX_CORES, MAX_MEM, MAX_DISK); 0 = the host's own.
    @param defaultBridge: VNET_BRIDGE, used when the CC names no bridge.
    @param clock: an IReactorTime.
    @param measure: ``measureHost``-like callable, run in a thread.
    @param addresses: an ``eucad.nc.addresswatch.AddressBook`` that learns
        the addresses of instances the CC gave none (SYSTEM mode), or None.
    @param concurrentLaunches: CONCURRENT_LAUNCHES, how many launches may
        fetch images, make disks and create domains at once.
    @param groupLinks: the ``eucad.cc.vnet.nodelinks.NodeGroupLinks`` that
        makes a MANAGED group's tagged link and bridge before an instance of
        it starts here, and removes them after its last one (None: the node
        serves flat networks only).
    """

    def __init__(self, hypervisor, imageCache, disks, hypervisorSetting,
                 probe, limits=(0, 0, 0), defaultBridge="br0", clock=None,
                 measure=measureHost, runInThread=None, nodeName=None, addresses=None,
                 concurrentLaunches=DEFAULT_CONCURRENT_LAUNCHES, groupLinks=None):
        if clock is None:
            from twisted.internet import reactor as clock
        self.hypervisor = hypervisor
        self.hypervisorSetting = hypervisorSetting
        self.probe = probe
        self.limits = tuple(limits)
        self.defaultBridge = defaultBridge
        self.measure = measure
        self.groupLinks = groupLinks
        self.runInThread = runInThread or threads.deferToThread
        self.lifecycle = InstanceLifecycle(hypervisor, imageCache, disks, clock,
                                           nodeName=nodeName,
                                           concurrentLaunches=concurrentLaunches)
        # A guest that powers off or a domain that crashes ends its instance at once.
        hypervisor.watchDomainStops(self.lifecycle.domainStopped)
        self.addresses = None
        if addresses is not None:
            self.watchAddresses(addresses)
        self._domainTypeChosen = False
        self._isReady = False
        self._starting = False
        self._waiters = []

    def startService(self):
        Service.startService(self)
        self.whenReady().addErrback(
            lambda failure: log.warn("node controller start failed ({error});"
                                     " the next request retries",
                                     error=failure.getErrorMessage()))

    def stopService(self):
        Service.stopService(self)
        self.lifecycle.stopWaiting()

    def whenReady(self):
        """
        A Deferred that fires once the node is set up: domain type chosen,
        host measured, running domains re-adopted, orphans removed.  A failed
        setup is forgotten, so the next caller starts it again.
        """
        if self._isReady:
            return defer.succeed(None)
        waiter = defer.Deferred()
        self._waiters.append(waiter)
        if not self._starting:
            self._starting = True
            self._start().addBoth(self._startEnded)
        return waiter

    def _startEnded(self, outcome):
        self._starting = False
        self._isReady = not isinstance(outcome, Failure)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if self._isReady:
                waiter.callback(None)
            else:
                waiter.errback(outcome)

    @defer.inlineCallbacks
    def _start(self):
        lifecycle = self.lifecycle
        if lifecycle.capacity is None:
            lifecycle.capacity = yield self.runInThread(
                self.measure, lifecycle.disks.instancePath, *self.limits)
        if not self._domainTypeChosen:
            lifecycle.domainType = yield chooseDomainType(
                self.hypervisorSetting, self.hypervisor, self.probe)
            self._domainTypeChosen = True
        yield lifecycle.restore()
        if self.groupLinks is not None:
            # Their group links outlived the previous NC: keep them, counted.
            for instance in lifecycle.instances.values():
                if instance.alive:
                    self.groupLinks.adopt(instance.instanceId, instance.spec.network)
        yield lifecycle.removeOrphans()
        log.info("node ready: {capacity}, domains of type {type}, {count}"
                 " instance(s)", capacity=lifecycle.capacity,
                 type=lifecycle.domainType, count=len(lifecycle.instances))

    def watchAddresses(self, addresses):
        """Learn the unknown addresses of this node's instances from ``addresses``."""
        self.addresses = addresses
        addresses.wanted = self._macsWithoutAddress
        # A learnt address is news for the CC's long poll.
        addresses.learned = lambda mac, ip: self.lifecycle.changes.changed()

    def _macsWithoutAddress(self):
        """The MACs of live instances whose address the CC did not give."""
        return {instance.spec.network.macAddress.lower()
                for instance in self.lifecycle.instances.values()
                if instance.alive and instance.spec.network.macAddress
                and instance.spec.network.privateIp in (None, "", "0.0.0.0")}

    def _describe(self):
        d = self._whenReadyThen(self.lifecycle.describe)
        if self.addresses is not None:
            d.addCallback(self.addresses.fillIn)
        return d

    def _whenReadyThen(self, function, *args):
        d = self.whenReady()
        d.addCallback(lambda _: function(*args))
        return d.addErrback(_asCloudError)

    # -- INode --------------------------------------------------------------

    def describeResource(self):
        d = self._whenReadyThen(self.lifecycle.resources)
        if self.groupLinks is not None and self.groupLinks.localIp:
            d.addCallback(lambda resources: resources.replace(
                vnetAddress=self.groupLinks.localIp))
        return d

    def runInstance(self, spec):
        try:
            spec = placedSpec(spec, self.defaultBridge)
        except CloudError as e:
            return defer.fail(e)
        if self.groupLinks is None or spec.network.tag is None:
            return self._whenReadyThen(self.lifecycle.run, spec)
        return self._whenReadyThen(self._runOnGroupNetwork, spec)

    @defer.inlineCallbacks
    def _runOnGroupNetwork(self, spec):
        """MANAGED: the group's link and bridge first, then the instance on it."""
        yield self.groupLinks.attach(spec.instanceId, spec.network)
        try:
            report = self.lifecycle.run(spec)
        except Exception:
            yield self.groupLinks.detach(spec.instanceId, spec.network)
            raise
        return report

    def describeInstances(self):
        return self._describe()

    def terminateInstance(self, instanceId):
        try:
            checkInstanceId(instanceId)
        except CloudError as e:
            return defer.fail(e)
        instance = self.lifecycle.instances.get(instanceId)
        d = self._whenReadyThen(self.lifecycle.terminate, instanceId)
        if self.groupLinks is not None and instance is not None:
            def detach(termination):
                done = self.groupLinks.detach(instanceId, instance.spec.network)
                return done.addCallback(lambda _: termination)
            d.addCallback(detach)
        return d

    def waitForChange(self, generation, timeout):
        try:
            timeout = checkWaitArguments(generation, timeout)
        except CloudError as e:
            return defer.fail(e)
        changes = self.lifecycle.changes
        d = changes.wait(generation, timeout)
        d.addCallback(lambda _: self._describe())
        # Read after describing: the describe itself may have noticed a change
        # (a vanished domain), which the answer then already contains.
        d.addCallback(lambda instances: Change(changes.generation, instances))
        return d

    def rebootInstance(self, instanceId):
        try:
            checkInstanceId(instanceId)
        except CloudError as e:
            return defer.fail(e)
        return self._whenReadyThen(self.lifecycle.reboot, instanceId)

    def getConsoleOutput(self, instanceId):
        try:
            checkInstanceId(instanceId)
        except CloudError as e:
            return defer.fail(e)
        return self._whenReadyThen(self.lifecycle.consoleOutput, instanceId)

    def setFloodPeers(self, floodPeers):
        """Follow the CC's flood peers of the VXLAN networks this node carries."""
        if not isinstance(floodPeers, FloodPeers):
            return defer.fail(CloudError("InvalidParameterValue",
                                         "setFloodPeers' argument must be a FloodPeers"))
        if self.groupLinks is None:
            return defer.succeed(None)
        return self._whenReadyThen(self.groupLinks.followPeers, floodPeers.peers)
