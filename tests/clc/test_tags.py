"""Tags, tag filters on the describes, DescribeInstanceTypes and ClientToken,
over in-memory HTTP, answers parsed as boto3 parses them."""

from lxml import etree

from tests.clc import helpers
from tests.clc.test_api import ApiTestCase


def tagParams(resourceIds, tags):
    params = {"ResourceId.%d" % (n,): r for n, r in enumerate(resourceIds, 1)}
    for n, (key, value) in enumerate(tags, 1):
        params["Tag.%d.Key" % (n,)] = key
        if value is not None:
            params["Tag.%d.Value" % (n,)] = value
    return params


class TagTests(ApiTestCase):

    def instanceIds(self, answer):
        return sorted(i["InstanceId"] for r in answer["Reservations"] for i in r["Instances"])

    def test_tagInstancesAndFilter(self):
        """Tags show as tagSet and select instances by tag:KEY, tag-key and tag-value."""
        web = self.run_()["Instances"][0]["InstanceId"]
        db = self.run_()["Instances"][0]["InstanceId"]
        self.ec2.call("CreateTags", **tagParams([web], [("role", "web"), ("env", "prod")]))
        self.ec2.call("CreateTags", **tagParams([db], [("role", "db")]))
        described = self.ec2.call("DescribeInstances", **{"InstanceId.1": web})
        tags = described["Reservations"][0]["Instances"][0]["Tags"]
        self.assertEqual(sorted((t["Key"], t["Value"]) for t in tags),
                         [("env", "prod"), ("role", "web")])
        for filters, expected in (
                ({"Filter.1.Name": "tag:role", "Filter.1.Value.1": "web"}, [web]),
                ({"Filter.1.Name": "tag:role", "Filter.1.Value.1": "*"}, sorted([web, db])),
                ({"Filter.1.Name": "tag-key", "Filter.1.Value.1": "env"}, [web]),
                ({"Filter.1.Name": "tag-value", "Filter.1.Value.1": "db"}, [db]),
                ({"Filter.1.Name": "tag:role", "Filter.1.Value.1": "web",
                  "Filter.2.Name": "tag:env", "Filter.2.Value.1": "test"}, [])):
            self.assertEqual(self.instanceIds(self.ec2.call("DescribeInstances", **filters)),
                             expected, filters)

    def test_describeAndDeleteTags(self):
        """DescribeTags lists and filters; DeleteTags by key, by key and value, or all."""
        instanceId = self.run_()["Instances"][0]["InstanceId"]
        group = self.ec2.call("CreateSecurityGroup", GroupName="web",
                              GroupDescription="w")["GroupId"]
        self.ec2.call("CreateTags", **tagParams([instanceId, group, self.emi],
                                                [("a", "1"), ("b", "2"), ("c", "")]))
        listed = self.ec2.call("DescribeTags")["Tags"]
        self.assertEqual(len(listed), 9)
        self.assertEqual({t["ResourceType"] for t in listed},
                         {"instance", "security-group", "image"})
        ofGroup = self.ec2.call("DescribeTags", **{
            "Filter.1.Name": "resource-id", "Filter.1.Value.1": group})["Tags"]
        self.assertEqual(sorted(t["Key"] for t in ofGroup), ["a", "b", "c"])
        self.ec2.call("DeleteTags", **tagParams([instanceId], [("a", None), ("b", "wrong")]))
        remaining = self.ec2.call("DescribeTags", **{
            "Filter.1.Name": "resource-id", "Filter.1.Value.1": instanceId})["Tags"]
        self.assertEqual(sorted(t["Key"] for t in remaining), ["b", "c"])
        self.ec2.call("DeleteTags", **tagParams([group], []))
        self.assertEqual(self.ec2.call("DescribeTags", **{
            "Filter.1.Name": "resource-type",
            "Filter.1.Value.1": "security-group"})["Tags"], [])
        groupTags = self.ec2.call("DescribeSecurityGroups", **{
            "Filter.1.Name": "tag-key", "Filter.1.Value.1": "a"})["SecurityGroups"]
        self.assertEqual(groupTags, [])
        images = self.ec2.call("DescribeImages", **{
            "Filter.1.Name": "tag:a", "Filter.1.Value.1": "1"})["Images"]
        self.assertEqual([i["ImageId"] for i in images], [self.emi])
        self.assertEqual(sorted(t["Key"] for t in images[0]["Tags"]), ["a", "b", "c"])
        self.assertEqual(self.ec2.call("DescribeImages", self.bob, **{
            "Filter.1.Name": "tag:a", "Filter.1.Value.1": "1"})["Images"], [])

    def test_badTags(self):
        """Reserved or oversized keys and unknown resources are refused."""
        instanceId = self.run_()["Instances"][0]["InstanceId"]
        for tags, expected in (([("aws:x", "1")], "InvalidParameterValue"),
                               ([("k" * 129, "1")], "InvalidParameterValue")):
            status, code, _ = self.ec2.error("CreateTags", **tagParams([instanceId], tags))
            self.assertEqual(code, expected)
        status, code, _ = self.ec2.error("CreateTags", **tagParams(["i-0badf00d"],
                                                                   [("a", "1")]))
        self.assertEqual(code, "InvalidInstanceID.NotFound")
        status, code, _ = self.ec2.error("CreateTags", **tagParams(["vol-12345678"],
                                                                   [("a", "1")]))
        self.assertEqual(code, "InvalidID")

    def test_tagLimit(self):
        """A resource carries at most 50 tags (TagLimitExceeded), all or none."""
        instanceId = self.run_()["Instances"][0]["InstanceId"]
        self.ec2.call("CreateTags", **tagParams([instanceId],
                                                [("k%d" % n, "v") for n in range(40)]))
        status, code, _ = self.ec2.error("CreateTags", **tagParams(
            [instanceId], [("x%d" % n, "v") for n in range(11)]))
        self.assertEqual(code, "TagLimitExceeded")
        self.assertEqual(len(self.ec2.call("DescribeTags")["Tags"]), 40)

    def test_unknownFilter(self):
        """A filter a describe does not know is InvalidParameterValue."""
        status, code, _ = self.ec2.error("DescribeInstances", **{
            "Filter.1.Name": "flavour", "Filter.1.Value.1": "x"})
        self.assertEqual(code, "InvalidParameterValue")


class InstanceFilterTests(ApiTestCase):

    def test_filtersClientsSend(self):
        """instance-state-name, private-ip-address, key-name, instance-type and
        availability-zone select instances as EC2 does."""
        from eucad.clc import sshkeys
        self.ec2.call("ImportKeyPair", KeyName="k",
                      PublicKeyMaterial=sshkeys.createKey(sshkeys.ED25519).publicLine)
        small = self.run_(KeyName="k")["Instances"][0]
        large = self.run_(InstanceType="m1.large",
                          **{"Placement.AvailabilityZone": "zone1"})["Instances"][0]

        def select(**filters):
            params = {}
            for n, (name, value) in enumerate(filters.items(), 1):
                params["Filter.%d.Name" % (n,)] = name.replace("_", "-")
                params["Filter.%d.Value.1" % (n,)] = value
            answer = self.ec2.call("DescribeInstances", **params)
            return [i["InstanceId"] for r in answer["Reservations"] for i in r["Instances"]]
        self.assertEqual(select(key_name="k"), [small["InstanceId"]])
        self.assertEqual(select(instance_type="m1.large"), [large["InstanceId"]])
        self.assertEqual(select(availability_zone="zone1"), [large["InstanceId"]])
        self.assertEqual(select(private_ip_address=small["PrivateIpAddress"]),
                         [small["InstanceId"]])
        self.assertEqual(len(select(instance_state_name="pending")), 2)
        self.assertEqual(select(instance_state_name="running"), [])


class InstanceTypeTests(ApiTestCase):

    def test_boto3Shape(self):
        """DescribeInstanceTypes answers the VM types in EC2's shape."""
        answer = self.ec2.call("DescribeInstanceTypes")["InstanceTypes"]
        small = [t for t in answer if t["InstanceType"] == "m1.small"][0]
        self.assertEqual((small["VCpuInfo"]["DefaultVCpus"],
                          small["MemoryInfo"]["SizeInMiB"],
                          small["InstanceStorageInfo"]["TotalSizeInGB"]), (1, 128, 10))
        self.assertEqual(len(answer), 5)
        one = self.ec2.call("DescribeInstanceTypes", **{"InstanceType.1": "c1.xlarge"})
        self.assertEqual([t["InstanceType"] for t in one["InstanceTypes"]], ["c1.xlarge"])
        status, code, _ = self.ec2.error("DescribeInstanceTypes",
                                         **{"InstanceType.1": "t2.nano"})
        self.assertEqual(code, "InvalidInstanceType")

    def test_eucalyptusShape(self):
        """The same answer carries Eucalyptus's instanceTypeDetails in its
        namespace, which libcloud's Eucalyptus driver reads."""
        status, body = self.ec2.raw("DescribeInstanceTypes")
        ns = {"e": "http://msgs.eucalyptus.com/3.3.0"}
        items = etree.fromstring(body).findall("e:instanceTypeDetails/e:item", ns)
        self.assertEqual([(i.findtext("e:name", namespaces=ns),
                           i.findtext("e:memory", namespaces=ns)) for i in items][0],
                         ("m1.small", "128"))


class ClientTokenTests(ApiTestCase):

    def test_idempotent(self):
        """A repeated ClientToken answers the first reservation; other parameters
        with it are IdempotentParameterMismatch; another user's token is theirs."""
        first = self.run_(ClientToken="tok-1", MaxCount="2")
        again = self.run_(ClientToken="tok-1", MaxCount="2")
        self.assertEqual(first["ReservationId"], again["ReservationId"])
        self.assertEqual(len(helpers.instanceRows(self.cloud.db)), 2)
        status, code, _ = self.ec2.error("RunInstances", ImageId=self.emi, MinCount="1",
                                         MaxCount="1", ClientToken="tok-1")
        self.assertEqual(code, "IdempotentParameterMismatch")
        other = self.run_(self.bob, ClientToken="tok-1", MaxCount="2")
        self.assertNotEqual(other["ReservationId"], first["ReservationId"])
