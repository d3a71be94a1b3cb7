"""The isolation matrix: every mutating and describing action of user B on
user A's resources is refused or answers nothing, and A's resources are
unchanged afterwards.

Add a row whenever an action is added: ``test_everyActionHasARow`` fails for
an action of the dispatch table that has none.
"""

from eucad.clc.addresspool import AddressPool
from eucad.clc.api.dispatch import ACTIONS
from eucad.clc.sshkeys import createKey

from tests.clc import helpers
from tests.clc.test_api import ApiTestCase

NOT_FOUND = {"InvalidInstanceID.NotFound", "InvalidKeyPair.NotFound",
             "InvalidGroup.NotFound", "InvalidAddress.NotFound", "InvalidAMIID.NotFound"}

#: Actions about no user's resources (the cloud's zones, regions, VM types),
#: or only about the caller's own new ones (creating in their own namespace).
NOT_ABOUT_OTHERS = {"DescribeAvailabilityZones", "DescribeRegions",
                    "DescribeInstanceTypes", "AllocateAddress", "CreateKeyPair",
                    "ImportKeyPair", "CreateSecurityGroup"}


def refused(*codes):
    return ("refused", set(codes) or NOT_FOUND)


#: What B getting nothing looks like: the answer's list (boto3 key) holds
#: nothing of A's (B's own instance, address and default group may be there).
def empty(key):
    return ("empty", key)


#: An action EC2 answers with success even for a name B does not have; what
#: counts is that A's resources are unchanged (checked at the end).
NO_EFFECT = ("noEffect", None)


def rows(a):
    """``[(action, params, expectation)]`` of B acting on A's resources ``a``."""
    instance, group, address = a["instance"], a["groupId"], a["publicIp"]
    return [
        ("DescribeInstances", {}, empty("Reservations")),
        ("DescribeInstances", {"InstanceId.1": instance}, refused()),
        ("DescribeInstances", {"Filter.1.Name": "instance-id",
                               "Filter.1.Value.1": instance}, empty("Reservations")),
        ("DescribeInstances", {"InstanceId.1": "verbose"}, empty("Reservations")),
        ("TerminateInstances", {"InstanceId.1": instance}, refused()),
        ("RebootInstances", {"InstanceId.1": instance}, refused()),
        ("GetConsoleOutput", {"InstanceId": instance}, refused()),
        ("RunInstances", {"ImageId": a["privateImage"], "MinCount": "1",
                          "MaxCount": "1"}, refused()),
        ("RunInstances", {"ImageId": a["publicImage"], "MinCount": "1", "MaxCount": "1",
                          "KeyName": "akey"}, refused()),
        ("RunInstances", {"ImageId": a["publicImage"], "MinCount": "1", "MaxCount": "1",
                          "SecurityGroupId.1": group}, refused()),
        ("RunInstances", {"ImageId": a["publicImage"], "MinCount": "1", "MaxCount": "1",
                          "SecurityGroup.1": "agroup"}, refused()),
        ("DescribeImages", {"ImageId.1": a["privateImage"]}, refused()),
        ("DescribeImages", {"Owner.1": "alice"}, empty("Images")),
        ("DeregisterImage", {"ImageId": a["privateImage"]}, refused()),
        ("DescribeImageAttribute", {"ImageId": a["privateImage"],
                                    "Attribute": "launchPermission"}, refused()),
        ("ModifyImageAttribute", {"ImageId": a["privateImage"],
                                  "LaunchPermission.Add.1.Group": "all"}, refused()),
        ("ResetImageAttribute", {"ImageId": a["privateImage"],
                                 "Attribute": "launchPermission"}, refused()),
        # Without Walrus here; reading another's manifest is refused in
        # tests.clc.test_images_register (InvalidManifest).
        ("RegisterImage", {"ImageLocation": "alice-images/x.manifest.xml"},
         refused("Unsupported", "InvalidManifest")),
        ("DescribeKeyPairs", {}, empty("KeyPairs")),
        ("DescribeKeyPairs", {"KeyName.1": "akey"}, refused()),
        ("DescribeKeyPairs", {"KeyName.1": "verbose"}, empty("KeyPairs")),
        ("DeleteKeyPair", {"KeyName": "akey"}, NO_EFFECT),
        ("DeleteKeyPair", {"KeyPairId": a["keyPairId"]}, NO_EFFECT),
        ("DescribeSecurityGroups", {}, empty("SecurityGroups")),
        ("DescribeSecurityGroups", {"GroupId.1": group}, refused()),
        ("DescribeSecurityGroups", {"GroupName.1": "agroup"}, refused()),
        ("DescribeSecurityGroups", {"GroupName.1": "verbose"}, empty("SecurityGroups")),
        ("DeleteSecurityGroup", {"GroupId": group}, refused()),
        ("DeleteSecurityGroup", {"GroupName": "agroup"}, refused()),
        ("AuthorizeSecurityGroupIngress", {"GroupId": group, "IpProtocol": "tcp",
                                           "FromPort": "1", "ToPort": "2",
                                           "CidrIp": "0.0.0.0/0"}, refused()),
        ("RevokeSecurityGroupIngress", {"GroupId": group, "IpProtocol": "tcp",
                                        "FromPort": "22", "ToPort": "22",
                                        "CidrIp": "10.0.0.0/8"}, refused()),
        ("AuthorizeSecurityGroupIngress", {
            "GroupName": "default", "IpPermissions.1.IpProtocol": "tcp",
            "IpPermissions.1.FromPort": "1", "IpPermissions.1.ToPort": "2",
            "IpPermissions.1.Groups.1.GroupId": group}, refused()),
        ("DescribeAddresses", {}, empty("Addresses")),
        ("DescribeAddresses", {"PublicIp.1": address}, refused()),
        ("DescribeAddresses", {"PublicIp.1": "verbose"}, empty("Addresses")),
        ("ReleaseAddress", {"PublicIp": address}, refused()),
        ("AssociateAddress", {"PublicIp": address, "InstanceId": a["bInstance"]},
         refused()),
        ("AssociateAddress", {"PublicIp": a["bAddress"], "InstanceId": instance},
         refused()),
        ("DisassociateAddress", {"PublicIp": address}, refused()),
        ("CreateTags", {"ResourceId.1": instance, "Tag.1.Key": "x"}, refused()),
        ("CreateTags", {"ResourceId.1": group, "Tag.1.Key": "x"}, refused()),
        ("CreateTags", {"ResourceId.1": a["privateImage"], "Tag.1.Key": "x"}, refused()),
        ("DeleteTags", {"ResourceId.1": instance}, refused()),
        ("DeleteTags", {"ResourceId.1": group, "Tag.1.Key": "role"}, refused()),
        ("DescribeTags", {}, empty("Tags")),
        ("DescribeTags", {"Filter.1.Name": "resource-id", "Filter.1.Value.1": instance},
         empty("Tags")),
    ]


class IsolationTests(ApiTestCase):

    def setUp(self):
        ApiTestCase.setUp(self)
        self.cloud.addressPool = AddressPool(["192.0.2.1", "192.0.2.2"], perUser=1)
        alice = self.alice
        privateImage, _, _ = helpers.registerImages(self.cloud.db, owner="alice",
                                                    isPublic=False)
        key = self.ec2.call("ImportKeyPair", alice, KeyName="akey",
                            PublicKeyMaterial=createKey().publicLine)
        groupId = self.ec2.call("CreateSecurityGroup", alice, GroupName="agroup",
                                GroupDescription="alice's")["GroupId"]
        self.ec2.call("AuthorizeSecurityGroupIngress", alice, GroupId=groupId,
                      IpProtocol="tcp", FromPort="22", ToPort="22", CidrIp="10.0.0.0/8")
        instance = self.run_(alice, KeyName="akey", **{"SecurityGroup.1": "agroup"})
        instanceId = instance["Instances"][0]["InstanceId"]
        publicIp = self.ec2.call("AllocateAddress", alice)["PublicIp"]
        self.ec2.call("AssociateAddress", alice, PublicIp=publicIp, InstanceId=instanceId)
        self.ec2.call("CreateTags", alice, **{
            "ResourceId.1": instanceId, "ResourceId.2": groupId,
            "ResourceId.3": privateImage, "Tag.1.Key": "role", "Tag.1.Value": "web"})
        bInstance = self.run_(self.bob)["Instances"][0]["InstanceId"]
        bAddress = self.ec2.call("AllocateAddress", self.bob)["PublicIp"]
        self.a = {"instance": instanceId, "groupId": groupId, "publicIp": publicIp,
                  "keyPairId": key["KeyPairId"], "privateImage": privateImage,
                  "publicImage": self.emi, "bInstance": bInstance, "bAddress": bAddress}

    def snapshot(self):
        """What A sees of their own resources."""
        answers = {}
        for action in ("DescribeInstances", "DescribeKeyPairs", "DescribeSecurityGroups",
                       "DescribeAddresses", "DescribeTags", "DescribeImages"):
            answer = self.ec2.call(action, self.alice)
            answer.pop("ResponseMetadata")
            answers[action] = answer
        return answers

    def isAlices(self, key, item):
        """Whether an item of a describe answer is one of A's resources."""
        if key in ("Reservations", "SecurityGroups"):
            return item["OwnerId"] != "bob"
        if key == "Addresses":
            return item["PublicIp"] != self.a["bAddress"]
        if key == "Images":
            return item["ImageId"] == self.a["privateImage"]
        return True

    def test_matrix(self):
        """Each of B's actions on A's resources is refused or answers nothing,
        and A's resources are as they were."""
        before = self.snapshot()
        self.assertEqual(len(before["DescribeInstances"]["Reservations"]), 1)
        self.assertEqual(len(before["DescribeTags"]["Tags"]), 3)
        for action, params, (kind, detail) in rows(self.a):
            status, body = self.ec2.raw(action, self.bob, **params)
            answer = helpers.parseAnswer(action, status, body)
            where = "%s %r" % (action, params)
            if kind == "refused":
                self.assertNotEqual(status, 200, where)
                self.assertIn(answer["Error"]["Code"], detail, where)
            elif kind == "empty":
                self.assertEqual(status, 200, where)
                self.assertEqual([item for item in answer[detail]
                                  if self.isAlices(detail, item)], [], where)
            else:
                self.assertEqual(status, 200, where)
        self.assertEqual(self.snapshot(), before)

    def test_everyActionHasARow(self):
        """Every dispatched action is in the matrix or said to be about no one else."""
        covered = {action for action, _, _ in rows(self.a)} | NOT_ABOUT_OTHERS
        self.assertEqual(sorted(set(ACTIONS) - covered), [])

    def test_adminSeesAllWithVerbose(self):
        """The admin sees A's instance, key pair and group with verbose."""
        admin = self.admin
        instances = self.ec2.call("DescribeInstances", admin, **{"InstanceId.1": "verbose"})
        self.assertIn(self.a["instance"], [i["InstanceId"] for r in instances["Reservations"]
                                           for i in r["Instances"]])
        keys = self.ec2.call("DescribeKeyPairs", admin, **{"KeyName.1": "verbose"})
        self.assertEqual([k["KeyName"] for k in keys["KeyPairs"]], ["akey"])
        groups = self.ec2.call("DescribeSecurityGroups", admin,
                               **{"GroupName.1": "verbose"})
        self.assertIn(self.a["groupId"], [g["GroupId"] for g in groups["SecurityGroups"]])
