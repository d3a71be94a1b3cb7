"""Tests for eucad.nc.resources: totals and what instances hold."""

import os

from twisted.trial import unittest

from eucad.nc.resources import Capacity, heldBy, measureHost, memoryMiB


class MeasureHostTests(unittest.TestCase):
    """Totals from the conf, or the host where the conf says 0."""

    def setUp(self):
        self.meminfo = self.mktemp()
        with open(self.meminfo, "w") as f:
            f.write("MemFree:  100 kB\nMemTotal:  4194304 kB\n")

    def test_limitsWin(self):
        """Non-zero MAX_CORES/MAX_MEM/MAX_DISK are the totals."""
        self.assertEqual(measureHost("/nonexistent/instances", 3, 2048, 40, self.meminfo),
                         Capacity(3, 2048, 40))

    def test_hostFigures(self):
        """Zero limits mean the CPU count, MemTotal and the instance file system's size."""
        capacity = measureHost(os.path.join(self.mktemp(), "not", "yet"), 0, 0, 0,
                               self.meminfo)
        self.assertEqual(capacity.cpu, os.cpu_count())
        self.assertEqual(capacity.ram, 4096)
        self.assertGreater(capacity.disk, 0)

    def test_memoryMiB(self):
        """MemTotal is read in kB and reported in MiB."""
        self.assertEqual(memoryMiB(self.meminfo), 4096)


class CapacityTests(unittest.TestCase):
    """Capacity arithmetic used for admission."""

    def test_heldAndCovers(self):
        """What VM types hold adds up; covers says whether another fits."""
        small = {"name": "m1.small", "cpu": 1, "ram": 128, "disk": 10}
        large = {"name": "m1.large", "cpu": 2, "ram": 512, "disk": 10}
        held = heldBy([small, large])
        self.assertEqual(held, Capacity(3, 640, 20))
        free = Capacity(4, 1024, 40) - held
        self.assertTrue(free.covers(Capacity.ofVmType(small)))
        self.assertFalse(free.covers(Capacity.ofVmType(large)))
