"""Each EC2 operation over in-memory HTTP, its answer parsed as boto3 parses it."""

import base64
import datetime

from lxml import etree
from twisted.internet import task
from twisted.trial import unittest

from eucad.clc.poller import ClusterPoller
from eucad.testing.fakecluster import FakeCluster

from tests.clc import helpers

NODE = {"host": "n1", "cpu": 4, "ram": 2048, "disk": 100}


class ApiTestCase(unittest.TestCase):

    def setUp(self):
        self.zone1 = FakeCluster(nodes=[NODE])
        self.zone2 = FakeCluster(nodes=[NODE, dict(NODE, host="n2")], subnet="10.2.0")
        self.cloud = helpers.makeCloud(self, {"zone1": self.zone1, "zone2": self.zone2})
        self.zone1.clock = self.zone2.clock = self.cloud.clock
        self.alice = helpers.addUser(self.cloud.db, "alice")
        self.bob = helpers.addUser(self.cloud.db, "bob")
        self.admin = helpers.addUser(self.cloud.db, "admin", isAdmin=True)
        self.emi, self.eki, self.eri = helpers.registerImages(self.cloud.db)
        self.ec2 = helpers.StubEc2(self, self.cloud, self.alice)

    def run_(self, keys=None, **params):
        params.setdefault("ImageId", self.emi)
        params.setdefault("MinCount", "1")
        params.setdefault("MaxCount", "1")
        return self.ec2.call("RunInstances", keys, **params)

    def poll(self):
        self.cloud.clock.advance(1)
        self.successResultOf(ClusterPoller(self.cloud).pollOnce())


class ErrorTests(ApiTestCase):

    def test_unknownAction(self):
        """An unknown Action is InvalidAction (400)."""
        status, body = self.ec2.raw("FlyToTheMoon")
        error = helpers.parseAnswer("DescribeRegions", status, body)["Error"]
        self.assertEqual((status, error["Code"]), (400, "InvalidAction"))

    def test_missingAction(self):
        """A request without Action is MissingAction (400)."""
        url, headers, body = helpers.signV4(self.alice, {"Version": "2016-11-15"})
        status, answer = self.ec2.send(url, headers, body)
        root = etree.fromstring(answer)
        self.assertEqual((status, root.findtext("Errors/Error/Code")),
                         (400, "MissingAction"))
        self.assertTrue(root.findtext("RequestID"))

    def test_noSuchVersion(self):
        """A Version outside 2008-12-01..2016-11-15 is NoSuchVersion."""
        status, code, _ = self.ec2.error("DescribeRegions", Version="2030-01-01")
        self.assertEqual((status, code), (400, "NoSuchVersion"))

    def test_namespaceFollowsVersion(self):
        """The answer's namespace is that of the request's Version."""
        status, body = self.ec2.raw("DescribeRegions", Version="2009-04-04")
        self.assertEqual(status, 200)
        self.assertEqual(etree.fromstring(body).tag,
                         "{http://ec2.amazonaws.com/doc/2009-04-04/}DescribeRegionsResponse")

    def test_dryRun(self):
        """DryRun=true answers DryRunOperation (412) and does nothing."""
        status, code, _ = self.ec2.error("RunInstances", ImageId=self.emi, MinCount="1",
                                         MaxCount="1", DryRun="true")
        self.assertEqual((status, code), (412, "DryRunOperation"))
        self.assertEqual(helpers.instanceRows(self.cloud.db), {})

    def test_requestIdsDiffer(self):
        """Every answer carries its own requestId."""
        first = self.ec2.call("DescribeRegions")["ResponseMetadata"]["RequestId"]
        second = self.ec2.call("DescribeRegions")["ResponseMetadata"]["RequestId"]
        self.assertNotEqual(first, second)


class RunInstancesTests(ApiTestCase):

    def test_reservation(self):
        """RunInstances answers a reservation of pending instances boto3 can read."""
        answer = self.run_(InstanceType="m1.large", MaxCount="2")
        self.assertRegex(answer["ReservationId"], r"^r-[0-9a-f]{8}$")
        self.assertEqual(answer["OwnerId"], "alice")
        [group] = answer["Groups"]
        self.assertEqual(group["GroupName"], "default")
        self.assertRegex(group["GroupId"], r"^sg-[0-9a-f]{8}$")
        self.assertEqual(len(answer["Instances"]), 2)
        first = answer["Instances"][0]
        self.assertRegex(first["InstanceId"], r"^i-[0-9a-f]{8}$")
        self.assertEqual(first["State"], {"Code": 0, "Name": "pending"})
        self.assertEqual(first["ImageId"], self.emi)
        self.assertEqual(first["KernelId"], self.eki)
        self.assertEqual(first["RamdiskId"], self.eri)
        self.assertEqual(first["InstanceType"], "m1.large")
        self.assertEqual(first["Placement"]["AvailabilityZone"], "zone2")
        self.assertEqual([i["AmiLaunchIndex"] for i in answer["Instances"]], [0, 1])
        self.assertIsInstance(first["LaunchTime"], datetime.datetime)
        self.assertTrue(first["PrivateIpAddress"].startswith("10.2.0."))

    def test_defaultType(self):
        """Without InstanceType the instance is an m1.small."""
        self.assertEqual(self.run_()["Instances"][0]["InstanceType"], "m1.small")

    def test_placement(self):
        """Placement.AvailabilityZone picks the zone."""
        answer = self.run_(**{"Placement.AvailabilityZone": "zone1"})
        self.assertEqual(answer["Instances"][0]["Placement"]["AvailabilityZone"], "zone1")

    def test_userDataReachesCluster(self):
        """UserData is checked as base64 and passed to the cluster as given."""
        data = base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
        self.run_(UserData=data)
        [call] = [c for c in self.zone2.calls if c[0] == "runInstances"]
        self.assertEqual(call[1][0][0]["userData"], data)

    def test_badUserData(self):
        """UserData that is not base64 is InvalidParameterValue."""
        status, code, _ = self.ec2.error("RunInstances", ImageId=self.emi, MinCount="1",
                                         MaxCount="1", UserData="not base64!")
        self.assertEqual((status, code), (400, "InvalidParameterValue"))

    def test_missingImage(self):
        """Without ImageId the answer is MissingParameter."""
        status, code, message = self.ec2.error("RunInstances", MinCount="1", MaxCount="1")
        self.assertEqual((status, code), (400, "MissingParameter"))
        self.assertIn("ImageId", message)

    def test_unknownImage(self):
        """An unregistered image is InvalidAMIID.NotFound."""
        status, code, _ = self.ec2.error("RunInstances", ImageId="emi-0badf00d",
                                         MinCount="1", MaxCount="1")
        self.assertEqual((status, code), (400, "InvalidAMIID.NotFound"))

    def test_keyName(self):
        """A KeyName the user has no key pair of is InvalidKeyPair.NotFound."""
        status, code, _ = self.ec2.error("RunInstances", ImageId=self.emi, MinCount="1",
                                         MaxCount="1", KeyName="mykey")
        self.assertEqual((status, code), (400, "InvalidKeyPair.NotFound"))

    def test_counts(self):
        """MinCount above MaxCount, or not a number, is InvalidParameterValue."""
        for counts in ({"MinCount": "3", "MaxCount": "2"}, {"MinCount": "x"}):
            params = dict({"ImageId": self.emi, "MinCount": "1", "MaxCount": "1"},
                          **counts)
            status, code, _ = self.ec2.error("RunInstances", **params)
            self.assertEqual((status, code), (400, "InvalidParameterValue"), counts)

    def test_insufficientCapacity(self):
        """More than any zone holds is InsufficientInstanceCapacity with status 500."""
        status, code, message = self.ec2.error(
            "RunInstances", ImageId=self.emi, MinCount="9", MaxCount="9",
            InstanceType="c1.xlarge")
        self.assertEqual((status, code, message), (500, "InsufficientInstanceCapacity",
                                                   "Not enough resources available"))
        self.assertEqual(helpers.instanceRows(self.cloud.db), {})


class DescribeInstancesTests(ApiTestCase):

    def setUp(self):
        ApiTestCase.setUp(self)
        self.mine = self.run_(MaxCount="2")
        self.bobs = self.run_(keys=self.bob)
        self.adminsOwn = self.run_(keys=self.admin)

    def ids(self, answer):
        return sorted(i["InstanceId"] for r in answer["Reservations"] for i in r["Instances"])

    def idsOf(self, *reservations):
        return sorted(i["InstanceId"] for r in reservations for i in r["Instances"])

    def test_ownOnly(self):
        """A user sees only their own instances, grouped by reservation."""
        answer = self.ec2.call("DescribeInstances")
        self.assertEqual(len(answer["Reservations"]), 1)
        self.assertEqual(answer["Reservations"][0]["ReservationId"],
                         self.mine["ReservationId"])
        self.assertEqual(self.ids(answer), self.idsOf(self.mine))

    def test_adminOwnUnlessVerbose(self):
        """The admin sees their own instances, and everybody's with 'verbose'."""
        self.assertEqual(self.ids(self.ec2.call("DescribeInstances", self.admin)),
                         self.idsOf(self.adminsOwn))
        everything = self.ec2.call("DescribeInstances", self.admin,
                                   **{"InstanceId.1": "verbose"})
        self.assertEqual(self.ids(everything),
                         self.idsOf(self.mine, self.bobs, self.adminsOwn))

    def test_byId(self):
        """InstanceId.N selects instances."""
        wanted = self.mine["Instances"][1]["InstanceId"]
        answer = self.ec2.call("DescribeInstances", **{"InstanceId.1": wanted})
        self.assertEqual(self.ids(answer), [wanted])

    def test_othersIdNotFound(self):
        """Naming another user's instance is InvalidInstanceID.NotFound."""
        theirs = self.bobs["Instances"][0]["InstanceId"]
        status, code, _ = self.ec2.error("DescribeInstances", **{"InstanceId.1": theirs})
        self.assertEqual((status, code), (400, "InvalidInstanceID.NotFound"))

    def test_malformedId(self):
        """An id that is not i-XXXXXXXX is InvalidInstanceID.Malformed."""
        status, code, _ = self.ec2.error("DescribeInstances", **{"InstanceId.1": "x-1"})
        self.assertEqual((status, code), (400, "InvalidInstanceID.Malformed"))

    def test_runningAfterPoll(self):
        """Once the cluster booted them and the poller ran, they are running (16)."""
        self.zone1.markRunning()
        self.zone2.markRunning()
        self.poll()
        answer = self.ec2.call("DescribeInstances")
        states = {i["State"]["Code"]: i["State"]["Name"]
                  for r in answer["Reservations"] for i in r["Instances"]}
        self.assertEqual(states, {16: "running"})
        instance = answer["Reservations"][0]["Instances"][0]
        self.assertEqual(instance["PublicIpAddress"], instance["PublicDnsName"])

    def test_stateFilter(self):
        """Filter instance-state-name keeps only instances in those states."""
        first = self.mine["Instances"][0]["InstanceId"]
        self.ec2.call("TerminateInstances", **{"InstanceId.1": first})
        answer = self.ec2.call("DescribeInstances", **{
            "Filter.1.Name": "instance-state-name", "Filter.1.Value.1": "terminated"})
        self.assertEqual(self.ids(answer), [first])
        status, code, _ = self.ec2.error("DescribeInstances", **{
            "Filter.1.Name": "no-such-filter", "Filter.1.Value.1": "x"})
        self.assertEqual((status, code), (400, "InvalidParameterValue"))


class TerminateInstancesTests(ApiTestCase):

    def test_states(self):
        """TerminateInstances reports the previous and current state of each."""
        instanceId = self.run_()["Instances"][0]["InstanceId"]
        self.zone2.markRunning()
        self.poll()
        answer = self.ec2.call("TerminateInstances", **{"InstanceId.1": instanceId})
        self.assertEqual(answer["TerminatingInstances"], [{
            "InstanceId": instanceId, "CurrentState": {"Code": 48, "Name": "terminated"},
            "PreviousState": {"Code": 16, "Name": "running"}}])

    def test_missingIds(self):
        """Without InstanceId.N the answer is MissingParameter."""
        status, code, _ = self.ec2.error("TerminateInstances")
        self.assertEqual((status, code), (400, "MissingParameter"))

    def test_othersInstance(self):
        """Another user's instance is InvalidInstanceID.NotFound."""
        theirs = self.run_(keys=self.bob)["Instances"][0]["InstanceId"]
        status, code, _ = self.ec2.error("TerminateInstances", **{"InstanceId.1": theirs})
        self.assertEqual((status, code), (400, "InvalidInstanceID.NotFound"))


class ZonesAndRegionsTests(ApiTestCase):

    def test_zones(self):
        """One available zone per cluster, in CLUSTERS order, in region eucalyptus."""
        answer = self.ec2.call("DescribeAvailabilityZones")
        self.assertEqual([(z["ZoneName"], z["State"], z["RegionName"])
                          for z in answer["AvailabilityZones"]],
                         [("zone1", "available", "eucalyptus"),
                          ("zone2", "available", "eucalyptus")])

    def test_unavailable(self):
        """A cluster that does not answer is listed as unavailable."""
        self.zone2.available = False
        answer = self.ec2.call("DescribeAvailabilityZones", **{"ZoneName.1": "zone2"})
        self.assertEqual([(z["ZoneName"], z["State"]) for z in answer["AvailabilityZones"]],
                         [("zone2", "unavailable")])

    def test_unknownZone(self):
        """Naming a zone that does not exist is InvalidParameterValue."""
        status, code, _ = self.ec2.error("DescribeAvailabilityZones",
                                         **{"ZoneName.1": "zone9"})
        self.assertEqual((status, code), (400, "InvalidParameterValue"))

    def test_verbose(self):
        """'verbose' from the admin lists free/max per VM type and each node."""
        self.run_(InstanceType="m1.large", **{"Placement.AvailabilityZone": "zone1"})
        answer = self.ec2.call("DescribeAvailabilityZones", self.admin,
                               **{"ZoneName.1": "verbose"})
        rows = [(z["ZoneName"], z["State"]) for z in answer["AvailabilityZones"]]
        zone1 = rows[:rows.index(("zone2", "zone2"))]
        self.assertEqual(zone1[0], ("zone1", "zone1"))
        self.assertEqual(zone1[1], ("|- vm types", "free / max   cpu   ram  disk"))
        self.assertEqual(zone1[2], ("|- m1.small", "0002 / 0004    1   128    10"))
        self.assertEqual(zone1[4], ("|- m1.large", "0001 / 0002    2   512    10"))
        # The clusters' own clock says when each node was last reached.
        self.zone1.clock = self.zone2.clock = task.Clock()
        self.zone1.clock.advance(1230768000)
        answer = self.ec2.call("DescribeAvailabilityZones", self.admin,
                               **{"ZoneName.1": "verbose"})
        rows = [(z["ZoneName"], z["State"]) for z in answer["AvailabilityZones"]]
        self.assertEqual(rows[7], ("|- n1", "certs[cc=true,nc=true] @ "
                                   "Thu Jan 01 00:00:00 UTC 2009"))
        self.assertEqual(len(rows), 8 + 9, "one row per node after the VM types")
        self.assertEqual(rows[-2:], [
            ("|- n1", "certs[cc=true,nc=true] @ Thu Jan 01 00:00:00 UTC 2009"),
            ("|- n2", "certs[cc=true,nc=true] @ Thu Jan 01 00:00:00 UTC 2009")])

    def test_verboseNodeRowsSayWhatIsWrong(self):
        """A refused certificate reads false, and a down node shows its state after
        the last contact (or 'never')."""
        self.zone1.nodes[0]["ncCertOk"] = False
        self.zone1.setNodeState("n1", "down")
        answer = self.ec2.call("DescribeAvailabilityZones", self.admin,
                               **{"ZoneName.1": "zone1", "ZoneName.2": "verbose"})
        rows = [(z["ZoneName"], z["State"]) for z in answer["AvailabilityZones"]]
        self.assertEqual(rows[-1], ("|- n1", "certs[cc=true,nc=false] @ never down"))

    def test_verboseShowsASleepingNodeAsleep(self):
        """A node POWERSAVE put to sleep reads 'asleep' after its last contact, not 'down'."""
        self.zone1.setNodeState("n1", "asleep")
        answer = self.ec2.call("DescribeAvailabilityZones", self.admin,
                               **{"ZoneName.1": "zone1", "ZoneName.2": "verbose"})
        rows = [(z["ZoneName"], z["State"]) for z in answer["AvailabilityZones"]]
        self.assertEqual(rows[-1], ("|- n1", "certs[cc=true,nc=true] @ never asleep"))

    def test_verboseNamesPortsOnlyOfSharedHosts(self):
        """Two NCs on one host are told apart by their ports; lone hosts are bare."""
        self.zone2.nodes[1]["host"] = "n1"
        self.zone2.nodes[1]["port"] = 8785
        answer = self.ec2.call("DescribeAvailabilityZones", self.admin,
                               **{"ZoneName.1": "zone2", "ZoneName.2": "verbose"})
        names = [z["ZoneName"] for z in answer["AvailabilityZones"]][-2:]
        self.assertEqual(names, ["|- n1:8775", "|- n1:8785"])

    def test_verboseOnlyForAdmin(self):
        """A user asking 'verbose' gets the plain zone list."""
        answer = self.ec2.call("DescribeAvailabilityZones", **{"ZoneName.1": "verbose"})
        self.assertEqual([z["ZoneName"] for z in answer["AvailabilityZones"]],
                         ["zone1", "zone2"])

    def test_regions(self):
        """DescribeRegions lists the one region with the EC2 endpoint."""
        answer = self.ec2.call("DescribeRegions")
        self.assertEqual(answer["Regions"], [{"RegionName": "eucalyptus",
                                              "Endpoint": helpers.ENDPOINT}])
        status, code, _ = self.ec2.error("DescribeRegions", **{"RegionName.1": "mars"})
        self.assertEqual((status, code), (400, "InvalidParameterValue"))


class DescribeImagesTests(ApiTestCase):

    def test_all(self):
        """DescribeImages lists kernel, ramdisk and machine image with their fields."""
        images = {i["ImageId"]: i for i in self.ec2.call("DescribeImages")["Images"]}
        self.assertEqual(set(images), {self.emi, self.eki, self.eri})
        machine = images[self.emi]
        self.assertEqual((machine["ImageType"], machine["State"], machine["Public"],
                          machine["KernelId"], machine["RamdiskId"],
                          machine["ImageLocation"], machine["OwnerId"]),
                         ("machine", "available", True, self.eki, self.eri,
                          "/images/root.img", "admin"))
        self.assertEqual(images[self.eki]["ImageType"], "kernel")

    def test_byIdAndNotFound(self):
        """ImageId.N selects images; an unknown one is InvalidAMIID.NotFound."""
        answer = self.ec2.call("DescribeImages", **{"ImageId.1": self.eki})
        self.assertEqual([i["ImageId"] for i in answer["Images"]], [self.eki])
        status, code, _ = self.ec2.error("DescribeImages", **{"ImageId.1": "emi-00000000"})
        self.assertEqual((status, code), (400, "InvalidAMIID.NotFound"))

    def test_privateImages(self):
        """A private image shows to its owner and the admin, not to others."""
        emi, _, _ = helpers.registerImages(self.cloud.db, owner="bob", isPublic=False)
        seen = lambda keys: {i["ImageId"] for i in self.ec2.call("DescribeImages", keys)[
            "Images"]}
        self.assertNotIn(emi, seen(self.alice))
        self.assertIn(emi, seen(self.bob))
        self.assertIn(emi, seen(self.admin))

    def test_ownerSelfAndFilter(self):
        """Owner=self keeps the caller's images; Filter image-type narrows by kind."""
        emi, _, _ = helpers.registerImages(self.cloud.db, owner="bob", isPublic=False)
        mine = self.ec2.call("DescribeImages", self.bob, **{"Owner.1": "self"})
        self.assertIn(emi, [i["ImageId"] for i in mine["Images"]])
        self.assertNotIn(self.emi, [i["ImageId"] for i in mine["Images"]])
        kernels = self.ec2.call("DescribeImages", **{"Filter.1.Name": "image-type",
                                                     "Filter.1.Value.1": "kernel"})
        self.assertEqual({i["ImageType"] for i in kernels["Images"]}, {"kernel"})
