"""The one count of how many instances of a VM type fit, shared by the CLC and the CC."""

from twisted.trial import unittest

from eucad.common.vmtypes import instancesThatFit

SMALL = {"name": "m1.small", "cpu": 1, "ram": 128, "disk": 10}


class InstancesThatFitTests(unittest.TestCase):

    def test_scarcestResourceDecides(self):
        """The count is set by whichever of cpu, ram and disk runs out first."""
        self.assertEqual(instancesThatFit(SMALL, 4, 300, 100), 2)
        self.assertEqual(instancesThatFit(SMALL, 1, 4096, 100), 1)
        self.assertEqual(instancesThatFit(SMALL, 8, 4096, 35), 3)

    def test_zeroNeedDoesNotLimit(self):
        """A resource the type needs none of is ignored, whatever room is left of it."""
        self.assertEqual(instancesThatFit(dict(SMALL, cpu=0), 0, 512, 100), 4)
        self.assertEqual(instancesThatFit(dict(SMALL, ram=0), 3, 0, 100), 3)
        self.assertEqual(instancesThatFit(dict(SMALL, disk=0), 8, 256, 0), 2)

    def test_overbookedRoomHoldsNothing(self):
        """Negative room (already overbooked) holds zero, never a negative count."""
        self.assertEqual(instancesThatFit(SMALL, -1, 512, 50), 0)

    def test_typeNeedingNothingFitsNone(self):
        """A type asking for no cpu, ram or disk has no size, so none are counted."""
        self.assertEqual(instancesThatFit(dict(SMALL, cpu=0, ram=0, disk=0), 4, 512, 50), 0)
