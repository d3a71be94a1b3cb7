"""The launch and termination flows against FakeClusters and a real (inline) DB."""

from twisted.trial import unittest

from eucad.clc import termination
from eucad.clc.launcher import LaunchRequest, Launcher
from eucad.common.errors import CloudError
from eucad.testing.fakecluster import FakeCluster

from tests.clc import helpers

NODE = {"host": "n1", "cpu": 2, "ram": 1024, "disk": 40}


class LauncherTests(unittest.TestCase):

    def setUp(self):
        self.small = FakeCluster(nodes=[NODE])
        self.big = FakeCluster(nodes=[NODE, dict(NODE, host="n2")])
        self.cloud = helpers.makeCloud(self, {"small": self.small, "big": self.big})
        self.emi, self.eki, self.eri = helpers.registerImages(self.cloud.db)
        self.launcher = Launcher(self.cloud)

    def launch(self, **kwargs):
        kwargs.setdefault("imageId", self.emi)
        return self.launcher.launch(LaunchRequest("alice", False, **kwargs))

    def launchError(self, **kwargs):
        return self.failureResultOf(self.launch(**kwargs), CloudError).value

    def test_mostFreeZone(self):
        """Without Placement the zone with most room gets the instances."""
        reservation, records = self.successResultOf(self.launch(maxCount=2))
        self.assertEqual(reservation["cluster"], "big")
        self.assertEqual([r["cluster"] for r in records], ["big", "big"])
        self.assertEqual(len(self.big.instances), 2)
        self.assertEqual(self.small.instances, {})

    def test_requestedZone(self):
        """Placement.AvailabilityZone is honoured."""
        reservation, _ = self.successResultOf(self.launch(zone="small"))
        self.assertEqual(reservation["cluster"], "small")

    def test_unknownZone(self):
        """A zone that is not a cluster is InvalidParameterValue."""
        self.assertEqual(self.launchError(zone="nowhere").code, "InvalidParameterValue")

    def test_specShape(self):
        """The cluster receives the ICluster spec with image, kernel, ramdisk and type."""
        _, records = self.successResultOf(self.launch(vmType="m1.large",
                                                      userData="aGVsbG8="))
        name, (specs,) = [c for c in self.big.calls if c[0] == "runInstances"][0]
        [spec] = specs
        self.assertEqual(spec["instanceId"], records[0]["id"])
        self.assertEqual(spec["image"].toDict(), {"id": self.emi, "kind": "machine",
                                         "location": "/images/root.img",
                                         "digest": "e" * 64})
        self.assertEqual(spec["kernel"]["id"], self.eki)
        self.assertEqual(spec["ramdisk"]["id"], self.eri)
        self.assertEqual(spec["vmType"].toDict(), {"name": "m1.large", "cpu": 2, "ram": 512,
                                          "disk": 10})
        self.assertEqual(spec["userData"], "aGVsbG8=")
        self.assertEqual({key: value for key, value in spec["network"].toDict().items()
                          if value is not None}, {"owner": "alice", "group": "default"})
        self.assertEqual(spec["imageId"], self.emi)
        self.assertEqual(set(spec.toDict()), {
            "instanceId", "reservationId", "owner", "image", "kernel",
            "ramdisk", "vmType", "keyName", "keyData", "userData", "launchIndex",
            "network"})

    def test_placedRowsCarryClusterReport(self):
        """After the launch the rows hold node, MAC and addresses, and are placed."""
        _, [record] = self.successResultOf(self.launch())
        row = helpers.instanceRows(self.cloud.db)[record["id"]]
        self.assertEqual(row["node"], "n1")
        self.assertTrue(row["macAddress"].startswith("d0:0d:"))
        self.assertIsNotNone(row["privateIp"])
        self.assertIsNotNone(row["placedAt"])

    def test_countLimitedByRoom(self):
        """MaxCount beyond capacity launches as many as fit (at least MinCount)."""
        _, records = self.successResultOf(self.launch(maxCount=50))
        self.assertEqual(len(records), 4)
        self.assertEqual([r["launchIndex"] for r in records], [0, 1, 2, 3])

    def test_insufficientLeavesNothing(self):
        """MinCount beyond every zone's room fails and leaves no row and no instance."""
        error = self.launchError(minCount=5, maxCount=5, vmType="m1.large")
        self.assertEqual((error.code, error.message),
                         ("InsufficientInstanceCapacity", "Not enough resources available"))
        self.assertEqual(helpers.instanceRows(self.cloud.db), {})
        self.assertEqual(helpers.reservationCount(self.cloud.db), 0)
        self.assertEqual(self.big.instances, {})

    def test_clusterRefusalLeavesNothing(self):
        """A cluster refusing the launch (its own capacity check) leaves no rows."""
        self.big.failures["runInstances"] = CloudError(
            "InsufficientInstanceCapacity", "Not enough resources available", 500)
        self.assertEqual(self.launchError().code, "InsufficientInstanceCapacity")
        self.assertEqual(helpers.instanceRows(self.cloud.db), {})
        self.assertNotIn("terminateInstances", [c[0] for c in self.big.calls])

    def test_lostReplyIsCleanedUp(self):
        """A launch whose reply is lost is undone: rows removed, cluster told to terminate."""
        self.big.failures["runInstances"] = CloudError("Unavailable", "connection lost", 503)
        self.assertEqual(self.launchError().code, "Unavailable")
        self.assertEqual(helpers.instanceRows(self.cloud.db), {})
        [terminate] = [c for c in self.big.calls if c[0] == "terminateInstances"]
        [run] = [c for c in self.big.calls if c[0] == "runInstances"]
        self.assertEqual(terminate[1][0], [s["instanceId"] for s in run[1][0]])

    def test_unreachableZonesAreSkipped(self):
        """An unreachable cluster is passed over for one that answers."""
        self.big.available = False
        reservation, _ = self.successResultOf(self.launch())
        self.assertEqual(reservation["cluster"], "small")

    def test_validationBeforeClusters(self):
        """Bad image, kernel, type or key fail before any cluster is asked."""
        cases = [({"imageId": "emi-0000beef"}, "InvalidAMIID.NotFound"),
                 ({"imageId": "ami-12"}, "InvalidAMIID.Malformed"),
                 ({"imageId": self.eki}, "InvalidAMIID.NotFound"),
                 ({"kernelId": self.eri}, "InvalidAMIID.NotFound"),
                 ({"ramdiskId": "eri-0000beef"}, "InvalidAMIID.NotFound"),
                 ({"vmType": "t9.huge"}, "InvalidParameterValue"),
                 ({"keyName": "mykey"}, "InvalidKeyPair.NotFound"),
                 ({"groups": ["web"]}, "InvalidGroup.NotFound")]
        for kwargs, code in cases:
            self.assertEqual(self.launchError(**kwargs).code, code, kwargs)
        self.assertEqual(self.big.calls + self.small.calls, [])
        self.assertEqual(helpers.instanceRows(self.cloud.db), {})

    def test_kernelOverride(self):
        """KernelId and RamdiskId replace the image's defaults."""
        from eucad.clc import imagestore
        other = self.cloud.db.transact(lambda s: imagestore.registerImage(
            s, "admin", "kernel", "/images/other")["id"])
        _, [record] = self.successResultOf(self.launch(kernelId=other))
        self.assertEqual(record["kernelId"], other)
        self.assertEqual(record["ramdiskId"], self.eri)

    def test_privateImageOfAnother(self):
        """A private image of another user cannot be launched."""
        emi, _, _ = helpers.registerImages(self.cloud.db, owner="bob", isPublic=False)
        self.assertEqual(self.launchError(imageId=emi).code, "InvalidAMIID.NotFound")


class TerminationTests(unittest.TestCase):

    def setUp(self):
        self.cluster = FakeCluster()
        self.cloud = helpers.makeCloud(self, {"zone1": self.cluster})
        emi, _, _ = helpers.registerImages(self.cloud.db)
        _, records = self.successResultOf(Launcher(self.cloud).launch(
            LaunchRequest("alice", False, emi, maxCount=2)))
        self.ids = [r["id"] for r in records]

    def test_terminate(self):
        """Terminating reports the previous and the current state and frees the cluster."""
        self.cluster.markRunning()
        results = self.successResultOf(termination.terminate(
            self.cloud, "alice", False, self.ids[:1]))
        self.assertEqual(results, [{"instanceId": self.ids[0], "previousState": "pending",
                                    "currentState": "terminated"}])
        self.assertEqual(self.cluster.instances[self.ids[0]]["state"], "terminated")
        self.assertEqual(self.cluster.instances[self.ids[1]]["state"], "running")

    def test_othersInstances(self):
        """Another user's instance is InvalidInstanceID.NotFound and stays untouched."""
        failure = self.failureResultOf(termination.terminate(
            self.cloud, "bob", False, self.ids), CloudError)
        self.assertEqual(failure.value.code, "InvalidInstanceID.NotFound")
        self.assertEqual({r["state"] for r in helpers.instanceRows(self.cloud.db).values()},
                         {"pending"})

    def test_adminMayTerminateAny(self):
        """The admin terminates any user's instances."""
        results = self.successResultOf(termination.terminate(
            self.cloud, "admin", True, self.ids))
        self.assertEqual([r["currentState"] for r in results], ["terminated"] * 2)

    def test_unreachableClusterKeepsIntent(self):
        """With the cluster down the instances stay shutting-down for the poller to finish."""
        self.cluster.available = False
        results = self.successResultOf(termination.terminate(
            self.cloud, "alice", False, self.ids))
        self.assertEqual([r["currentState"] for r in results], ["shutting-down"] * 2)

    def test_again(self):
        """Terminating a terminated instance reports terminated twice and asks nobody."""
        self.successResultOf(termination.terminate(self.cloud, "alice", False, self.ids))
        calls = len(self.cluster.calls)
        results = self.successResultOf(termination.terminate(
            self.cloud, "alice", False, self.ids))
        self.assertEqual({(r["previousState"], r["currentState"]) for r in results},
                         {("terminated", "terminated")})
        self.assertEqual(len(self.cluster.calls), calls)
