"""The cluster poller and its watcher on a task.Clock, and the CLC's start-up recovery."""

from twisted.internet import defer
from twisted.trial import unittest

from eucad.clc import instancestore, termination
from eucad.clc.launcher import LaunchRequest, Launcher
from eucad.clc.poller import ClusterPoller, ClusterWatcher
from eucad.clc.startup import CloudStartup
from eucad.testing.fakecluster import FakeCluster

from tests.clc import helpers

from tests.clc.test_fakecluster import spec


class PollerTests(unittest.TestCase):

    def setUp(self):
        self.clock = helpers.realTimeClock()
        self.zone1 = FakeCluster(clock=self.clock)
        self.zone2 = FakeCluster(clock=self.clock, subnet="10.2.0")
        self.cloud = helpers.makeCloud(self, {"zone1": self.zone1, "zone2": self.zone2},
                                       clock=self.clock)
        self.emi, _, _ = helpers.registerImages(self.cloud.db)
        self.poller = ClusterPoller(self.cloud, interval=2)

    def launch(self, zone="zone1", count=1):
        _, records = self.successResultOf(Launcher(self.cloud).launch(
            LaunchRequest("alice", False, self.emi, maxCount=count, zone=zone)))
        return [r["id"] for r in records]

    def rows(self):
        return helpers.instanceRows(self.cloud.db)

    def poll(self):
        self.clock.advance(1)
        self.successResultOf(self.poller.pollOnce())

    def test_pendingToRunning(self):
        """A poll after the cluster booted the instance marks it running."""
        [instanceId] = self.launch()
        self.poll()
        self.assertEqual(self.rows()[instanceId]["state"], "pending")
        self.zone1.markRunning()
        self.poll()
        row = self.rows()[instanceId]
        self.assertEqual(row["state"], "running")
        self.assertTrue(row["privateIp"].startswith("10.1.0."))

    def test_loopRunsEveryInterval(self):
        """Started, the poller asks each cluster at once and then every interval."""
        self.poller.startService()
        self.addCleanup(self.poller.stopService)
        count = lambda: [c[0] for c in self.zone1.calls].count("describeInstances")
        self.assertEqual(count(), 1)
        self.clock.advance(2)
        self.assertEqual(count(), 2)
        self.clock.advance(1.9)
        self.assertEqual(count(), 2)
        self.clock.advance(0.1)
        self.assertEqual(count(), 3)

    def test_stopStopsTheLoop(self):
        """After stopService no more polls happen."""
        self.poller.startService()
        self.poller.stopService()
        calls = len(self.zone1.calls)
        self.clock.advance(10)
        self.assertEqual(len(self.zone1.calls), calls)

    def test_clusterTermination(self):
        """An instance the cluster reports terminated becomes terminated."""
        [instanceId] = self.launch()
        self.successResultOf(self.zone1.terminateInstances([instanceId]))
        self.poll()
        self.assertEqual(self.rows()[instanceId]["state"], "terminated")

    def test_vanishedInstance(self):
        """A placed instance its cluster no longer knows is terminated."""
        [instanceId] = self.launch()
        self.zone1.forget(instanceId)
        self.poll()
        row = self.rows()[instanceId]
        self.assertEqual(row["state"], "terminated")
        self.assertIn("vanished", row["reason"])

    def test_placedDuringPollIsKept(self):
        """An instance placed after a poll began is not taken as vanished by it."""
        [instanceId] = self.launch()
        startedBefore = self.rows()[instanceId]["placedAt"] - 1
        toTerminate = self.cloud.db.transact(
            instancestore.applyClusterReport, "zone1", [], startedBefore, self.clock.seconds())
        self.assertEqual(toTerminate, [])
        self.assertEqual(self.rows()[instanceId]["state"], "pending")

    def test_launchInFlightUntouched(self):
        """Rows of a launch still in flight are left alone by the poll."""
        template = {"imageId": self.emi, "kernelId": None, "ramdiskId": None,
                    "vmType": "m1.small", "keyName": None, "userData": None,
                    "groups": ["default"]}
        _, [instanceId] = self.cloud.db.transact(
            instancestore.reserveInstances, "alice", "zone1", 1, template, 0)
        self.poll()
        self.assertEqual(self.rows()[instanceId]["state"], "pending")

    def test_orphanTerminated(self):
        """An instance running on a cluster that the CLC never recorded is terminated."""
        self.successResultOf(self.zone1.runInstances([spec("i-0000cafe")]))
        self.poll()
        self.assertEqual(self.zone1.instances["i-0000cafe"]["state"], "terminated")
        self.assertNotIn("i-0000cafe", self.rows())

    def test_terminationRetried(self):
        """An instance terminated while its cluster was down is terminated when it is back."""
        [instanceId] = self.launch()
        self.zone1.markRunning()
        self.zone1.available = False
        self.successResultOf(termination.terminate(self.cloud, "alice", False, [instanceId]))
        self.poll()
        self.assertEqual(self.rows()[instanceId]["state"], "shutting-down")
        self.zone1.available = True
        self.poll()
        self.assertEqual(self.zone1.instances[instanceId]["state"], "terminated")
        self.assertEqual(self.rows()[instanceId]["state"], "terminated")

    def test_unreachableClusterTolerated(self):
        """An unreachable cluster keeps its rows as they were; others are still polled."""
        [one] = self.launch("zone1")
        [two] = self.launch("zone2")
        self.zone1.markRunning()
        self.zone2.markRunning()
        self.zone1.available = False
        self.poll()
        rows = self.rows()
        self.assertEqual((rows[one]["state"], rows[two]["state"]), ("pending", "running"))
        self.zone1.available = True
        self.poll()
        self.assertEqual(self.rows()[one]["state"], "running")

    def test_unknownAddressIgnored(self):
        """A report of 0.0.0.0 (address not known yet) does not replace a known address."""
        [instanceId] = self.launch()
        known = self.rows()[instanceId]["privateIp"]
        report = [{"instanceId": instanceId, "state": "running", "privateIp": "0.0.0.0",
                   "publicIp": "0.0.0.0"}]
        self.cloud.db.transact(instancestore.applyClusterReport, "zone1", report,
                               self.clock.seconds(), self.clock.seconds())
        row = self.rows()[instanceId]
        self.assertEqual((row["state"], row["privateIp"]), ("running", known))

    def test_statesOnlyMoveForward(self):
        """A stale 'running' report does not undo a termination."""
        [instanceId] = self.launch()
        self.successResultOf(termination.terminate(self.cloud, "alice", False, [instanceId]))
        stale = [{"instanceId": instanceId, "state": "running"}]
        self.cloud.db.transact(instancestore.applyTerminations, stale, self.clock.seconds())
        self.assertEqual(self.rows()[instanceId]["state"], "terminated")


class HeldDescribeCluster(FakeCluster):
    """A cluster whose describeInstances answers only when the test releases it."""

    def __init__(self, **kwargs):
        FakeCluster.__init__(self, **kwargs)
        self.held = []

    def describeInstances(self):
        d = defer.Deferred()
        self.held.append(d)
        return d

    def release(self):
        held, self.held = self.held, []
        for d in held:
            FakeCluster.describeInstances(self).chainDeferred(d)


class WatcherTests(unittest.TestCase):

    def setUp(self):
        self.clock = helpers.realTimeClock()
        self.zone1 = FakeCluster(clock=self.clock)
        self.zone2 = FakeCluster(clock=self.clock, subnet="10.2.0")
        self.makeCloud({"zone1": self.zone1, "zone2": self.zone2})

    def makeCloud(self, zones):
        self.cloud = helpers.makeCloud(self, zones, clock=self.clock)
        self.emi, _, _ = helpers.registerImages(self.cloud.db)
        self.poller = ClusterPoller(self.cloud, interval=2)
        self.watcher = ClusterWatcher(self.poller)
        self.addCleanup(self.stop)

    def stop(self):
        for service in (self.watcher, self.poller):
            if service.running:
                service.stopService()

    def start(self):
        self.poller.startService()
        self.watcher.startService()

    def launch(self, zone="zone1"):
        _, records = self.successResultOf(Launcher(self.cloud).launch(
            LaunchRequest("alice", False, self.emi, maxCount=1, zone=zone)))
        return records[0]["id"]

    def state(self, instanceId):
        return helpers.instanceRows(self.cloud.db)[instanceId]["state"]

    def describes(self, cluster):
        return [c[0] for c in cluster.calls].count("describeInstances")

    def waits(self, cluster):
        return [c[1] for c in cluster.calls if c[0] == "waitForChange"]

    def test_watchesEveryCluster(self):
        """Each cluster gets a first wait (None); afterwards a wait with its generation is held."""
        self.start()
        self.assertEqual((self.waits(self.zone1)[0], self.waits(self.zone2)[0]),
                         ((None, 25.0), (None, 25.0)))
        self.clock.advance(0.1)
        self.assertEqual(self.waits(self.zone1)[-1], (self.zone1.changes.generation, 25.0))
        self.assertEqual((self.zone1.changes.waiting, self.zone2.changes.waiting), (1, 1))

    def test_refreshFollowsRegisteredClusters(self):
        """After refresh, a cluster added while running is watched and a removed one no longer is."""
        from eucad.clc.clusters import ClusterEntry
        self.start()
        zone3 = FakeCluster(clock=self.clock, subnet="10.3.0")
        self.cloud.clusters.add(ClusterEntry("zone3", "zone3", 8774, zone3))
        self.cloud.clusters.remove("zone2")
        self.watcher.refresh()
        self.clock.advance(0.1)
        self.assertEqual(sorted(self.watcher.watches), ["zone1", "zone3"])
        self.assertEqual(self.waits(zone3)[0], (None, 25.0))
        self.assertEqual(self.zone2.changes.waiting, 0)

    def test_changeBringsPromptPoll(self):
        """A cluster's change is polled in the same moment, not at the next round."""
        [instanceId] = [self.launch()]
        self.start()
        self.clock.advance(0.1)
        self.assertEqual(self.state(instanceId), "pending")
        self.zone1.markRunning()
        self.clock.advance(0)
        self.assertEqual(self.state(instanceId), "running")
        self.assertEqual(self.describes(self.zone2), 2)

    def test_bootByTheClusterClockWakes(self):
        """A FakeCluster booting an instance by its clock ends the wait at that moment."""
        self.zone1.bootSeconds = 0.5
        instanceId = self.launch()
        self.start()
        self.clock.advance(0.4)
        self.assertEqual(self.state(instanceId), "pending")
        self.clock.advance(0.1)
        self.assertEqual(self.state(instanceId), "running")

    def test_neverTwoPollsOfOneCluster(self):
        """Changes heard during a poll bring exactly one more poll after it, never a parallel one."""
        held = HeldDescribeCluster(clock=self.clock)
        self.makeCloud({"zone1": held})
        self.start()
        self.assertEqual(len(held.held), 1)
        for _ in range(3):
            self.poller.pollSoon("zone1")
        self.poller.pollCluster("zone1")
        self.assertEqual(len(held.held), 1)
        held.release()
        self.assertEqual(len(held.held), 1)
        held.release()
        self.assertEqual(held.held, [])

    def test_changeWhileUnreachableSeenOnReturn(self):
        """A change made while the cluster could not be watched is polled as soon as a wait gets through."""
        instanceId = self.launch()
        # Rounds far apart, so that only the watch can bring the news.
        self.poller.interval = 60
        self.start()
        self.clock.advance(0.1)
        known = self.zone1.changes.generation
        self.zone1.available = False
        self.zone1.changes.release()
        self.clock.advance(2)
        self.assertTrue(self.watcher.watches["zone1"].failing)
        self.zone1.markRunning()
        self.zone1.available = True
        self.assertEqual(self.state(instanceId), "pending")
        self.clock.advance(2)
        self.assertEqual(self.waits(self.zone1)[-1], (known, 25.0))
        self.assertEqual(self.state(instanceId), "running")

    def test_failedWaitRetriedAfterInterval(self):
        """A failed wait is tried again after the poll interval, not at once."""
        self.zone1.available = False
        self.start()
        self.assertEqual(len(self.waits(self.zone1)), 1)
        self.assertTrue(self.watcher.watches["zone1"].failing)
        self.clock.advance(1.9)
        self.assertEqual(len(self.waits(self.zone1)), 1)
        self.zone1.available = True
        self.clock.advance(0.1)
        self.assertEqual(len(self.waits(self.zone1)), 2)
        self.assertFalse(self.watcher.watches["zone1"].failing)

    def test_stopCancelsTheWaits(self):
        """Stopping the watcher cancels the clusters' waits; stopping both leaves no timer."""
        self.start()
        self.clock.advance(0.1)
        self.watcher.stopService()
        self.assertEqual((self.zone1.changes.waiting, self.zone2.changes.waiting), (0, 0))
        self.poller.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class StartupTests(unittest.TestCase):

    def test_interruptedLaunchesAbandoned(self):
        """At start, launches left in flight are terminated here and at their cluster."""
        cluster = FakeCluster()
        cloud = helpers.makeCloud(self, {"zone1": cluster})
        emi, _, _ = helpers.registerImages(cloud.db)
        template = {"imageId": emi, "kernelId": None, "ramdiskId": None,
                    "vmType": "m1.small", "keyName": None, "userData": None,
                    "groups": ["default"]}
        _, ids = cloud.db.transact(instancestore.reserveInstances, "alice", "zone1", 2,
                                   template, 0)
        startup = CloudStartup(cloud)
        startup.startService()
        self.successResultOf(startup.ready)
        rows = helpers.instanceRows(cloud.db)
        self.assertEqual({rows[i]["state"] for i in ids}, {"terminated"})
        self.assertIn(("terminateInstances", (ids,)), cluster.calls)

    def test_defaultVmTypes(self):
        """Start-up writes the default VM types into an empty table only."""
        from eucad.clc.vmtypes import VmType, listVmTypes
        cloud = helpers.makeCloud(self, {})
        cloud.db.transact(lambda s: s.query(VmType).delete())
        startup = CloudStartup(cloud)
        startup.startService()
        self.successResultOf(startup.ready)
        names = [t["name"] for t in cloud.db.transact(listVmTypes)]
        self.assertEqual(names, ["m1.small", "c1.medium", "m1.large", "m1.xlarge",
                                 "c1.xlarge"])

        def edit(session):
            session.get(VmType, "m1.small").ram = 256
        cloud.db.transact(edit)
        again = CloudStartup(cloud)
        again.startService()
        self.successResultOf(again.ready)
        small = [t for t in cloud.db.transact(listVmTypes) if t["name"] == "m1.small"][0]
        self.assertEqual(small["ram"], 256)
