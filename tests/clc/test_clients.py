"""boto3 and the AWS CLI, unmodified, against the CLC on a real socket.

The CLC resource listens on 127.0.0.1:0 with FakeClusters that boot
instances after half a second and a poller every 0.2 s; boto3 runs in a
thread (deferToThread) so that the reactor keeps serving it.
"""

import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from twisted.internet import defer, reactor, threads
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial import unittest
from twisted.web import server

from eucad.clc.api.resource import Ec2Resource, makeRootResource
from eucad.clc.clusters import ClusterSet
from eucad.clc.cloud import Cloud
from eucad.clc.poller import ClusterPoller, ClusterWatcher
from eucad.clc.vmtypes import ensureDefaults
from eucad.common.db import Database
from eucad.testing.fakecluster import FakeCluster

from tests.clc import helpers
from tests.listening import patchEnv


class ClientsTestCase(unittest.TestCase):

    @defer.inlineCallbacks
    def setUp(self):
        home = os.path.abspath(self.mktemp())
        os.makedirs(home)
        # Nothing from the machine's own AWS configuration may leak in.
        self.env = {"HOME": home, "AWS_CONFIG_FILE": os.devnull,
                    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                    "AWS_EC2_METADATA_DISABLED": "true", "PATH": os.environ["PATH"]}
        for key in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                    "AWS_EC2_METADATA_DISABLED"):
            patchEnv(self, key, self.env[key])
        self.db = Database("sqlite:///" + os.path.join(home, "clc.db"))
        self.db.startService()
        self.addCleanup(self.db.stopService)
        yield self.db.run(ensureDefaults)
        self.keys = helpers.addUser(self.db, "alice")
        self.emi, self.eki, self.eri = helpers.registerImages(self.db)
        self.zones = {"zone1": FakeCluster(clock=reactor, bootSeconds=0.5),
                      "zone2": FakeCluster(clock=reactor, bootSeconds=0.5,
                                           subnet="10.2.0")}
        port = reactor.listenTCP(0, server.Site(None), interface="127.0.0.1")
        self.endpoint = "http://127.0.0.1:%d/services/Eucalyptus" % (port.getHost().port,)
        self.cloud = Cloud(self.db, ClusterSet.fromLinks(self.zones, reactor), reactor,
                           self.endpoint)
        port.factory.resource = makeRootResource(Ec2Resource(self.cloud))
        self.addCleanup(port.stopListening)
        poller = ClusterPoller(self.cloud, interval=0.2)
        poller.startService()
        self.addCleanup(poller.stopService)
        watcher = ClusterWatcher(poller)
        watcher.startService()
        self.addCleanup(watcher.stopService)

    def client(self):
        session = boto3.session.Session(aws_access_key_id=self.keys[0],
                                        aws_secret_access_key=self.keys[1],
                                        region_name="eucalyptus")
        return session.client("ec2", endpoint_url=self.endpoint, config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"}))


class Boto3Tests(ClientsTestCase):

    def test_instanceLifecycle(self):
        """boto3 runs instances, waits for running, sees them, terminates them."""
        def lifecycle():
            ec2 = self.client()
            reservation = ec2.run_instances(ImageId=self.emi, MinCount=1, MaxCount=2,
                                            InstanceType="m1.small")
            ids = [i["InstanceId"] for i in reservation["Instances"]]
            pendingStates = [i["State"]["Name"] for i in reservation["Instances"]]
            ec2.get_waiter("instance_running").wait(
                InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
            described = ec2.describe_instances(InstanceIds=ids)
            terminated = ec2.terminate_instances(InstanceIds=ids)
            return ids, pendingStates, described, terminated

        d = threads.deferToThread(lifecycle)

        def check(result):
            ids, pendingStates, described, terminated = result
            self.assertEqual(pendingStates, ["pending", "pending"])
            instances = [i for r in described["Reservations"] for i in r["Instances"]]
            self.assertEqual(sorted(i["InstanceId"] for i in instances), sorted(ids))
            self.assertEqual({i["State"]["Name"] for i in instances}, {"running"})
            self.assertTrue(all(i["PrivateIpAddress"] for i in instances))
            self.assertEqual(
                {(t["PreviousState"]["Name"], t["CurrentState"]["Name"])
                 for t in terminated["TerminatingInstances"]},
                {("running", "terminated")})
        return d.addCallback(check)

    def test_zonesRegionsImages(self):
        """boto3 lists the zones, the region and the registered images."""
        def describe():
            ec2 = self.client()
            return (ec2.describe_availability_zones(), ec2.describe_regions(),
                    ec2.describe_images())

        def check(result):
            zones, regions, images = result
            self.assertEqual([(z["ZoneName"], z["State"])
                              for z in zones["AvailabilityZones"]],
                             [("zone1", "available"), ("zone2", "available")])
            self.assertEqual(regions["Regions"][0]["Endpoint"], self.endpoint)
            self.assertEqual({i["ImageId"] for i in images["Images"]},
                             {self.emi, self.eki, self.eri})
        return threads.deferToThread(describe).addCallback(check)

    def test_errorCode(self):
        """An EC2 error reaches boto3 as a ClientError with its code."""
        def run():
            try:
                self.client().run_instances(ImageId=self.emi, MinCount=1, MaxCount=1,
                                            KeyName="nokey")
            except ClientError as e:
                return e.response["Error"]["Code"], e.response["ResponseMetadata"][
                    "HTTPStatusCode"]
            return None

        def check(result):
            self.assertEqual(result, ("InvalidKeyPair.NotFound", 400))
        return threads.deferToThread(run).addCallback(check)


class AwsCliTests(ClientsTestCase):

    @defer.inlineCallbacks
    def test_describeInstances(self):
        """`aws ec2 describe-instances --endpoint-url` shows a running instance."""
        def launch():
            ec2 = self.client()
            reservation = ec2.run_instances(ImageId=self.emi, MinCount=1, MaxCount=1)
            instanceId = reservation["Instances"][0]["InstanceId"]
            ec2.get_waiter("instance_running").wait(
                InstanceIds=[instanceId], WaiterConfig={"Delay": 1, "MaxAttempts": 20})
            return instanceId
        instanceId = yield threads.deferToThread(launch)
        env = dict(self.env, AWS_ACCESS_KEY_ID=self.keys[0],
                   AWS_SECRET_ACCESS_KEY=self.keys[1])
        out, err, code = yield getProcessOutputAndValue(sys.executable, [
            "-m", "awscli", "ec2", "describe-instances", "--endpoint-url", self.endpoint,
            "--region", "eucalyptus", "--output", "json"], env=env)
        self.assertEqual(code, 0, err)
        answer = json.loads(out)
        [instance] = [i for r in answer["Reservations"] for i in r["Instances"]]
        self.assertEqual((instance["InstanceId"], instance["State"]),
                         (instanceId, {"Code": 16, "Name": "running"}))
        self.assertEqual(instance["ImageId"], self.emi)
