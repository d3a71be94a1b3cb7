"""SIGKILL the CLC in the middle of a mixed workload: nothing acknowledged is lost.

A real ``eucalyptus-clc`` (Walrus on its port) with one cluster (a
FakeCluster behind the real TLS PB link, served by this test's reactor)
takes, from several client threads at once, RunInstances and
TerminateInstances (EC2, boto3), CreateBucket and PutObject (S3, boto3),
while ``euca_conf`` adds users beside it.  It is killed with SIGKILL
mid-stream and started again; every request that had been answered with
success must be visible afterwards, on SQLite and on PostgreSQL.
"""

import hashlib
import os
import threading
import time

from twisted.internet import reactor, threads

from eucad.common import accounts
from eucad.common.db import Database, databaseUrl
from eucad.common.config import EucaConf
from eucad.testing.fakecluster import FakeCluster

from tests.clc import helpers
from tests.clc.livecloud import LiveCloud
from tests.dbengines import bothEngines

BIG_NODE = {"host": "node1", "cpu": 256, "ram": 262144, "disk": 100000}
#: How long the workload may take to be acknowledged a few times of each kind.
WORKLOAD_LIMIT = 120


class RestartTests:
    """Mixed into one TestCase per engine (``tests.dbengines``)."""

    timeout = 300

    def test_sigkillDuringMixedWorkload(self):
        """After SIGKILL and a restart, every acknowledged instance, termination, bucket and object is there."""
        url = None if self.engine == "sqlite" else self.databaseUrl(empty=True)
        cluster = FakeCluster(nodes=[BIG_NODE], clock=reactor, bootSeconds=0.2)
        self.cloud = LiveCloud(self, databaseUrl=url, cluster=cluster)
        self.cloud.serveCluster(reactor)
        return threads.deferToThread(self.scenario)

    def prepare(self):
        """alice and the images, written as the admin's tools would."""
        cloud = self.cloud
        db = Database(databaseUrl(EucaConf.load(cloud.layout.conf), cloud.layout))
        try:
            keys = db.transact(lambda s: (lambda u: (u.accessKey, u.secretKey))(
                accounts.createUser(s, "alice")))
            emi, _, _ = helpers.registerImages(db)
        finally:
            db.engine.dispose()
        return keys, emi

    def clients(self, keys):
        import boto3
        from botocore.config import Config
        session = boto3.session.Session(aws_access_key_id=keys[0],
                                        aws_secret_access_key=keys[1],
                                        region_name="eucalyptus")
        config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                        connect_timeout=5, read_timeout=30, s3={"addressing_style": "path"})
        return (session.client("ec2", endpoint_url=self.cloud.ec2Url, config=config),
                session.client("s3", endpoint_url=self.cloud.s3Url, config=config))

    def scenario(self):
        keys, emi = self.prepare()
        cloud = self.cloud
        cloud.start()
        ec2, s3 = self.clients(keys)
        s3.create_bucket(Bucket="steady")
        # Wait until the cluster's capacity reached the CLC over the link.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                ec2.run_instances(ImageId=emi, MinCount=1, MaxCount=1, DryRun=False)
                break
            except Exception:
                time.sleep(0.2)
        else:
            self.fail("the CLC never saw the cluster's capacity")

        acked = {"instances": set(), "terminated": set(), "buckets": {"steady"},
                 "objects": {}, "users": set()}
        errors = []
        lock = threading.Lock()
        stop = threading.Event()

        def launcher():
            mine, _ = self.clients(keys)
            previous = None
            for round in range(1000):
                if stop.is_set():
                    return
                try:
                    answer = mine.run_instances(ImageId=emi, MinCount=1, MaxCount=2)
                    ids = [i["InstanceId"] for i in answer["Instances"]]
                    with lock:
                        acked["instances"].update(ids)
                    if previous:
                        mine.terminate_instances(InstanceIds=previous)
                        with lock:
                            acked["terminated"].update(previous)
                    previous = ids
                except Exception as e:
                    if stop.is_set():
                        return
                    errors.append(e)
                    time.sleep(0.05)

        def putter(index):
            _, mine = self.clients(keys)
            for round in range(10000):
                if stop.is_set():
                    return
                key = "k-%d-%d" % (index, round)
                data = os.urandom(1024 + round % 4096)
                try:
                    mine.put_object(Bucket="steady", Key=key, Body=data)
                    with lock:
                        acked["objects"][key] = hashlib.md5(data).hexdigest()
                    if round % 10 == 0:
                        bucket = "b-%d-%d" % (index, round)
                        mine.create_bucket(Bucket=bucket)
                        with lock:
                            acked["buckets"].add(bucket)
                except Exception as e:
                    if stop.is_set():
                        return
                    errors.append(e)
                    time.sleep(0.05)

        workers = [threading.Thread(target=launcher) for _ in range(2)]
        workers += [threading.Thread(target=putter, args=(i,)) for i in range(3)]
        for worker in workers:
            worker.start()
        def enough():
            with lock:
                return (len(acked["instances"]) >= 6 and len(acked["terminated"]) >= 2
                        and len(acked["objects"]) >= 20 and len(acked["buckets"]) >= 3)
        try:
            began = time.monotonic()
            count = 0
            # Kill while every kind of request is in flight, once each kind
            # has been acknowledged a few times (however slow the machine).
            while not enough() and time.monotonic() - began < WORKLOAD_LIMIT:
                code, _, err = cloud.euca_conf("--add-user", "user%d" % count)
                self.assertEqual(code, 0, err)
                acked["users"].add("user%d" % count)
                count += 1
                time.sleep(0.2)
            cloud.kill()
        finally:
            stop.set()
            for worker in workers:
                worker.join(60)
        self.assertTrue(acked["instances"] and acked["terminated"] and acked["objects"],
                        "the workload did nothing before the kill: %r %r" % (
                            {k: len(v) for k, v in acked.items()}, errors[:3]))

        cloud.start()
        ec2, s3 = self.clients(keys)
        seen = {}
        for reservation in ec2.describe_instances()["Reservations"]:
            for instance in reservation["Instances"]:
                seen[instance["InstanceId"]] = instance["State"]["Name"]
        missing = acked["instances"] - set(seen)
        self.assertEqual(missing, set(), "acknowledged launches lost")
        revived = {i for i in acked["terminated"]
                   if seen[i] not in ("shutting-down", "terminated")}
        self.assertEqual(revived, set(), "acknowledged terminations undone")
        buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
        self.assertEqual(acked["buckets"] - buckets, set(), "acknowledged buckets lost")
        for key, digest in sorted(acked["objects"].items()):
            body = s3.get_object(Bucket="steady", Key=key)["Body"].read()
            self.assertEqual(hashlib.md5(body).hexdigest(), digest, key)
        code, out, _ = cloud.euca_conf("--list-users")
        listed = {line.split("\t")[0] for line in out.splitlines()[1:]}
        self.assertEqual(acked["users"] - listed, set())


bothEngines(RestartTests, globals())
