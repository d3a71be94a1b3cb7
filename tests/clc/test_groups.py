"""Security groups over in-memory HTTP, answers parsed as boto3 parses them."""

from tests.clc.test_api import ApiTestCase


class GroupTests(ApiTestCase):

    def setUp(self):
        ApiTestCase.setUp(self)
        self.changes = []
        # Launches publish InstancesPlaced too; these tests hear the rest.
        self.cloud.networkChanges.subscribe(
            lambda change: change.kind != "placed" and self.changes.append(change))

    def groups(self, keys=None, **params):
        answer = self.ec2.call("DescribeSecurityGroups", keys, **params)
        return {g["GroupName"]: g for g in answer["SecurityGroups"]}

    def test_defaultOnFirstUse(self):
        """Every user has a default group with an sg- id, made on first use."""
        groups = self.groups()
        self.assertEqual(list(groups), ["default"])
        self.assertRegex(groups["default"]["GroupId"], r"^sg-[0-9a-f]{8}$")
        self.assertEqual(groups["default"]["OwnerId"], "alice")
        self.assertEqual(list(self.groups(self.bob)), ["default"])
        self.assertNotEqual(self.groups(self.bob)["default"]["GroupId"],
                            groups["default"]["GroupId"])

    def test_createDescribeDelete(self):
        """A created group is listed by name, by id and by filter, then deleted
        with its tags."""
        created = self.ec2.call("CreateSecurityGroup", GroupName="web",
                                GroupDescription="web servers")
        groupId = created["GroupId"]
        byName = self.ec2.call("DescribeSecurityGroups", **{"GroupName.1": "web"})
        self.assertEqual([g["GroupId"] for g in byName["SecurityGroups"]], [groupId])
        byId = self.ec2.call("DescribeSecurityGroups", **{"GroupId.1": groupId})
        self.assertEqual(byId["SecurityGroups"][0]["Description"], "web servers")
        byFilter = self.ec2.call("DescribeSecurityGroups", **{
            "Filter.1.Name": "description", "Filter.1.Value.1": "web*"})
        self.assertEqual([g["GroupName"] for g in byFilter["SecurityGroups"]], ["web"])
        status, code, _ = self.ec2.error("CreateSecurityGroup", GroupName="web",
                                         GroupDescription="again")
        self.assertEqual(code, "InvalidGroup.Duplicate")
        self.ec2.call("CreateTags", **{"ResourceId.1": groupId, "Tag.1.Key": "k"})
        self.ec2.call("DeleteSecurityGroup", GroupId=groupId)
        self.assertEqual(list(self.groups()), ["default"])
        self.assertEqual(self.ec2.call("DescribeTags")["Tags"], [])
        status, code, _ = self.ec2.error("DeleteSecurityGroup", GroupName="web")
        self.assertEqual(code, "InvalidGroup.NotFound")
        status, code, _ = self.ec2.error("DeleteSecurityGroup", GroupName="default")
        self.assertEqual(code, "CannotDelete")
        self.assertEqual([(c.groupName, c.deleted) for c in self.changes],
                         [("web", False), ("web", True)])

    def test_oldFormRules(self):
        """IpProtocol/FromPort/ToPort/CidrIp and SourceSecurityGroupName (2009
        clients) add rules; a repeat is Duplicate; revoke removes them."""
        self.ec2.call("CreateSecurityGroup", GroupName="web", GroupDescription="w")
        self.ec2.call("AuthorizeSecurityGroupIngress", Version="2009-04-04",
                      GroupName="web", IpProtocol="tcp", FromPort="22", ToPort="22",
                      CidrIp="10.0.0.0/8")
        self.ec2.call("AuthorizeSecurityGroupIngress", Version="2009-04-04",
                      GroupName="web", SourceSecurityGroupName="default",
                      SourceSecurityGroupOwnerId="alice")
        permissions = self.groups()["web"]["IpPermissions"]
        ssh = [p for p in permissions if p["IpProtocol"] == "tcp" and p["FromPort"] == 22]
        self.assertEqual(ssh[0]["IpRanges"], [{"CidrIp": "10.0.0.0/8"}])
        fromGroup = [p for p in permissions if p["UserIdGroupPairs"]]
        self.assertEqual(sorted(p["IpProtocol"] for p in fromGroup), ["icmp", "tcp", "udp"])
        self.assertEqual(fromGroup[0]["UserIdGroupPairs"][0]["GroupName"], "default")
        self.assertEqual(fromGroup[0]["UserIdGroupPairs"][0]["GroupId"],
                         self.groups()["default"]["GroupId"])
        status, code, _ = self.ec2.error(
            "AuthorizeSecurityGroupIngress", GroupName="web", IpProtocol="tcp",
            FromPort="22", ToPort="22", CidrIp="10.0.0.0/8")
        self.assertEqual(code, "InvalidPermission.Duplicate")
        self.ec2.call("RevokeSecurityGroupIngress", GroupName="web", IpProtocol="tcp",
                      FromPort="22", ToPort="22", CidrIp="10.0.0.0/8")
        status, code, _ = self.ec2.error(
            "RevokeSecurityGroupIngress", GroupName="web", IpProtocol="tcp",
            FromPort="22", ToPort="22", CidrIp="10.0.0.0/8")
        self.assertEqual(code, "InvalidPermission.NotFound")

    def test_ipPermissionsForm(self):
        """IpPermissions.N with ranges, groups by id, icmp type/code and -1."""
        web = self.ec2.call("CreateSecurityGroup", GroupName="web",
                            GroupDescription="w")["GroupId"]
        default = self.groups()["default"]["GroupId"]
        self.ec2.call("AuthorizeSecurityGroupIngress", GroupId=web, **{
            "IpPermissions.1.IpProtocol": "tcp", "IpPermissions.1.FromPort": "80",
            "IpPermissions.1.ToPort": "443",
            "IpPermissions.1.IpRanges.1.CidrIp": "0.0.0.0/0",
            "IpPermissions.1.IpRanges.2.CidrIp": "192.0.2.0/24",
            "IpPermissions.2.IpProtocol": "icmp", "IpPermissions.2.FromPort": "8",
            "IpPermissions.2.ToPort": "-1",
            "IpPermissions.2.IpRanges.1.CidrIp": "0.0.0.0/0",
            "IpPermissions.3.IpProtocol": "-1",
            "IpPermissions.3.Groups.1.GroupId": default})
        permissions = {p["IpProtocol"]: p for p in self.groups()["web"]["IpPermissions"]}
        self.assertEqual(sorted(r["CidrIp"] for r in permissions["tcp"]["IpRanges"]),
                         ["0.0.0.0/0", "192.0.2.0/24"])
        self.assertEqual((permissions["tcp"]["FromPort"], permissions["tcp"]["ToPort"]),
                         (80, 443))
        self.assertEqual((permissions["icmp"]["FromPort"], permissions["icmp"]["ToPort"]),
                         (8, -1))
        self.assertEqual(permissions["-1"]["UserIdGroupPairs"][0]["GroupId"], default)
        last = self.changes[-1]
        self.assertEqual((last.owner, last.groupName, len(last.rules)), ("alice", "web", 4))
        found = self.ec2.call("DescribeSecurityGroups", **{
            "Filter.1.Name": "ip-permission.from-port", "Filter.1.Value.1": "80"})
        self.assertEqual([g["GroupName"] for g in found["SecurityGroups"]], ["web"])

    def test_badRules(self):
        """Unknown protocols, ports out of range or reversed, bad CIDRs are refused
        and add nothing."""
        self.ec2.call("CreateSecurityGroup", GroupName="web", GroupDescription="w")
        for rule in ({"IpProtocol": "gre", "FromPort": "1", "ToPort": "2"},
                     {"IpProtocol": "tcp", "FromPort": "80", "ToPort": "70"},
                     {"IpProtocol": "tcp", "FromPort": "0", "ToPort": "70000"},
                     {"IpProtocol": "tcp", "FromPort": "22", "ToPort": "22",
                      "CidrIp": "10.0.0.300/8"}):
            status, code, _ = self.ec2.error("AuthorizeSecurityGroupIngress",
                                             GroupName="web", **rule)
            self.assertEqual((status, code), (400, "InvalidParameterValue"), rule)
        self.assertEqual(self.groups()["web"]["IpPermissions"], [])

    def test_launchInGroups(self):
        """RunInstances takes SecurityGroup.N names and SecurityGroupId.N ids; an
        unknown group is InvalidGroup.NotFound; a used group cannot be deleted."""
        web = self.ec2.call("CreateSecurityGroup", GroupName="web",
                            GroupDescription="w")["GroupId"]
        answer = self.run_(**{"SecurityGroupId.1": web})
        self.assertEqual([(g["GroupName"], g["GroupId"]) for g in answer["Groups"]],
                         [("web", web)])
        status, code, _ = self.ec2.error("RunInstances", ImageId=self.emi, MinCount="1",
                                         MaxCount="1", **{"SecurityGroup.1": "nope"})
        self.assertEqual(code, "InvalidGroup.NotFound")
        status, code, _ = self.ec2.error("DeleteSecurityGroup", GroupName="web")
        self.assertEqual(code, "InvalidGroup.InUse")
        instanceId = answer["Instances"][0]["InstanceId"]
        found = self.ec2.call("DescribeInstances", **{
            "Filter.1.Name": "group-name", "Filter.1.Value.1": "web"})
        self.assertEqual([i["InstanceId"] for r in found["Reservations"]
                          for i in r["Instances"]], [instanceId])
        self.ec2.call("TerminateInstances", **{"InstanceId.1": instanceId})
        self.poll()
        self.ec2.call("DeleteSecurityGroup", GroupName="web")

    def test_sourceGroupInUse(self):
        """A group another group's rule names is not deleted (DependencyViolation)."""
        self.ec2.call("CreateSecurityGroup", GroupName="db", GroupDescription="d")
        self.ec2.call("CreateSecurityGroup", GroupName="web", GroupDescription="w")
        self.ec2.call("AuthorizeSecurityGroupIngress", GroupName="db", **{
            "IpPermissions.1.IpProtocol": "tcp", "IpPermissions.1.FromPort": "5432",
            "IpPermissions.1.ToPort": "5432", "IpPermissions.1.Groups.1.GroupName": "web"})
        status, code, _ = self.ec2.error("DeleteSecurityGroup", GroupName="web")
        self.assertEqual(code, "DependencyViolation")

    def test_adminVerbose(self):
        """The admin's GroupName.1=verbose lists every user's groups; a user's
        verbose lists only their own."""
        self.groups()
        self.groups(self.bob)
        answer = self.ec2.call("DescribeSecurityGroups", self.admin,
                               **{"GroupName.1": "verbose"})
        self.assertEqual(sorted(g["OwnerId"] for g in answer["SecurityGroups"]),
                         ["admin", "alice", "bob"])
        self.assertEqual([g["OwnerId"] for g in self.ec2.call(
            "DescribeSecurityGroups", **{"GroupName.1": "verbose"})["SecurityGroups"]],
            ["alice"])
