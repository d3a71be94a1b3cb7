"""FakeCluster keeps the ICluster contract its docstrings state."""

from twisted.internet import task
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from eucad.common.errors import CloudError
from eucad.common.interfaces import ICluster
from eucad.common.records import RunSpec
from eucad.testing.fakecluster import FakeCluster

SMALL = {"name": "m1.small", "cpu": 1, "ram": 128, "disk": 10}
LARGE = {"name": "m1.large", "cpu": 2, "ram": 512, "disk": 10}


def spec(instanceId, vmType=SMALL, index=0):
    return RunSpec.fromDict({
        "instanceId": instanceId, "reservationId": "r-00000001", "owner": "alice",
        "imageId": "emi-00000001",
        "image": {"id": "emi-00000001", "kind": "machine", "location": "/m"},
        "kernel": {"id": "eki-00000001", "kind": "kernel", "location": "/k"},
        "ramdisk": None, "vmType": vmType,
        "keyName": None, "keyData": None, "userData": None, "launchIndex": index,
        "network": {"owner": "alice", "group": "default"}})


class FakeClusterTests(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        self.cluster = FakeCluster(nodes=[
            {"host": "n1", "cpu": 2, "ram": 1024, "disk": 40},
            {"host": "n2", "cpu": 2, "ram": 1024, "disk": 40}], clock=self.clock,
            bootSeconds=5)

    def free(self, name="m1.small"):
        resources = self.successResultOf(self.cluster.describeResources())
        entry = [v for v in resources.vmTypes if v.vmType.name == name][0]
        return entry["free"], entry["max"]

    def test_provides(self):
        """FakeCluster provides ICluster."""
        self.assertTrue(verifyObject(ICluster, self.cluster))

    def test_capacity(self):
        """max and free count what fits on the up nodes, per type."""
        self.assertEqual(self.free(), (4, 4))
        self.assertEqual(self.free("m1.large"), (2, 2))
        self.successResultOf(self.cluster.runInstances([spec("i-00000001", LARGE)]))
        self.assertEqual(self.free(), (2, 4))
        self.assertEqual(self.free("m1.large"), (1, 2))

    def test_runReport(self):
        """runInstances reports pending instances with node, MAC and private IP."""
        [report] = self.successResultOf(self.cluster.runInstances([spec("i-0a0b0c0d")]))
        self.assertEqual(report["state"], "pending")
        self.assertEqual(report["node"], "n1")
        self.assertEqual(report["macAddress"], "d0:0d:0a:0b:0c:0d")
        self.assertTrue(report["privateIp"].startswith("10.1.0."))
        self.assertEqual(report["kernelId"], "eki-00000001")

    def test_allOrNone(self):
        """A launch that does not fit entirely starts nothing."""
        specs = [spec("i-0000000%d" % i, LARGE) for i in range(1, 4)]
        failure = self.failureResultOf(self.cluster.runInstances(specs), CloudError)
        self.assertEqual(failure.value.code, "InsufficientInstanceCapacity")
        self.assertEqual(self.cluster.instances, {})
        self.assertEqual(self.free("m1.large"), (2, 2))

    def test_noDoubleStart(self):
        """Running an id that already runs is refused and uses no more room."""
        self.successResultOf(self.cluster.runInstances([spec("i-00000001")]))
        failure = self.failureResultOf(self.cluster.runInstances(
            [spec("i-00000002"), spec("i-00000001")]), CloudError)
        self.assertEqual(failure.value.code, "InvalidParameterValue")
        self.assertEqual(self.free(), (3, 4))
        self.assertNotIn("i-00000002", self.cluster.instances)

    def test_bootAfterSeconds(self):
        """Instances report running once bootSeconds passed on the clock."""
        self.successResultOf(self.cluster.runInstances([spec("i-00000001")]))
        self.clock.advance(4)
        [report] = self.successResultOf(self.cluster.describeInstances())
        self.assertEqual(report["state"], "pending")
        self.clock.advance(1)
        [report] = self.successResultOf(self.cluster.describeInstances())
        self.assertEqual(report["state"], "running")

    def test_terminateFreesRoom(self):
        """terminateInstances reports previous and current state and frees the node."""
        self.successResultOf(self.cluster.runInstances([spec("i-00000001")]))
        results = self.successResultOf(self.cluster.terminateInstances(
            ["i-00000001", "i-0000dead"]))
        self.assertEqual([result.toDict() for result in results], [
            {"instanceId": "i-00000001", "previousState": "pending", "state": "terminated"},
            {"instanceId": "i-0000dead", "previousState": "terminated",
             "state": "terminated"}])
        self.assertEqual(self.free(), (4, 4))

    def test_terminatedKeptForAWhile(self):
        """Terminated instances are reported for keepTerminatedSeconds, then dropped."""
        self.cluster.keepTerminatedSeconds = 60
        self.successResultOf(self.cluster.runInstances([spec("i-00000001")]))
        self.successResultOf(self.cluster.terminateInstances(["i-00000001"]))
        [report] = self.successResultOf(self.cluster.describeInstances())
        self.assertEqual(report["state"], "terminated")
        self.clock.advance(61)
        self.assertEqual(self.successResultOf(self.cluster.describeInstances()), [])

    def test_unavailable(self):
        """available = False makes every call fail with Unavailable."""
        self.cluster.available = False
        failure = self.failureResultOf(self.cluster.describeResources(), CloudError)
        self.assertEqual(failure.value.code, "Unavailable")

    def test_injectedFailureOnce(self):
        """failures[name] fails the next call of that method only."""
        self.cluster.failures["describeInstances"] = CloudError("InternalError", "boom")
        self.failureResultOf(self.cluster.describeInstances(), CloudError)
        self.assertEqual(self.successResultOf(self.cluster.describeInstances()), [])

    def test_downNodeHasNoRoom(self):
        """A node taken down counts for neither max nor free."""
        self.cluster.setNodeState("n2", "down")
        self.assertEqual(self.free(), (2, 2))

    def test_answersAreCopies(self):
        """Changing an answer does not change the fake's state."""
        [report] = self.successResultOf(self.cluster.runInstances([spec("i-00000001")]))
        with self.assertRaises(TypeError):
            report["state"] = "terminated"
        [again] = self.successResultOf(self.cluster.describeInstances())
        self.assertEqual(again["state"], "pending")


class FakeClusterWaitForChangeTests(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        self.cluster = FakeCluster(clock=self.clock, bootSeconds=5)

    def first(self):
        return self.successResultOf(self.cluster.waitForChange(None, 25))

    def test_runWakesWaiter(self):
        """A run wakes a waiting call in the next turn, with the new instance in its answer."""
        generation = self.first()["generation"]
        waiting = self.cluster.waitForChange(generation, 25)
        self.successResultOf(self.cluster.runInstances([spec("i-00000001")]))
        self.assertNoResult(waiting)
        self.clock.advance(0)
        answer = self.successResultOf(waiting)
        self.assertNotEqual(answer["generation"], generation)
        self.assertEqual([(i["instanceId"], i["state"]) for i in answer["instances"]],
                         [("i-00000001", "pending")])

    def test_bootEndsTheWait(self):
        """A wait ends when a pending instance boots by the clock, showing it running."""
        self.successResultOf(self.cluster.runInstances([spec("i-00000001")]))
        generation = self.first()["generation"]
        waiting = self.cluster.waitForChange(generation, 25)
        self.clock.advance(4.9)
        self.assertNoResult(waiting)
        self.clock.advance(0.1)
        answer = self.successResultOf(waiting)
        self.assertEqual(answer["instances"][0]["state"], "running")
        self.assertNotEqual(answer["generation"], generation)

    def test_terminateMarkRunningForgetChange(self):
        """markRunning, terminateInstances and forget each change the generation."""
        self.successResultOf(self.cluster.runInstances([spec("i-00000001"), spec("i-00000002")]))
        seen = [self.cluster.changes.generation]
        self.cluster.markRunning("i-00000001")
        seen.append(self.cluster.changes.generation)
        self.successResultOf(self.cluster.terminateInstances(["i-00000001"]))
        seen.append(self.cluster.changes.generation)
        self.cluster.forget("i-00000002")
        seen.append(self.cluster.changes.generation)
        self.assertEqual(len(set(seen)), 4)

    def test_timeoutAnswersUnchanged(self):
        """Without a change the wait ends after its timeout with the same generation."""
        cluster = FakeCluster(clock=self.clock)
        generation = self.successResultOf(cluster.waitForChange(None, 25))["generation"]
        waiting = cluster.waitForChange(generation, 3)
        self.clock.advance(3)
        self.assertEqual(self.successResultOf(waiting).toDict(),
                         {"generation": generation, "instances": []})
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_failuresAndBadArguments(self):
        """Unavailable, injected failures and bad arguments fail the call."""
        self.cluster.available = False
        self.assertEqual(self.failureResultOf(self.cluster.waitForChange(None, 1),
                                              CloudError).value.code, "Unavailable")
        self.cluster.available = True
        self.cluster.failures["waitForChange"] = CloudError("InternalError", "boom")
        self.failureResultOf(self.cluster.waitForChange(None, 1), CloudError)
        self.assertEqual(self.failureResultOf(self.cluster.waitForChange(None, -1),
                                              CloudError).value.code, "InvalidParameterValue")

    def test_noClockNoTimersUntilAWait(self):
        """A FakeCluster without a clock schedules nothing while nobody waits."""
        cluster = FakeCluster()
        self.successResultOf(cluster.runInstances([spec("i-00000001")]))
        cluster.markRunning()
        self.assertIsNone(cluster.changes._clock)
