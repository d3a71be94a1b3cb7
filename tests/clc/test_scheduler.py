"""Zone choice and instance counts from the clusters' resource reports."""

from twisted.trial import unittest

from eucad.clc import scheduler
from eucad.common.errors import CloudError
from eucad.common.records import ClusterResources

SMALL = {"name": "m1.small", "cpu": 1, "ram": 128, "disk": 10}


def asResources(report):
    """The ClusterResources of a report written as plain data (types with free/max)."""
    return ClusterResources.fromDict({
        "vmTypes": [{"vmType": {key: entry[key] for key in ("name", "cpu", "ram", "disk")},
                     "free": entry["free"], "max": entry["max"]}
                    for entry in report["vmTypes"]],
        "nodes": [dict(node, port=8775) for node in report["nodes"]]})


def resources(free, maxCount=10, vmType=SMALL):
    return asResources({"vmTypes": [dict(vmType, free=free, max=maxCount)], "nodes": []})


class ChooseZoneTests(unittest.TestCase):

    def test_mostFree(self):
        """Without a requested zone the one with most room for the type wins."""
        answers = {"a": resources(2), "b": resources(5), "c": resources(3)}
        self.assertEqual(scheduler.chooseZone(answers, SMALL, 1, 1), ("b", 1))

    def test_tieGoesToFirst(self):
        """On a tie the first zone in CLUSTERS order wins."""
        answers = {"a": resources(4), "b": resources(4)}
        self.assertEqual(scheduler.chooseZone(answers, SMALL, 1, 1)[0], "a")

    def test_requestedZone(self):
        """A requested zone is used even when another has more room."""
        answers = {"a": resources(2), "b": resources(5)}
        self.assertEqual(scheduler.chooseZone(answers, SMALL, 1, 2, "a"), ("a", 2))

    def test_countUpToMax(self):
        """A launch gets as many as fit, at most MaxCount."""
        answers = {"a": resources(3)}
        self.assertEqual(scheduler.chooseZone(answers, SMALL, 1, 10), ("a", 3))
        self.assertEqual(scheduler.chooseZone(answers, SMALL, 1, 2), ("a", 2))

    def test_insufficient(self):
        """Fewer than MinCount free anywhere is InsufficientInstanceCapacity."""
        answers = {"a": resources(2), "b": resources(1)}
        error = self.assertRaises(CloudError, scheduler.chooseZone, answers, SMALL, 3, 3)
        self.assertEqual((error.code, error.message),
                         ("InsufficientInstanceCapacity", "Not enough resources available"))

    def test_requestedZoneFull(self):
        """A full requested zone fails even when another zone has room."""
        answers = {"a": resources(0), "b": resources(5)}
        error = self.assertRaises(CloudError, scheduler.chooseZone, answers, SMALL, 1, 1,
                                  "a")
        self.assertEqual(error.code, "InsufficientInstanceCapacity")

    def test_unreachableZoneHasNoRoom(self):
        """A zone whose answer is an error counts as full."""
        answers = {"a": CloudError("Unavailable", ""), "b": resources(1)}
        self.assertEqual(scheduler.chooseZone(answers, SMALL, 1, 1), ("b", 1))


class FreeForTests(unittest.TestCase):

    def test_fromNodesWhenTypeDiffers(self):
        """A type the cluster reports differently is counted from up nodes' free room."""
        edited = dict(SMALL, ram=512)
        report = asResources({"vmTypes": [dict(SMALL, free=16, max=16)], "nodes": [
            {"host": "n1", "state": "up", "freeCpu": 4, "freeRam": 1100, "freeDisk": 100,
             "cpu": 4, "ram": 2048, "disk": 100},
            {"host": "n2", "state": "down", "freeCpu": 4, "freeRam": 2048,
             "freeDisk": 100, "cpu": 4, "ram": 2048, "disk": 100}]})
        self.assertEqual(scheduler.freeFor(report, edited), 2)
        self.assertEqual(scheduler.maxFor(report, edited), 4)
        self.assertEqual(scheduler.freeFor(report, SMALL), 16)

    def test_zeroFieldDoesNotLimit(self):
        """A type an admin edited to need no disk is counted by cpu and ram, not a crash."""
        noDisk = dict(SMALL, disk=0)
        report = asResources({"vmTypes": [], "nodes": [
            {"host": "n1", "state": "up", "freeCpu": 4, "freeRam": 300, "freeDisk": 0,
             "cpu": 4, "ram": 2048, "disk": 0}]})
        self.assertEqual(scheduler.freeFor(report, noDisk), 2)
        self.assertEqual(scheduler.maxFor(report, noDisk), 4)

    def test_maxFromReport(self):
        """A type the cluster reports with the same size takes its max from the report."""
        report = asResources({"vmTypes": [dict(SMALL, free=3, max=12)], "nodes": [
            {"host": "n1", "state": "up", "freeCpu": 1, "freeRam": 128, "freeDisk": 10,
             "cpu": 1, "ram": 128, "disk": 10}]})
        self.assertEqual(scheduler.maxFor(report, SMALL), 12)
        self.assertEqual(scheduler.freeFor(report, SMALL), 3)
