"""CLUSTERS parsing and calls to clusters with timeouts."""

from twisted.internet import defer, task
from twisted.python.failure import Failure
from twisted.trial import unittest
from zope.interface import implementer

from eucad.clc.clusters import (ClusterEntry, ClusterSet, parseClusters,
                                reraiseAsCloudError)
from eucad.common.errors import CloudError
from eucad.common.interfaces import ICluster
from eucad.common.records import ClusterResources
from eucad.testing.fakecluster import FakeCluster


@implementer(ICluster)
class SilentCluster:
    """A cluster whose calls never answer (a hung CC)."""

    def describeResources(self):
        return defer.Deferred()

    runInstances = describeInstances = terminateInstances = describeResources


class ParseClustersTests(unittest.TestCase):

    def test_words(self):
        """name@host:port words become (name, host, port); the port defaults to 8774."""
        self.assertEqual(parseClusters("z1@10.0.0.1:9000  z2@cc2 cc3"), [
            ("z1", "10.0.0.1", 9000), ("z2", "cc2", 8774), ("cc3", "cc3", 8774)])

    def test_ipv6(self):
        """A bracketed IPv6 host keeps its port."""
        self.assertEqual(parseClusters("z@[::1]:8774"), [("z", "::1", 8774)])

    def test_duplicate(self):
        """A cluster named twice is a configuration error."""
        self.assertRaises(ValueError, parseClusters, "z@a:1 z@b:2")

    def test_badPort(self):
        """A non-numeric port is a configuration error."""
        self.assertRaises(ValueError, parseClusters, "z@a:http")


class ClusterSetTests(unittest.TestCase):

    def test_notAnICluster(self):
        """Entries must provide ICluster."""
        self.assertRaises(TypeError, ClusterEntry, "z", "h", 1, object())

    def test_timeout(self):
        """A call that takes longer than the timeout fails with Unavailable."""
        clock = task.Clock()
        clusters = ClusterSet.fromLinks({"z": SilentCluster()}, clock, timeout=5)
        d = clusters["z"].describeResources()
        self.assertNoResult(d)
        clock.advance(5)
        self.assertEqual(self.failureResultOf(d, CloudError).value.code, "Unavailable")

    def test_describeResourcesKeepsGoodAnswers(self):
        """describeResources returns every cluster's answer, with failures as CloudError values."""
        down = FakeCluster()
        down.available = False
        clusters = ClusterSet.fromLinks({"up": FakeCluster(), "down": down},
                                        task.Clock())
        answers = self.successResultOf(clusters.describeResources())
        self.assertIsInstance(answers["up"], ClusterResources)
        self.assertIsInstance(answers["down"], CloudError)

    def test_unexpectedErrorBecomesCloudError(self):
        """A non-CloudError failure reaches the caller as InternalError."""
        cluster = FakeCluster()
        cluster.failures["describeInstances"] = ValueError("bad")
        clusters = ClusterSet.fromLinks({"z": cluster}, task.Clock())
        failure = self.failureResultOf(clusters["z"].describeInstances(), CloudError)
        self.assertEqual(failure.value.code, "InternalError")


class ReraiseAsCloudErrorTests(unittest.TestCase):

    def setUp(self):
        self.entry = ClusterEntry("z", "h", 8774, FakeCluster())

    def test_cloudErrorPassesThrough(self):
        """A CloudError failure is handed back unchanged, not raised anew."""
        failure = Failure(CloudError("InvalidInstanceID.NotFound", "gone"))
        self.assertIs(reraiseAsCloudError(failure, self.entry, "m"), failure)

    def test_timeoutRaisedAsUnavailable(self):
        """A timeout is raised as a 503 Unavailable naming the cluster and method."""
        error = self.assertRaises(CloudError, reraiseAsCloudError,
                                  Failure(defer.TimeoutError()), self.entry, "m")
        self.assertEqual((error.code, error.status), ("Unavailable", 503))
        self.assertIn("cluster z did not answer m", error.message)

    def test_otherRaisedAsInternalError(self):
        """Any other failure is raised as a 500 InternalError."""
        error = self.assertRaises(CloudError, reraiseAsCloudError,
                                  Failure(ValueError("bad")), self.entry, "m")
        self.assertEqual((error.code, error.status), ("InternalError", 500))
