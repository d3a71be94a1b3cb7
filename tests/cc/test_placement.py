"""Placement: all or none, reserved at once, never oversubscribed."""

from twisted.internet import task
from twisted.trial import unittest

from eucad.cc.nodes import NodeRegistry
from eucad.cc.placement import Placement
from eucad.common.errors import CloudError
from eucad.testing.fakenode import FakeNode
from tests.cc.helpers import LARGE, SMALL, nodeSpec, runSpec


class PlacementTests(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        # a: room for 2 larges (cpu-bound); b: room for 1 large.
        self.a = FakeNode(cpu=4, ram=4096, disk=100)
        self.b = FakeNode(cpu=2, ram=4096, disk=100)
        self.registry = NodeRegistry([("a", 1, self.a), ("b", 1, self.b)], clock=self.clock)
        self.successResultOf(self.registry.poll())

    def names(self, entries):
        return [e.name for e in entries]

    def test_roundRobinSpreads(self):
        """ROUNDROBIN puts consecutive instances on consecutive nodes with room."""
        placement = Placement(self.registry)
        chosen = placement.place([runSpec(i, SMALL) for i in range(4)])
        self.assertEqual(self.names(chosen), ["a:1", "b:1", "a:1", "b:1"])
        again = placement.place([runSpec(9, SMALL)])
        self.assertEqual(self.names(again), ["a:1"])

    def test_greedyFillsInOrder(self):
        """GREEDY fills the first node before using the next."""
        placement = Placement(self.registry, "greedy")
        chosen = placement.place([runSpec(i, LARGE) for i in range(3)])
        self.assertEqual(self.names(chosen), ["a:1", "a:1", "b:1"])

    def test_allOrNone(self):
        """A request that does not fit entirely reserves nothing."""
        placement = Placement(self.registry)
        failure = self.assertRaises(CloudError, placement.place,
                                    [runSpec(i, LARGE) for i in range(4)])
        self.assertEqual((failure.code, failure.message),
                         ("InsufficientInstanceCapacity", "Not enough resources available"))
        self.assertEqual(placement.reservations, {})
        self.assertEqual(len(placement.place([runSpec(i, LARGE) for i in range(3)])), 3)

    def test_reservationsPreventOversubscription(self):
        """Two requests between polls cannot both take the same room."""
        placement = Placement(self.registry)
        placement.place([runSpec(1, LARGE), runSpec(2, LARGE)])
        placement.place([runSpec(3, LARGE)])
        self.assertRaises(CloudError, placement.place, [runSpec(4, LARGE)])

    def test_reportedInstancesStopCountingTwice(self):
        """Once a node lists an instance, its reservation no longer reduces the node's room."""
        placement = Placement(self.registry)
        [entry] = placement.place([runSpec(1, LARGE)])
        self.assertEqual(placement.room(entry), (2, 3584, 90))
        spec = nodeSpec(1, LARGE)
        self.successResultOf(entry.node.runInstance(spec))
        self.successResultOf(self.registry.poll())
        self.assertEqual(placement.room(entry), (2, 3584, 90))
        self.assertIn("i-00000001", placement.reservations)

    def test_releaseGivesRoomBack(self):
        """Releasing a reservation gives its room back."""
        placement = Placement(self.registry)
        placement.place([runSpec(i, LARGE) for i in range(3)])
        placement.release("i-00000000")
        placement.release("i-0000dead")
        self.assertEqual(self.names(placement.place([runSpec(7, LARGE)])), ["a:1"])

    def test_downNodesGetNothing(self):
        """A down node gets no placements."""
        self.b.failWith(CloudError("Unavailable"))
        self.successResultOf(self.registry.poll())
        placement = Placement(self.registry)
        self.assertEqual(self.names(placement.place([runSpec(1, SMALL), runSpec(2, SMALL)])),
                         ["a:1", "a:1"])

    def test_noNodesUp(self):
        """With no node up every request lacks capacity."""
        registry = NodeRegistry([("a", 1, self.a)], clock=self.clock)
        self.assertRaises(CloudError, Placement(registry).place, [runSpec(1)])

    def test_unknownPolicy(self):
        """An unknown SCHEDPOLICY is refused at construction."""
        self.assertRaises(ValueError, Placement, self.registry, "RANDOM")
