"""
The node controller's lifecycle against libvirt's test:///default driver.

test:///default keeps its domains for the life of the process, shared by
every connection: exactly what a restarted NC sees of a real libvirtd.  The
test driver does not need the kernel or disks to exist, so these tests run
without KVM or QEMU; the disks are still made for real by qemu-img, mkfs and
mkswap.
"""

import itertools
import os
import shutil

import libvirt
from twisted.internet import defer, task
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from eucad.common.errors import CloudError
from eucad.common.interfaces import INode
from eucad.common.process import ProcessRunner
from eucad.nc.domainxml import parseInstanceRecord
from eucad.nc.hypervisor import Hypervisor
from eucad.nc.imagecache import ImageCache
from eucad.nc.instancefiles import InstanceDisks
from eucad.nc.instances import STOP_EVENT_GRACE, TERMINATED_LINGER
from eucad.nc.kvmprobe import AcceleratorProbe
from eucad.nc.node import NodeController
from tests.nc.specs import asRunSpec, runSpec, runSpecData
from tests.nc.test_hypervisor import RecordingOpener
from tests.heldthreads import HeldThreads

TEST_URI = "test:///default"
TOOLS = ["qemu-img", "mkfs.ext4", "mkswap"]
_ids = itertools.count(0x100)


def newInstanceId():
    """A fresh id: test:///default is shared by every test in the process."""
    return "i-%08x" % (next(_ids),)


@defer.inlineCallbacks
def eventually(check, attempts=200, interval=0.05):
    """Wait (real time, bounded) until ``check()`` is true; fail if it never is."""
    from twisted.internet import reactor
    for _ in range(attempts):
        if check():
            return
        yield task.deferLater(reactor, interval, lambda: None)
    raise AssertionError("condition not met after %.1f s" % (attempts * interval,))


class NodeTestCase(unittest.TestCase):
    """Builds node controllers on test:///default in a temporary INSTANCE_PATH."""

    def setUp(self):
        missing = [tool for tool in TOOLS if shutil.which(tool) is None]
        if missing:
            raise unittest.SkipTest("missing %s" % (" ".join(missing),))
        self.base = os.path.abspath(self.mktemp())
        self.instancePath = os.path.join(self.base, "instances")
        os.makedirs(self.instancePath)
        self.machine = os.path.join(self.base, "machine.img")
        with open(self.machine, "wb") as f:
            f.write(b"root file system" * 1024)
            f.truncate(16 * 1024 * 1024)
        self.clock = task.Clock()
        self.clock.advance(1700000000)
        self.direct = libvirt.open(TEST_URI)
        self.addCleanup(self.direct.close)

    def makeNode(self, limits=(4, 4096, 100), opener=None, imageThreads=None,
                 wrapHypervisor=None):
        hypervisor = Hypervisor(TEST_URI, opener=opener)
        hypervisor.startService()
        self.addCleanup(hypervisor.stopService)
        runner = ProcessRunner()
        node = NodeController(
            wrapHypervisor(hypervisor) if wrapHypervisor else hypervisor,
            ImageCache(os.path.join(self.instancePath, "eucalyptus", "cache"),
                       runInThread=imageThreads),
            InstanceDisks(self.instancePath, runner),
            hypervisorSetting="auto", probe=AcceleratorProbe(runner),
            limits=limits, defaultBridge="br0", clock=self.clock)
        return node

    def spec(self, **changes):
        instanceId = changes.pop("instanceId", None) or newInstanceId()
        self.addCleanup(self.destroyDirectly, instanceId)
        return runSpec(instanceId, self.machinePath(), **changes)

    def machinePath(self):
        return self.machine

    def destroyDirectly(self, name):
        try:
            self.direct.lookupByName(name).destroy()
        except libvirt.libvirtError:
            pass

    def domainNames(self):
        return {d.name() for d in self.direct.listAllDomains()}

    @defer.inlineCallbacks
    def runToEnd(self, node, spec):
        """Run an instance and wait for its launch to finish."""
        report = yield node.runInstance(spec)
        yield node.lifecycle.launched(spec["instanceId"])
        defer.returnValue(report)

    @defer.inlineCallbacks
    def described(self, node, instanceId):
        instances = yield node.describeInstances()
        found = [i for i in instances if i["instanceId"] == instanceId]
        defer.returnValue(found[0] if found else None)


class LifecycleTests(NodeTestCase):
    """run -> pending -> running -> terminate."""

    def test_providesINode(self):
        """NodeController provides every INode method."""
        self.assertTrue(verifyObject(INode, self.makeNode()))

    @defer.inlineCallbacks
    def test_runPendingThenRunning(self):
        """A run answers pending at once; once launched, libvirt runs it and it reports running."""
        node = self.makeNode()
        spec = self.spec()
        report = yield node.runInstance(spec)
        self.assertEqual(report["state"], "pending")
        self.assertEqual(report["instanceId"], spec["instanceId"])
        self.assertEqual(report["launchTime"], 1700000000)
        self.assertEqual(report["vmType"], "m1.small")
        yield node.lifecycle.launched(spec["instanceId"])
        described = yield self.described(node, spec["instanceId"])
        self.assertEqual(described["state"], "running")
        self.assertEqual(described["macAddress"], "d0:0d:00:00:00:01")
        self.assertEqual(described["privateIp"], "10.77.0.10")
        self.assertIsNone(described["reason"])
        self.assertIn(spec["instanceId"], self.domainNames())
        directory = os.path.join(self.instancePath, "alice", spec["instanceId"])
        self.assertEqual(sorted(os.listdir(directory)),
                         ["ephemeral.img", "libvirt.xml", "root.qcow2"])

    @defer.inlineCallbacks
    def test_domainCarriesRecord(self):
        """The running domain's XML carries the instance record in its metadata."""
        node = self.makeNode()
        spec = self.spec(keyName="k1", launchIndex=3)
        yield self.runToEnd(node, spec)
        xml = self.direct.lookupByName(spec["instanceId"]).XMLDesc(0)
        record, launchTime = parseInstanceRecord(xml)
        self.assertEqual((record["owner"], record["reservationId"], record["imageId"],
                          record["keyName"], record["launchIndex"],
                          record.network.macAddress, launchTime),
                         ("alice", "r-0000abcd", "emi-0000aaaa", "k1", 3,
                          "d0:0d:00:00:00:01", 1700000000))
        self.assertEqual(record["vmType"]["ram"], 128)

    @defer.inlineCallbacks
    def test_terminateRemovesDomainAndFiles(self):
        """Terminate destroys the domain and deletes the instance directory."""
        node = self.makeNode()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        result = yield node.terminateInstance(spec["instanceId"])
        self.assertEqual(result.toDict(), {"instanceId": spec["instanceId"],
                                  "previousState": "running", "state": "terminated"})
        self.assertNotIn(spec["instanceId"], self.domainNames())
        self.assertFalse(os.path.exists(
            os.path.join(self.instancePath, "alice", spec["instanceId"])))
        again = yield node.terminateInstance(spec["instanceId"])
        self.assertEqual(again["previousState"], "terminated")

    @defer.inlineCallbacks
    def test_terminatedLingerThenForgotten(self):
        """A terminated instance is listed for a while, then forgotten."""
        node = self.makeNode()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        yield node.terminateInstance(spec["instanceId"])
        self.clock.advance(TERMINATED_LINGER - 1)
        described = yield self.described(node, spec["instanceId"])
        self.assertEqual(described["state"], "terminated")
        self.clock.advance(1)
        self.assertIsNone((yield self.described(node, spec["instanceId"])))

    @defer.inlineCallbacks
    def test_terminateUnknown(self):
        """Terminating an id the node never had answers terminated."""
        node = self.makeNode()
        result = yield node.terminateInstance("i-0fffffff")
        self.assertEqual(result.toDict(), {"instanceId": "i-0fffffff",
                                  "previousState": "terminated", "state": "terminated"})

    @defer.inlineCallbacks
    def test_runTwiceIsOneInstance(self):
        """A repeated run of the same instance id does not start a second one."""
        node = self.makeNode()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        again = yield node.runInstance(spec)
        self.assertEqual(again["state"], "running")
        self.assertEqual(len([i for i in (yield node.describeInstances())
                              if i["instanceId"] == spec["instanceId"]]), 1)

    @defer.inlineCallbacks
    def test_vanishedDomainIsTerminated(self):
        """A domain that disappears behind the NC's back is reported terminated, files removed."""
        node = self.makeNode()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        self.direct.lookupByName(spec["instanceId"]).destroy()
        yield self.described(node, spec["instanceId"])
        self.clock.advance(STOP_EVENT_GRACE)
        yield eventually(lambda: not node.lifecycle.instances[spec["instanceId"]].alive)
        described = yield self.described(node, spec["instanceId"])
        self.assertEqual(described["state"], "terminated")
        # Whichever noticed first: the describe, or libvirt's stop event.
        self.assertIn(described["reason"], ("the domain stopped", "the domain was destroyed"))
        yield eventually(lambda: not os.path.exists(
            os.path.join(self.instancePath, "alice", spec["instanceId"])))
        self.assertEqual((yield node.describeResource())["freeCpu"], 4)


class FailureTests(NodeTestCase):
    """Launches that cannot finish end terminated, with a reason, leaving nothing."""

    @defer.inlineCallbacks
    def test_missingImage(self):
        """An image that cannot be fetched terminates the instance and frees its resources."""
        node = self.makeNode()
        spec = self.spec(image=dict(runSpec()["image"].toDict(), location="/nonexistent/img"))
        report = yield node.runInstance(spec)
        self.assertEqual(report["state"], "pending")
        yield node.lifecycle.launched(spec["instanceId"])
        described = yield self.described(node, spec["instanceId"])
        self.assertEqual(described["state"], "terminated")
        self.assertIn("fetching images failed", described["reason"])
        self.assertIn("/nonexistent/img", described["reason"])
        self.assertFalse(os.path.exists(os.path.join(self.instancePath, "alice",
                                                     spec["instanceId"])))
        self.assertEqual((yield node.describeResource())["freeRam"], 4096)

    @defer.inlineCallbacks
    def test_libvirtRefuses(self):
        """A domain libvirt refuses to create terminates the instance and removes its disks."""
        node = self.makeNode()
        spec = self.spec()
        # A domain of the same name already exists (not one of ours).
        self.direct.createXML(
            "<domain type='qemu'><name>%s</name><memory unit='MiB'>8</memory>"
            "<os><type>hvm</type></os></domain>" % (spec["instanceId"],), 0)
        yield self.runToEnd(node, spec)
        described = yield self.described(node, spec["instanceId"])
        self.assertEqual(described["state"], "terminated")
        self.assertIn("starting the domain failed", described["reason"])
        self.assertFalse(os.path.exists(os.path.join(self.instancePath, "alice",
                                                     spec["instanceId"])))

    @defer.inlineCallbacks
    def test_imageTooBigForVmType(self):
        """An image larger than the VM type's disk ends the launch with that reason."""
        node = self.makeNode()
        spec = self.spec()
        # The image is already in the node's cache (so it is not copied and
        # hashed), sparse and larger than the VM type's 1 GiB disk.
        cached = node.lifecycle.imageCache.pathFor(spec.image)
        os.makedirs(os.path.dirname(cached))
        with open(cached, "wb") as f:
            f.truncate(1024 * 1024 * 1024 + 4096)
        yield self.runToEnd(node, spec)
        described = yield self.described(node, spec["instanceId"])
        self.assertEqual(described["state"], "terminated")
        self.assertIn("larger than the VM type", described["reason"])

    @defer.inlineCallbacks
    def test_startingDomainIsStillPending(self):
        """While createXML has not returned, the paused, starting domain reports pending."""
        direct = self.direct

        class HeldStart:
            """The real hypervisor, but createXML starts paused and returns when told."""

            def __init__(self, real):
                self.real = real
                self.entered = defer.Deferred()
                self.finish = defer.Deferred()

            def __getattr__(self, name):
                return getattr(self.real, name)

            def createDomain(self, xml):
                # The test driver cannot start paused: start, then pause,
                # which is what libvirt shows while qemu starts.
                direct.createXML(xml, 0).suspend()
                self.entered.callback(None)
                return self.finish

        held = []
        node = self.makeNode(wrapHypervisor=lambda real: held.append(HeldStart(real))
                             or held[0])
        spec = self.spec()
        yield node.runInstance(spec)
        yield held[0].entered
        self.assertIn(spec["instanceId"], self.domainNames())
        described = yield self.described(node, spec["instanceId"])
        self.assertEqual(described["state"], "pending")
        direct.lookupByName(spec["instanceId"]).resume()
        held[0].finish.callback("running")
        yield node.lifecycle.launched(spec["instanceId"])
        described = yield self.described(node, spec["instanceId"])
        self.assertEqual(described["state"], "running")

    @defer.inlineCallbacks
    def test_terminateWhileFetching(self):
        """A terminate during the image fetch stops the launch: no domain, no files."""
        held = HeldThreads()
        node = self.makeNode(imageThreads=held)
        spec = self.spec()
        report = yield node.runInstance(spec)
        self.assertEqual(report["state"], "pending")
        result = yield node.terminateInstance(spec["instanceId"])
        self.assertEqual(result["previousState"], "pending")
        held.releaseAll()
        yield node.lifecycle.launched(spec["instanceId"])
        self.assertNotIn(spec["instanceId"], self.domainNames())
        self.assertFalse(os.path.exists(os.path.join(self.instancePath, "alice",
                                                     spec["instanceId"])))
        described = yield self.described(node, spec["instanceId"])
        self.assertEqual(described["state"], "terminated")


class WaitForChangeTests(NodeTestCase):
    """The CC's long poll: waitForChange wakes on every change describe would show."""

    def stateOf(self, answer, instanceId):
        found = [i["state"] for i in answer["instances"] if i["instanceId"] == instanceId]
        return found[0] if found else None

    @defer.inlineCallbacks
    def test_firstCallAnswersAtOnce(self):
        """A first call (generation None) answers at once with the generation and the instances."""
        node = self.makeNode()
        answer = yield node.waitForChange(None, 25)
        self.assertIsInstance(answer["generation"], int)
        self.assertEqual(answer["instances"], (yield node.describeInstances()))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @defer.inlineCallbacks
    def test_launchWakesTheWaiter(self):
        """A run wakes a waiting call at once, and the domain starting wakes the next one."""
        node = self.makeNode()
        first = yield node.waitForChange(None, 25)
        waiting = node.waitForChange(first["generation"], 25)
        self.assertNoResult(waiting)
        spec = self.spec()
        yield node.runInstance(spec)
        self.clock.advance(0)
        answer = yield waiting
        self.assertNotEqual(answer["generation"], first["generation"])
        self.assertIn(self.stateOf(answer, spec["instanceId"]), ("pending", "running"))
        if self.stateOf(answer, spec["instanceId"]) == "pending":
            # The launch was still going when the answer was read: its end
            # is a change after that generation, so the next wait answers.
            waiting = node.waitForChange(answer["generation"], 25)
            yield node.lifecycle.launched(spec["instanceId"])
            self.clock.advance(0)
            answer = yield waiting
        self.assertEqual(self.stateOf(answer, spec["instanceId"]), "running")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @defer.inlineCallbacks
    def test_timeoutAnswersUnchanged(self):
        """Without a change the call answers after its timeout with the same generation."""
        node = self.makeNode()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        first = yield node.waitForChange(None, 25)
        waiting = node.waitForChange(first["generation"], 5)
        self.clock.advance(4.9)
        self.assertNoResult(waiting)
        self.clock.advance(0.1)
        answer = yield waiting
        self.assertEqual(answer["generation"], first["generation"])
        self.assertEqual(self.stateOf(answer, spec["instanceId"]), "running")

    @defer.inlineCallbacks
    def test_terminateAndVanishWake(self):
        """A terminate changes the generation; so does a vanished domain, once a poll's describe sees it."""
        node = self.makeNode()
        kept, ended = self.spec(), self.spec()
        yield self.runToEnd(node, kept)
        yield self.runToEnd(node, ended)
        before = (yield node.waitForChange(None, 25))["generation"]
        yield node.terminateInstance(ended["instanceId"])
        afterTerminate = node.lifecycle.changes.generation
        self.assertNotEqual(afterTerminate, before)
        waiting = node.waitForChange(afterTerminate, 25)
        self.destroyDirectly(kept["instanceId"])
        yield node.describeInstances()
        self.clock.advance(STOP_EVENT_GRACE)
        answer = yield waiting
        self.assertEqual(self.stateOf(answer, kept["instanceId"]), "terminated")
        self.assertNotEqual(answer["generation"], afterTerminate)

    def test_timeoutIsCapped(self):
        """A wait longer than the cap ends at the cap."""
        node = self.makeNode()
        generation = node.lifecycle.changes.generation
        node.waitForChange(generation, 3600)
        [timer] = self.clock.getDelayedCalls()
        self.assertEqual(timer.getTime() - self.clock.seconds(), 60)

    def test_badArguments(self):
        """A generation that is not an int or None, or a bad timeout, is InvalidParameterValue."""
        node = self.makeNode()
        for generation, timeout in (("1", 5), (1, -1), (1, "soon")):
            error = self.failureResultOf(node.waitForChange(generation, timeout), CloudError)
            self.assertEqual(error.value.code, "InvalidParameterValue")


class ResourceTests(NodeTestCase):
    """describeResource and admission."""

    @defer.inlineCallbacks
    def test_accounting(self):
        """Free cpu/ram/disk drop by what each instance's VM type holds."""
        node = self.makeNode(limits=(4, 4096, 100))
        before = yield node.describeResource()
        self.assertEqual(before.toDict(), {"cpu": 4, "ram": 4096, "disk": 100, "freeCpu": 4,
                                  "freeRam": 4096, "freeDisk": 100, "hypervisor": "qemu",
                                  "vnetAddress": None})
        large = {"name": "m1.large", "cpu": 2, "ram": 512, "disk": 10}
        yield self.runToEnd(node, self.spec(vmType=large))
        after = yield node.describeResource()
        self.assertEqual((after["freeCpu"], after["freeRam"], after["freeDisk"]),
                         (2, 3584, 90))

    @defer.inlineCallbacks
    def test_insufficientCapacity(self):
        """A run that does not fit is refused and starts nothing."""
        node = self.makeNode(limits=(1, 4096, 100))
        yield self.runToEnd(node, self.spec())
        spec = self.spec()
        error = yield self.assertFailure(node.runInstance(spec), CloudError)
        self.assertEqual(error.code, "InsufficientInstanceCapacity")
        self.assertIsNone((yield self.described(node, spec["instanceId"])))
        self.assertNotIn(spec["instanceId"], self.domainNames())

    @defer.inlineCallbacks
    def test_hostFiguresWhenUnlimited(self):
        """With 0 limits the totals are the host's own."""
        node = self.makeNode(limits=(0, 0, 0))
        resources = yield node.describeResource()
        self.assertEqual(resources["cpu"], os.cpu_count())
        self.assertGreater(resources["ram"], 0)
        self.assertGreater(resources["disk"], 0)


class BadInputTests(NodeTestCase):
    """What the CC sends is checked before anything is made."""

    @defer.inlineCallbacks
    def test_badSpec(self):
        """A bad spec is InvalidParameterValue and creates no directory or domain."""
        node = self.makeNode()
        spec = runSpecData(newInstanceId(), self.machinePath(), owner="../../etc")
        self.assertEqual(self.assertRaises(CloudError, asRunSpec, spec).code,
                         "InvalidParameterValue")
        error = yield self.assertFailure(node.runInstance(spec), CloudError)
        self.assertEqual(error.code, "InvalidParameterValue")
        self.assertEqual(os.listdir(self.instancePath), [])
        self.assertNotIn(spec["instanceId"], self.domainNames())

    @defer.inlineCallbacks
    def test_badTerminateId(self):
        """Terminating a malformed id is InvalidInstanceID.Malformed."""
        node = self.makeNode()
        error = yield self.assertFailure(node.terminateInstance("../x"), CloudError)
        self.assertEqual(error.code, "InvalidInstanceID.Malformed")


class RestartTests(NodeTestCase):
    """A new NC process finds its instances in libvirt."""

    @defer.inlineCallbacks
    def test_restartRebuildsFromMetadata(self):
        """A second NC on the same libvirt re-adopts the running instance, keeps it running and can terminate it."""
        first = self.makeNode()
        spec = self.spec(keyName="k2", launchIndex=1)
        yield self.runToEnd(first, spec)
        before = yield self.described(first, spec["instanceId"])

        second = self.makeNode()
        after = yield self.described(second, spec["instanceId"])
        self.assertEqual(after, before)
        self.assertEqual(after["state"], "running")
        self.assertIn(spec["instanceId"], self.domainNames())
        resources = yield second.describeResource()
        self.assertEqual(resources["freeCpu"], 3)
        # The files were kept, and the re-adopted instance terminates cleanly.
        directory = os.path.join(self.instancePath, "alice", spec["instanceId"])
        self.assertTrue(os.path.isfile(os.path.join(directory, "root.qcow2")))
        result = yield second.terminateInstance(spec["instanceId"])
        self.assertEqual(result["previousState"], "running")
        self.assertFalse(os.path.exists(directory))

    @defer.inlineCallbacks
    def test_orphanDirectoriesRemoved(self):
        """At start, instance directories without a domain are removed; the cache is kept."""
        orphan = os.path.join(self.instancePath, "bob", "i-0badf00d")
        os.makedirs(orphan)
        cache = os.path.join(self.instancePath, "eucalyptus", "cache", "emi-00000001-x")
        os.makedirs(cache)
        node = self.makeNode()
        yield node.whenReady()
        self.assertFalse(os.path.exists(orphan))
        self.assertTrue(os.path.isdir(cache))

    @defer.inlineCallbacks
    def test_directoryInUseByAnyDomainKept(self):
        """At start, a directory a running domain uses is kept even when eucad did not start that domain."""
        used = os.path.join(self.instancePath, "carol", newInstanceId())
        os.makedirs(used)
        disk = os.path.join(used, "disk.img")
        open(disk, "wb").close()
        name = "handmade-%s" % (os.path.basename(used),)
        self.direct.createXML(
            "<domain type='test'><name>%s</name><memory>65536</memory>"
            "<os><type>hvm</type></os><devices><disk type='file' device='disk'>"
            "<source file='%s'/><target dev='vda'/></disk></devices></domain>"
            % (name, disk), 0)
        self.addCleanup(self.destroyDirectly, name)
        orphan = os.path.join(self.instancePath, "carol", "i-0badf00d")
        os.makedirs(orphan)
        node = self.makeNode()
        yield node.whenReady()
        self.assertTrue(os.path.isfile(disk))
        self.assertFalse(os.path.exists(orphan))
        # Nor is the hand-made domain adopted or touched.
        self.assertIn(name, self.domainNames())
        self.assertNotIn(name, node.lifecycle.instances)

    @defer.inlineCallbacks
    def test_libvirtDownAtStart(self):
        """With libvirt unreachable requests fail Unavailable; the next one after it is back succeeds."""
        node = self.makeNode(opener=RecordingOpener(failures=1))
        node.startService()
        error = yield self.assertFailure(node.describeResource(), CloudError)
        self.assertEqual(error.code, "Unavailable")
        resources = yield node.describeResource()
        self.assertEqual(resources["cpu"], 4)
