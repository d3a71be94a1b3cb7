"""The CLC hands each cluster its whole network policy over the link."""

from eucad.clc.addresspool import AddressPool
from eucad.clc.policypush import PolicyPublisher
from eucad.common.errors import CloudError
from eucad.common.netpolicy import IngressRule

from tests.clc.test_api import ApiTestCase

WEB = IngressRule("tcp", 80, 80, cidr="0.0.0.0/0")


class PolicyPublisherTests(ApiTestCase):

    def setUp(self):
        ApiTestCase.setUp(self)
        self.publisher = PolicyPublisher(self.cloud, interval=2.0)
        self.publisher.startService()
        self.addCleanup(lambda: self.publisher.stopService())

    def rulesOf(self, cluster, owner, name):
        group = cluster.policy.group(owner, name)
        return None if group is None else set(group.rules)

    def pushes(self, cluster):
        return [call for call in cluster.calls if call[0] == "applyNetworkPolicy"]

    def runIn(self, zone, group="default"):
        """An instance of alice in ``group`` placed in ``zone``: its id."""
        answer = self.run_(**{"Placement.AvailabilityZone": zone, "SecurityGroup.1": group})
        return answer["Instances"][0]["InstanceId"]

    def groupsOf(self, cluster):
        return {(g.owner, g.name) for g in cluster.policy.groups}

    def test_fullPolicyAtStart(self):
        """At start every cluster gets its whole policy, groups that existed already included."""
        self.ec2.call("CreateSecurityGroup", GroupName="web", GroupDescription="w")
        self.runIn("zone1", "web")
        self.runIn("zone2", "web")
        self.publisher.stopService()
        self.zone1.policy = self.zone2.policy = None
        self.publisher = PolicyPublisher(self.cloud, interval=2.0)
        self.publisher.startService()
        for cluster in (self.zone1, self.zone2):
            self.assertEqual(self.rulesOf(cluster, "alice", "web"), set())

    def test_authorizeAndRevokeArePushedAtOnce(self):
        """An authorize reaches every cluster using the group during the API call, a revoke too: no poll round is waited for."""
        self.runIn("zone1")
        self.runIn("zone2")
        self.ec2.call("AuthorizeSecurityGroupIngress", GroupName="default", IpProtocol="tcp",
                      FromPort="80", ToPort="80", CidrIp="0.0.0.0/0")
        self.assertEqual(self.rulesOf(self.zone1, "alice", "default"), {WEB})
        self.assertEqual(self.rulesOf(self.zone2, "alice", "default"), {WEB})
        self.ec2.call("RevokeSecurityGroupIngress", GroupName="default", IpProtocol="tcp",
                      FromPort="80", ToPort="80", CidrIp="0.0.0.0/0")
        self.assertEqual(self.rulesOf(self.zone1, "alice", "default"), set())

    def test_clusterGetsOnlyTheGroupsInUseThere(self):
        """
        A cluster's policy holds the groups its instances run in and the
        source groups their rules name, not the others' groups; a group
        leaves it with its last instance there.
        """
        for name in ("web", "db", "lb", "unused"):
            self.ec2.call("CreateSecurityGroup", GroupName=name, GroupDescription=name)
        self.ec2.call("AuthorizeSecurityGroupIngress", GroupName="web", **{
            "IpPermissions.1.IpProtocol": "tcp", "IpPermissions.1.FromPort": "80",
            "IpPermissions.1.ToPort": "80", "IpPermissions.1.Groups.1.GroupName": "lb"})
        self.runIn("zone1", "web")
        dbInstance = self.runIn("zone2", "db")
        self.cloud.clock.advance(2)
        self.assertEqual(self.groupsOf(self.zone1), {("alice", "web"), ("alice", "lb")})
        self.assertEqual(self.groupsOf(self.zone2), {("alice", "db")})
        # An authorize of a group used nowhere changes no cluster's policy.
        before = (len(self.pushes(self.zone1)), len(self.pushes(self.zone2)))
        self.ec2.call("AuthorizeSecurityGroupIngress", GroupName="unused", IpProtocol="tcp",
                      FromPort="22", ToPort="22", CidrIp="0.0.0.0/0")
        self.assertEqual((len(self.pushes(self.zone1)), len(self.pushes(self.zone2))), before)
        self.ec2.call("TerminateInstances", **{"InstanceId.1": dbInstance})
        self.poll()
        self.cloud.clock.advance(2)
        self.assertEqual(self.groupsOf(self.zone2), set())
        self.assertEqual(self.groupsOf(self.zone1), {("alice", "web"), ("alice", "lb")})

    def test_launchBringsItsGroupToTheClusterAtOnce(self):
        """RunInstances in a group new to a cluster hands that cluster the group's rules during the call."""
        self.ec2.call("CreateSecurityGroup", GroupName="web", GroupDescription="w")
        self.ec2.call("AuthorizeSecurityGroupIngress", GroupName="web", IpProtocol="tcp",
                      FromPort="80", ToPort="80", CidrIp="0.0.0.0/0")
        self.assertIsNone(self.zone2.policy.group("alice", "web"))
        self.runIn("zone2", "web")
        self.assertEqual(self.rulesOf(self.zone2, "alice", "web"), {WEB})
        self.assertIsNone(self.zone1.policy.group("alice", "web"))

    def test_associationGoesToTheInstancesClusterOnly(self):
        """An address association is in the policy of the cluster that runs the instance, not the other's."""
        self.cloud.addressPool = AddressPool(["192.0.2.1"], perUser=1)
        instance = self.run_(**{"Placement.AvailabilityZone": "zone2"})["Instances"][0]
        publicIp = self.ec2.call("AllocateAddress")["PublicIp"]
        self.ec2.call("AssociateAddress", PublicIp=publicIp, InstanceId=instance["InstanceId"])
        [association] = self.zone2.policy.associations
        self.assertEqual((association.publicIp, association.instanceId),
                         (publicIp, instance["InstanceId"]))
        self.assertEqual(self.zone1.policy.associations, ())
        self.ec2.call("DisassociateAddress", PublicIp=publicIp)
        self.assertEqual(self.zone2.policy.associations, ())

    def test_unchangedPolicyIsNotResent(self):
        """A check that finds the policy the cluster already took sends nothing."""
        before = len(self.pushes(self.zone1))
        self.cloud.clock.advance(2)
        self.cloud.clock.advance(2)
        self.assertEqual(len(self.pushes(self.zone1)), before)

    def test_clusterThatMissedAChangeConverges(self):
        """A cluster that was unreachable during a change gets the whole policy at the next check."""
        self.runIn("zone1")
        self.zone1.available = False
        self.ec2.call("AuthorizeSecurityGroupIngress", GroupName="default", IpProtocol="tcp",
                      FromPort="80", ToPort="80", CidrIp="0.0.0.0/0")
        self.assertEqual(self.rulesOf(self.zone1, "alice", "default"), set())
        self.zone1.available = True
        self.cloud.clock.advance(2)
        self.assertEqual(self.rulesOf(self.zone1, "alice", "default"), {WEB})

    def test_reconnectedClusterGetsThePolicyAgain(self):
        """After the link to a cluster connected again (a restarted CC), the same policy is sent again."""
        self.zone1.connectionCount = 1
        self.cloud.clock.advance(2)
        before = len(self.pushes(self.zone1))
        self.zone1.connectionCount = 2
        self.cloud.clock.advance(2)
        self.assertEqual(len(self.pushes(self.zone1)), before + 1)

    def test_refusalIsNotFatal(self):
        """A cluster refusing the policy is retried at the next check, and the API call still succeeds."""
        self.ec2.call("CreateSecurityGroup", GroupName="db", GroupDescription="d")
        self.zone1.failures["applyNetworkPolicy"] = CloudError("InternalError", "boom", 500)
        self.runIn("zone1", "db")
        self.assertIsNone(self.zone1.policy.group("alice", "db"))
        self.cloud.clock.advance(2)
        self.assertEqual(self.rulesOf(self.zone1, "alice", "db"), set())
