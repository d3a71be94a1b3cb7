"""The cloud's network policy as the records the clusters consume."""

from eucad.clc import policystore
from eucad.clc.addresspool import AddressPool
from eucad.common.netpolicy import GroupRef, IngressRule

from tests.clc.test_api import ApiTestCase


class PolicyStoreTests(ApiTestCase):

    def test_groupsAndAssociations(self):
        """Groups made and authorized through the API, and an associated address,
        become a valid NetworkPolicy; a rule's source group is a GroupRef."""
        self.cloud.addressPool = AddressPool(["192.0.2.1"], perUser=1)
        self.ec2.call("CreateSecurityGroup", GroupName="web", GroupDescription="w")
        self.ec2.call("AuthorizeSecurityGroupIngress", GroupName="web", **{
            "IpPermissions.1.IpProtocol": "tcp", "IpPermissions.1.FromPort": "80",
            "IpPermissions.1.ToPort": "80",
            "IpPermissions.1.IpRanges.1.CidrIp": "0.0.0.0/0",
            "IpPermissions.2.IpProtocol": "icmp", "IpPermissions.2.FromPort": "8",
            "IpPermissions.2.ToPort": "0",
            "IpPermissions.2.Groups.1.GroupName": "default"})
        instance = self.run_(**{"SecurityGroup.1": "web"})["Instances"][0]
        publicIp = self.ec2.call("AllocateAddress")["PublicIp"]
        self.ec2.call("AssociateAddress", PublicIp=publicIp,
                      InstanceId=instance["InstanceId"])
        policy = self.cloud.db.transact(policystore.networkPolicy)
        groups = {(g.owner, g.name): g for g in policy.groups}
        self.assertEqual(set(groups), {("alice", "default"), ("alice", "web")})
        self.assertEqual(set(groups[("alice", "web")].rules), {
            IngressRule("tcp", 80, 80, cidr="0.0.0.0/0"),
            IngressRule("icmp", 8, 0, sourceGroup=GroupRef("alice", "default"))})
        [association] = policy.associations
        self.assertEqual((association.publicIp, association.privateIp,
                          association.instanceId),
                         (publicIp, instance["PrivateIpAddress"], instance["InstanceId"]))

    def test_icmpCodeNeedsType(self):
        """An ICMP code without a type is refused, as the cluster records require."""
        status, code, _ = self.ec2.error("AuthorizeSecurityGroupIngress",
                                         GroupName="default", IpProtocol="icmp",
                                         FromPort="-1", ToPort="3", CidrIp="0.0.0.0/0")
        self.assertEqual(code, "InvalidParameterValue")
