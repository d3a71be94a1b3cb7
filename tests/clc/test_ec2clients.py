"""Key pairs, groups, addresses, tags and instance types through unmodified
clients on a real socket: boto3, the AWS CLI, apache-libcloud's Eucalyptus
driver (SigV2 GET) and boto 2.49, both with the SigV4 its EC2 connection
speaks by default and with SigV2 POST forms as euca2ools 2.x sent them
through boto 2.

The CLC serves on 127.0.0.1:0 with FakeClusters (see ``test_clients``); every
blocking client runs in a thread so that the reactor keeps serving it.
"""

import json
import sys

from botocore.exceptions import ClientError
from twisted.internet import defer, reactor, threads
from twisted.internet.utils import getProcessOutputAndValue
from twisted.protocols.policies import WrappingFactory
from twisted.web import server

from eucad.clc.addresspool import AddressPool
from eucad.clc.api.resource import Ec2Resource, makeRootResource
from eucad.clc.sshkeys import createKey

from tests.clc import helpers
from tests.clc.test_clients import ClientsTestCase

POOL = ["198.51.100.%d" % (n,) for n in range(10, 14)]


class Ec2ClientsTestCase(ClientsTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield ClientsTestCase.setUp(self)
        self.cloud.addressPool = AddressPool(POOL, perUser=2)
        self.bobKeys = helpers.addUser(self.db, "bob")
        # A site of its own whose kept-alive connections (libcloud keeps its
        # session's) are cut when the test ends.
        site = WrappingFactory(server.Site(makeRootResource(Ec2Resource(self.cloud))))
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.endpoint = "http://127.0.0.1:%d/services/Eucalyptus" % (port.getHost().port,)

        def closeAll():
            for protocol in list(site.protocols):
                protocol.transport.abortConnection()
            return port.stopListening()
        self.addCleanup(closeAll)

    def clientOf(self, keys):
        saved, self.keys = self.keys, keys
        try:
            return self.client()
        finally:
            self.keys = saved

    @property
    def port(self):
        return int(self.endpoint.split(":")[2].split("/")[0])


class Boto3Tests(Ec2ClientsTestCase):

    def test_userScenario(self):
        """A user creates and imports key pairs, makes a group and opens ports,
        allocates an address, runs an instance with key and group, associates
        the address, tags the instance and finds it by tag; another user sees
        none of it."""
        def scenario():
            ec2 = self.client()
            created = ec2.create_key_pair(KeyName="made")
            ec2.import_key_pair(KeyName="mine",
                                PublicKeyMaterial=createKey().publicLine.encode())
            group = ec2.create_security_group(GroupName="web", Description="web")
            ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                 "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
                {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
                 "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
            address = ec2.allocate_address()["PublicIp"]
            reservation = ec2.run_instances(ImageId=self.emi, MinCount=1, MaxCount=1,
                                            KeyName="mine", SecurityGroupIds=[group["GroupId"]],
                                            InstanceType="m1.small",
                                            Placement={"AvailabilityZone": "zone1"},
                                            ClientToken="scenario-1")
            instanceId = reservation["Instances"][0]["InstanceId"]
            ec2.get_waiter("instance_running").wait(
                InstanceIds=[instanceId], WaiterConfig={"Delay": 1, "MaxAttempts": 20})
            ec2.associate_address(PublicIp=address, InstanceId=instanceId)
            ec2.create_tags(Resources=[instanceId], Tags=[{"Key": "role", "Value": "web"}])
            byTag = ec2.describe_instances(Filters=[{"Name": "tag:role", "Values": ["web"]}])
            keys = ec2.describe_key_pairs()["KeyPairs"]
            groups = ec2.describe_security_groups(GroupNames=["web"])["SecurityGroups"]
            addresses = ec2.describe_addresses()["Addresses"]
            types = ec2.describe_instance_types()["InstanceTypes"]
            bob = self.clientOf(self.bobKeys)
            bobSees = (bob.describe_instances()["Reservations"],
                       bob.describe_key_pairs()["KeyPairs"],
                       bob.describe_addresses()["Addresses"],
                       [g["GroupName"] for g in bob.describe_security_groups()["SecurityGroups"]],
                       bob.describe_tags()["Tags"])
            try:
                bob.terminate_instances(InstanceIds=[instanceId])
                bobTerminate = None
            except ClientError as e:
                bobTerminate = e.response["Error"]["Code"]
            return (created, instanceId, byTag, keys, groups, addresses, types,
                    address, bobSees, bobTerminate)

        def check(result):
            (created, instanceId, byTag, keys, groups, addresses, types, address,
             bobSees, bobTerminate) = result
            self.assertIn("BEGIN RSA PRIVATE KEY", created["KeyMaterial"])
            self.assertEqual(sorted(k["KeyName"] for k in keys), ["made", "mine"])
            [instance] = [i for r in byTag["Reservations"] for i in r["Instances"]]
            self.assertEqual(instance["InstanceId"], instanceId)
            self.assertEqual(instance["KeyName"], "mine")
            self.assertEqual(instance["PublicIpAddress"], address)
            self.assertEqual(instance["Tags"], [{"Key": "role", "Value": "web"}])
            self.assertEqual(instance["SecurityGroups"][0]["GroupName"], "web")
            self.assertEqual(sorted(p["IpProtocol"] for p in groups[0]["IpPermissions"]),
                             ["icmp", "tcp"])
            self.assertEqual([(a["PublicIp"], a["InstanceId"]) for a in addresses],
                             [(address, instanceId)])
            self.assertEqual(len(types), 5)
            self.assertEqual(bobSees, ([], [], [], ["default"], []))
            self.assertEqual(bobTerminate, "InvalidInstanceID.NotFound")
        return threads.deferToThread(scenario).addCallback(check)


class AwsCliTests(Ec2ClientsTestCase):

    @defer.inlineCallbacks
    def aws(self, *args):
        env = dict(self.env, AWS_ACCESS_KEY_ID=self.keys[0],
                   AWS_SECRET_ACCESS_KEY=self.keys[1])
        out, err, code = yield getProcessOutputAndValue(sys.executable, [
            "-m", "awscli", "ec2"] + list(args) + [
            "--endpoint-url", self.endpoint, "--region", "eucalyptus",
            "--output", "json"], env=env)
        self.assertEqual(code, 0, err)
        return json.loads(out) if out.strip() else None

    @defer.inlineCallbacks
    def test_groupsKeysAddresses(self):
        """awscli makes a group, opens a port, makes a key pair, allocates an
        address and lists instance types."""
        yield self.aws("create-security-group", "--group-name", "ssh",
                       "--description", "ssh in")
        yield self.aws("authorize-security-group-ingress", "--group-name", "ssh",
                       "--protocol", "tcp", "--port", "22", "--cidr", "192.0.2.0/24")
        groups = yield self.aws("describe-security-groups", "--group-names", "ssh")
        [permission] = groups["SecurityGroups"][0]["IpPermissions"]
        self.assertEqual((permission["FromPort"], permission["IpRanges"]),
                         (22, [{"CidrIp": "192.0.2.0/24"}]))
        key = yield self.aws("create-key-pair", "--key-name", "cli")
        listed = yield self.aws("describe-key-pairs", "--filters",
                                "Name=key-name,Values=cli")
        self.assertEqual(listed["KeyPairs"][0]["KeyFingerprint"], key["KeyFingerprint"])
        address = yield self.aws("allocate-address")
        self.assertIn(address["PublicIp"], POOL)
        types = yield self.aws("describe-instance-types", "--instance-types", "m1.large")
        self.assertEqual(types["InstanceTypes"][0]["MemoryInfo"]["SizeInMiB"], 512)


class LibcloudTests(Ec2ClientsTestCase):

    def driver(self):
        from libcloud.compute.drivers.ec2 import EucNodeDriver
        return EucNodeDriver(self.keys[0], self.keys[1], secure=False, host="127.0.0.1",
                             port=self.port, path="/services/Eucalyptus")

    def test_nodesSizesKeysGroups(self):
        """libcloud's Eucalyptus driver lists sizes, images and nodes (with their
        addresses), and manages key pairs and security groups."""
        def use():
            driver = self.driver()
            sizes = driver.list_sizes()
            images = driver.list_images()
            created = driver.create_key_pair("lc")
            imported = driver.import_key_pair_from_string("lc2", createKey().publicLine)
            keys = driver.list_key_pairs()
            driver.delete_key_pair(imported)
            keysAfter = driver.list_key_pairs()
            made = driver.ex_create_security_group("lcgroup", "from libcloud")
            driver.ex_authorize_security_group_ingress(made["group_id"], 80, 80,
                                                       ["0.0.0.0/0"])
            groups = driver.ex_get_security_groups(group_names=["lcgroup"])
            ec2 = self.client()
            instanceId = ec2.run_instances(ImageId=self.emi, MinCount=1, MaxCount=1,
                                           SecurityGroups=["lcgroup"])["Instances"][0][
                                               "InstanceId"]
            address = ec2.allocate_address()["PublicIp"]
            ec2.associate_address(PublicIp=address, InstanceId=instanceId)
            nodes = driver.list_nodes()
            return sizes, images, created, keys, keysAfter, groups, nodes, instanceId, address

        def check(result):
            sizes, images, created, keys, keysAfter, groups, nodes, instanceId, address = result
            small = [s for s in sizes if s.id == "m1.small"][0]
            self.assertEqual((small.ram, small.disk, small.extra["cpu"]), (128, 10, 1))
            self.assertIn(self.emi, [i.id for i in images])
            self.assertIn("PRIVATE KEY", created.private_key)
            self.assertEqual(sorted(k.name for k in keys), ["lc", "lc2"])
            self.assertEqual([k.name for k in keysAfter], ["lc"])
            self.assertEqual(groups[0].name, "lcgroup")
            self.assertEqual(groups[0].ingress_rules[0]["from_port"], "80")
            [node] = nodes
            self.assertEqual(node.id, instanceId)
            self.assertIn(address, node.public_ips)
        return threads.deferToThread(use).addCallback(check)


class Boto2Tests(Ec2ClientsTestCase):

    def connection(self):
        import boto.ec2.connection
        from boto.ec2.regioninfo import RegionInfo
        conn = boto.ec2.connection.EC2Connection(
            aws_access_key_id=self.keys[0], aws_secret_access_key=self.keys[1],
            is_secure=False, port=self.port, path="/services/Eucalyptus",
            region=RegionInfo(name="eucalyptus", endpoint="127.0.0.1"))
        # boto 2 guesses the SigV4 scope from the host name; an address has none.
        conn.auth_service_name = "ec2"
        conn.auth_region_name = "eucalyptus"
        return conn

    def test_boto2(self):
        """boto 2.49 manages key pairs, groups and addresses."""
        return self.checkBoto2(self.connection)

    def test_boto2SigV2(self):
        """boto 2.49 signing SigV2 (HmacSHA256 POST forms), as euca2ools 2.x did."""
        return self.checkBoto2(self.sigV2Connection)

    def sigV2Connection(self):
        """A boto 2 EC2 connection that signs SigV2 forms.

        boto 2 picks the signer from the connection class's required
        capability; euca2ools 2.x declared ``ec2`` (boto's SigV2 query
        signer) in its own connection class exactly like this.
        """
        import boto.ec2.connection
        from boto.ec2.regioninfo import RegionInfo

        class SigV2Connection(boto.ec2.connection.EC2Connection):
            def _required_auth_capability(self):
                return ["ec2"]

        return SigV2Connection(
            aws_access_key_id=self.keys[0], aws_secret_access_key=self.keys[1],
            is_secure=False, port=self.port, path="/services/Eucalyptus",
            region=RegionInfo(name="eucalyptus", endpoint="127.0.0.1"))

    def checkBoto2(self, connect):
        def use():
            conn = connect()
            key = conn.create_key_pair("b2")
            group = conn.create_security_group("b2group", "boto 2")
            conn.authorize_security_group("b2group", ip_protocol="udp", from_port=53,
                                          to_port=53, cidr_ip="10.0.0.0/8")
            groups = conn.get_all_security_groups(groupnames=["b2group"])
            address = conn.allocate_address()
            addresses = conn.get_all_addresses()
            keys = conn.get_all_key_pairs()
            return key, group, groups, address, addresses, keys

        def check(result):
            key, group, groups, address, addresses, keys = result
            self.assertIn("PRIVATE KEY", key.material)
            self.assertEqual([k.name for k in keys], ["b2"])
            [rule] = groups[0].rules
            self.assertEqual((rule.ip_protocol, rule.from_port, rule.to_port),
                             ("udp", "53", "53"))
            self.assertEqual([a.public_ip for a in addresses], [address.public_ip])
        return threads.deferToThread(use).addCallback(check)
