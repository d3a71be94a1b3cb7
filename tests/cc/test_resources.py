"""Per VM type capacity from the nodes' room."""

from twisted.trial import unittest

from eucad.cc import resources
from eucad.common.records import VmType
from tests.cc.helpers import LARGE, SMALL


class CountTests(unittest.TestCase):

    def test_smallestDimensionWins(self):
        """A node holds as many instances as its scarcest resource allows."""
        self.assertEqual(resources.countFitting(SMALL, (4, 300, 100)), 2)
        self.assertEqual(resources.countFitting(SMALL, (1, 4096, 100)), 1)
        self.assertEqual(resources.countFitting(SMALL, (8, 4096, 35)), 3)

    def test_negativeRoomHoldsNothing(self):
        """Room that is already overbooked holds zero, not a negative count."""
        self.assertEqual(resources.countFitting(SMALL, (-1, 512, 50)), 0)

    def test_fitsAndSubtract(self):
        """fits compares every dimension; subtract takes a size out of a room."""
        self.assertTrue(resources.fits((1, 128, 10), (1, 128, 10)))
        self.assertFalse(resources.fits((1, 128, 10), (1, 127, 10)))
        self.assertEqual(resources.subtract((4, 1024, 40), (2, 512, 10)), (2, 512, 30))


class CapacityTests(unittest.TestCase):

    def test_maxAndFreePerType(self):
        """max counts over totals and free over rooms, summed across nodes."""
        nodes = [((4, 2048, 100), (2, 1024, 50)), ((2, 1024, 20), (0, 512, 10))]
        answer = resources.capacity([VmType.fromDict(SMALL), VmType.fromDict(LARGE)], nodes)
        self.assertEqual([dict(room.vmType.toDict(), max=room.max, free=room.free)
                          for room in answer], [
            dict(SMALL, max=4 + 2, free=2 + 0),
            dict(LARGE, max=2 + 1, free=1 + 0),
        ])

    def test_noNodes(self):
        """A cluster without up nodes has no room for anything."""
        self.assertEqual([(v["max"], v["free"]) for v in resources.capacity([VmType.fromDict(SMALL)], [])],
                         [(0, 0)])


class VmTypesTests(unittest.TestCase):

    def test_defaults(self):
        """The defaults are the five types of the guide, in order."""
        self.assertEqual([v["name"] for v in resources.VmTypes().all()],
                         ["m1.small", "c1.medium", "m1.large", "m1.xlarge", "c1.xlarge"])

    def test_learnReplacesByName(self):
        """A type learnt from a run spec replaces the one of the same name."""
        types = resources.VmTypes()
        types.learn(VmType(name="m1.small", cpu=1, ram=256, disk=5))
        types.learn(VmType(name="t1.tiny", cpu=1, ram=64, disk=1))
        table = {v["name"]: v for v in types.all()}
        self.assertEqual(table["m1.small"].toDict(), {"name": "m1.small", "cpu": 1, "ram": 256,
                                             "disk": 5})
        self.assertIn("t1.tiny", table)
