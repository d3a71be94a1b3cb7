"""RebootInstances and GetConsoleOutput over in-memory HTTP, parsed as boto3 parses them."""

import base64

from tests.clc.test_api import ApiTestCase


class RebootInstancesTests(ApiTestCase):

    def setUp(self):
        ApiTestCase.setUp(self)
        self.instanceId = self.run_(**{"Placement.AvailabilityZone": "zone1"})[
            "Instances"][0]["InstanceId"]
        self.zone1.markRunning()
        self.poll()

    def test_reboot(self):
        """The owner's running instance is rebooted by its cluster, once, and the answer is true."""
        answer = self.ec2.call("RebootInstances", **{"InstanceId.1": self.instanceId})
        self.assertEqual(answer["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(self.zone1.reboots, {self.instanceId: 1})
        self.assertEqual(self.zone2.reboots, {})
        described = self.ec2.call("DescribeInstances", **{"InstanceId.1": self.instanceId})
        self.assertEqual(described["Reservations"][0]["Instances"][0]["State"]["Name"],
                         "running")

    def test_rebootAcrossZones(self):
        """Instances in two zones are each rebooted by their own cluster."""
        other = self.run_(**{"Placement.AvailabilityZone": "zone2"})[
            "Instances"][0]["InstanceId"]
        self.zone2.markRunning()
        self.poll()
        self.ec2.call("RebootInstances", **{"InstanceId.1": self.instanceId,
                                            "InstanceId.2": other})
        self.assertEqual((self.zone1.reboots, self.zone2.reboots),
                         ({self.instanceId: 1}, {other: 1}))

    def test_othersInstance(self):
        """Another user's instance is InvalidInstanceID.NotFound, and nothing is rebooted."""
        theirs = self.run_(keys=self.bob, **{"Placement.AvailabilityZone": "zone1"})[
            "Instances"][0]["InstanceId"]
        self.zone1.markRunning()
        self.poll()
        status, code, _ = self.ec2.error("RebootInstances", **{
            "InstanceId.1": self.instanceId, "InstanceId.2": theirs})
        self.assertEqual((status, code), (400, "InvalidInstanceID.NotFound"))
        self.assertEqual(self.zone1.reboots, {})

    def test_unknownAndMalformed(self):
        """An unknown id is NotFound, a malformed one Malformed, none at all MissingParameter."""
        self.assertEqual(self.ec2.error("RebootInstances", **{
            "InstanceId.1": "i-00000000"})[:2], (400, "InvalidInstanceID.NotFound"))
        self.assertEqual(self.ec2.error("RebootInstances", **{
            "InstanceId.1": "nope"})[:2], (400, "InvalidInstanceID.Malformed"))
        self.assertEqual(self.ec2.error("RebootInstances")[:2], (400, "MissingParameter"))

    def test_terminated(self):
        """A terminated instance cannot be rebooted: IncorrectInstanceState."""
        self.ec2.call("TerminateInstances", **{"InstanceId.1": self.instanceId})
        status, code, _ = self.ec2.error("RebootInstances", **{
            "InstanceId.1": self.instanceId})
        self.assertEqual((status, code), (400, "IncorrectInstanceState"))
        self.assertEqual(self.zone1.reboots, {})


class GetConsoleOutputTests(ApiTestCase):

    def setUp(self):
        ApiTestCase.setUp(self)
        self.instanceId = self.run_(**{"Placement.AvailabilityZone": "zone1"})[
            "Instances"][0]["InstanceId"]
        self.zone1.markRunning()
        self.poll()

    def test_output(self):
        """The console's bytes come back as boto3 decodes them, with their timestamp."""
        self.cloud.clock.advance(10)
        self.zone1.writeConsole(self.instanceId, b"Linux version 6.1\nbooted \xe2\x9c\x93\n")
        answer = self.ec2.call("GetConsoleOutput", InstanceId=self.instanceId)
        self.assertEqual(answer["InstanceId"], self.instanceId)
        self.assertEqual(base64.b64decode(answer["Output"]),
                         b"Linux version 6.1\nbooted \xe2\x9c\x93\n")
        self.assertAlmostEqual(answer["Timestamp"].timestamp(), self.cloud.clock.seconds(),
                               places=2)

    def test_lastBytesOnly(self):
        """Only the last 64 KiB of a longer console are returned."""
        self.zone1.writeConsole(self.instanceId, b"a" * 70000 + b"END")
        output = base64.b64decode(
            self.ec2.call("GetConsoleOutput", InstanceId=self.instanceId)["Output"])
        self.assertEqual(len(output), 64 * 1024)
        self.assertTrue(output.endswith(b"aEND"))

    def test_othersInstance(self):
        """Another user's console is InvalidInstanceID.NotFound."""
        status, code, _ = self.ec2.error("GetConsoleOutput", self.bob,
                                         InstanceId=self.instanceId)
        self.assertEqual((status, code), (400, "InvalidInstanceID.NotFound"))

    def test_missingId(self):
        """Without InstanceId the answer is MissingParameter."""
        self.assertEqual(self.ec2.error("GetConsoleOutput")[:2], (400, "MissingParameter"))
