"""FakeNode keeps the INode contract that the CC relies on."""

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
        self.assertEqual(resource, {"cpu": 4, "ram": 1024, "disk": 40, "freeCpu": 4,
                                    "freeRam": 1024, "freeDisk": 40, "hypervisor": "qemu"})

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
        spec = nodeSpec(1)
        del spec["network"]["bridge"]
        failure = self.failureResultOf(self.node.runInstance(spec), CloudError)
        self.assertEqual(failure.value.code, "InvalidParameterValue")

    def test_terminateIsIdempotent(self):
        """Terminate frees capacity once; repeating it or naming an unknown id is harmless."""
        self.node.runInstance(nodeSpec(1, LARGE))
        first = self.successResultOf(self.node.terminateInstance("i-00000001"))
        second = self.successResultOf(self.node.terminateInstance("i-00000001"))
        unknown = self.successResultOf(self.node.terminateInstance("i-0000ffff"))
        self.assertEqual(first, {"instanceId": "i-00000001", "previousState": "pending",
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
