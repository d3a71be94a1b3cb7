"""FakeNode keeps the INode contract that the CC relies on."""

from twisted.internet import task
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from eucad.common.errors import CloudError
from eucad.common.interfaces import INode
from eucad.nc.instances import TERMINATED_LINGER
from eucad.testing.fakenode import FakeNode
from tests.cc.helpers import LARGE, nodeSpec


class FakeNodeTests(unittest.TestCase):

    def setUp(self):
        self.time = [1000.0]
        self.node = FakeNode(cpu=4, ram=1024, disk=40, now=lambda: self.time[0])

    def listed(self):
        return [(i["instanceId"], i["state"], i["reason"])
                for i in self.successResultOf(self.node.describeInstances())]

    def test_providesINode(self):
        """FakeNode provides every INode method with the same signature."""
        self.assertTrue(verifyObject(INode, self.node))

    def test_describeResourceWhenEmpty(self):
        """An empty node reports everything free."""
        resource = self.successResultOf(self.node.describeResource())
        self.assertEqual(resource.toDict(), {"cpu": 4, "ram": 1024, "disk": 40, "freeCpu": 4,
                                    "freeRam": 1024, "freeDisk": 40, "hypervisor": "qemu",
                                             "vnetAddress": None})

    def test_runTakesCapacity(self):
        """Running an instance takes its VM type's cpu, ram and disk."""
        instance = self.successResultOf(self.node.runInstance(nodeSpec(1, LARGE)))
        self.assertEqual(instance["state"], "pending")
        self.assertEqual(instance["macAddress"], "d2:0d:00:00:00:01")
        self.assertEqual(instance["launchTime"], 1000)
        resource = self.successResultOf(self.node.describeResource())
        self.assertEqual((resource["freeCpu"], resource["freeRam"], resource["freeDisk"]),
                         (2, 512, 30))

    def test_pendingBecomesRunningOnDescribe(self):
        """A started instance is reported running by the next describe."""
        self.node.runInstance(nodeSpec(1))
        instances = self.successResultOf(self.node.describeInstances())
        self.assertEqual([(i["instanceId"], i["state"]) for i in instances],
                         [("i-00000001", "running")])

    def test_overcommitRefused(self):
        """A VM type larger than what is free fails and changes nothing."""
        self.successResultOf(self.node.runInstance(nodeSpec(1, LARGE)))
        self.successResultOf(self.node.runInstance(nodeSpec(2, LARGE)))
        failure = self.failureResultOf(self.node.runInstance(nodeSpec(3, LARGE)), CloudError)
        self.assertEqual(failure.value.code, "InsufficientInstanceCapacity")
        self.assertNotIn("i-00000003", self.node.instances)
        self.assertEqual(self.node.freeCpu, 0)

    def test_runSameIdTwice(self):
        """Running an id the node holds returns it again without a second copy."""
        self.successResultOf(self.node.runInstance(nodeSpec(1, LARGE)))
        again = self.successResultOf(self.node.runInstance(nodeSpec(1, LARGE)))
        self.assertEqual(again["instanceId"], "i-00000001")
        self.assertEqual(self.node.freeCpu, 2)

    def test_badSpecRefused(self):
        """A spec without a bridge is refused with InvalidParameterValue."""
        spec = nodeSpec(1).withNetwork(bridge=None)
        failure = self.failureResultOf(self.node.runInstance(spec), CloudError)
        self.assertEqual(failure.value.code, "InvalidParameterValue")

    def test_terminateIsIdempotent(self):
        """Terminate frees capacity once; repeating it or naming an unknown id is harmless."""
        self.node.runInstance(nodeSpec(1, LARGE))
        first = self.successResultOf(self.node.terminateInstance("i-00000001"))
        second = self.successResultOf(self.node.terminateInstance("i-00000001"))
        unknown = self.successResultOf(self.node.terminateInstance("i-0000ffff"))
        self.assertEqual(first.toDict(), {"instanceId": "i-00000001", "previousState": "pending",
                                 "state": "terminated"})
        self.assertEqual(second["previousState"], "terminated")
        self.assertEqual(unknown["previousState"], "terminated")
        self.assertEqual(self.node.freeCpu, 4)
        self.assertEqual(self.listed(), [("i-00000001", "terminated", "terminated by request")])

    def test_terminatedLingerThenGo(self):
        """A terminated instance stays listed with its reason for the NC's linger time, then is forgotten."""
        self.assertEqual(self.node.lingerSeconds, TERMINATED_LINGER)
        self.node.runInstance(nodeSpec(1))
        self.node.terminateInstance("i-00000001")
        self.time[0] += TERMINATED_LINGER - 1
        self.assertEqual(self.listed(), [("i-00000001", "terminated", "terminated by request")])
        self.time[0] += 1
        self.assertEqual(self.listed(), [])
        self.assertEqual(self.node.instances, {})

    def test_endedInstanceKeepsReason(self):
        """An instance ended on the node's side (a failed launch) is listed terminated with why, holding nothing."""
        self.node.runInstance(nodeSpec(1, LARGE))
        self.node.endInstance("i-00000001", "fetching images failed: HTTP 404")
        self.assertEqual(self.listed(), [("i-00000001", "terminated",
                                          "fetching images failed: HTTP 404")])
        self.assertEqual(self.node.freeCpu, 4)
        answer = self.successResultOf(self.node.terminateInstance("i-00000001"))
        self.assertEqual(answer["previousState"], "terminated")
        self.assertEqual(self.listed()[0][2], "fetching images failed: HTTP 404")

    def test_runLingeringIdReturnsIt(self):
        """Running an id that lingers terminated answers that instance, as the NC does, and starts nothing."""
        self.node.runInstance(nodeSpec(1))
        self.node.terminateInstance("i-00000001")
        again = self.successResultOf(self.node.runInstance(nodeSpec(1)))
        self.assertEqual(again["state"], "terminated")
        self.assertEqual(self.node.freeCpu, 4)

    def test_failWith(self):
        """failWith makes calls fail until recover."""
        self.node.failWith(CloudError("Unavailable", "down", 503))
        self.failureResultOf(self.node.describeResource(), CloudError)
        self.failureResultOf(self.node.runInstance(nodeSpec(1)), CloudError)
        self.node.recover()
        self.successResultOf(self.node.describeResource())

    def test_failWithOneMethod(self):
        """failWith on one method leaves the others working."""
        self.node.failWith(CloudError("InternalError", "boom", 500), "runInstance")
        self.failureResultOf(self.node.runInstance(nodeSpec(1)), CloudError)
        self.successResultOf(self.node.describeInstances())
        self.assertRaises(ValueError, self.node.failWith, CloudError("X"), "reboot")


class FakeNodeWaitForChangeTests(unittest.TestCase):

    def setUp(self):
        self.time = [1000.0]
        self.clock = task.Clock()
        self.node = FakeNode(now=lambda: self.time[0], clock=self.clock)

    def first(self):
        return self.successResultOf(self.node.waitForChange(None, 25))

    def test_runAndBootWake(self):
        """A run wakes a waiter; the answer, describing, shows the instance booted."""
        generation = self.first()["generation"]
        waiting = self.node.waitForChange(generation, 25)
        self.node.runInstance(nodeSpec(1))
        self.assertNoResult(waiting)
        self.clock.advance(0)
        answer = self.successResultOf(waiting)
        self.assertEqual([(i["instanceId"], i["state"]) for i in answer["instances"]],
                         [("i-00000001", "running")])
        self.assertNotEqual(answer["generation"], generation)

    def test_endWakesAndForgettingChanges(self):
        """An instance that ends wakes a waiter; forgetting it after the linger changes the generation."""
        self.node.runInstance(nodeSpec(1))
        generation = self.first()["generation"]
        waiting = self.node.waitForChange(generation, 25)
        self.node.endInstance("i-00000001", "the domain stopped")
        self.clock.advance(0)
        ended = self.successResultOf(waiting)
        self.assertEqual(ended["instances"][0]["state"], "terminated")
        self.time[0] += TERMINATED_LINGER
        self.successResultOf(self.node.describeInstances())
        self.assertNotEqual(self.node.changes.generation, ended["generation"])

    def test_timeoutAndNoTimersWithoutWaits(self):
        """An unchanged wait ends after its timeout; a node nobody waits on schedules nothing."""
        self.node.runInstance(nodeSpec(1))
        self.successResultOf(self.node.describeInstances())
        self.assertEqual(self.clock.getDelayedCalls(), [])
        generation = self.first()["generation"]
        waiting = self.node.waitForChange(generation, 5)
        self.clock.advance(5)
        self.assertEqual(self.successResultOf(waiting)["generation"], generation)

    def test_failWithAndBadArguments(self):
        """failWith covers waitForChange, and bad arguments are InvalidParameterValue."""
        self.node.failWith(CloudError("Unavailable", "down", 503))
        self.assertEqual(self.failureResultOf(self.node.waitForChange(None, 5),
                                              CloudError).value.code, "Unavailable")
        self.node.recover()
        self.assertEqual(self.failureResultOf(self.node.waitForChange("1", 5),
                                              CloudError).value.code, "InvalidParameterValue")
        self.assertEqual([c for c in self.node.calls if c[0] == "waitForChange"],
                         [("waitForChange", None), ("waitForChange", "1")])
