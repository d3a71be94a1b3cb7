"""A second user's first day, end to end, on an all-in-one cloud in the lab.

The admin brings the cloud up and makes a key pair, a group and an address
of their own.  Then, as the administrator's guide has it, the admin adds a
user with ``euca_conf --add-user`` and hands over the zip of
``euca_conf --get-credentials --user``.  The user sources the zip's eucarc
and, with the AWS CLI, boto3 and apache-libcloud's Eucalyptus driver,
creates and imports key pairs, makes a group and authorizes ports,
allocates an address, runs an instance with that key, group and a user-data
script, associates the address, reboots the instance, reads its console,
tags it and finds it by tag; the guest shows the key and the script's
output it got from the metadata service.  Throughout, the user sees none of
the admin's resources and the admin's own view none of the user's.
"""

import json
import os
import subprocess
import zipfile

from twisted.internet import threads

from eucad.lab import guest
from eucad.clc.sshkeys import createKey

from tests.e2e.test_boot import LabTestCase

USER = "alice"
USER_DATA = "#!/bin/sh\necho story-marker-$((6 * 7))\n"


def _bin(name):
    import sys
    return os.path.join(os.path.dirname(sys.executable), name)


class UserStoryTests(LabTestCase):

    def setUp(self):
        LabTestCase.setUp(self)
        from eucad.lab.allinone import AllInOne, freeBasePort
        # One node is enough for one user's instance.
        self.cloud = AllInOne(self.runDir, labName="us%d" % (os.getpid() % 1000),
                              basePort=freeBasePort(), nodes=1, subnet="10.76.0.0/24",
                              log=lambda message: None)

    # ---- the user's side: their eucarc, and the three clients it drives
    def userEnvironment(self):
        """The admin's euca_conf makes the user and their zip; the user sources its eucarc."""
        prefix = self.cloud.frontEnd
        subprocess.run([_bin("euca_conf"), "-d", prefix, "--add-user", USER,
                        "--email", "alice@example.org"], check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        archive = os.path.join(self.runDir, "alice.zip")
        subprocess.run([_bin("euca_conf"), "-d", prefix, "--get-credentials", archive,
                        "--user", USER], check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        home = os.path.join(self.runDir, "alice")
        with zipfile.ZipFile(archive) as z:
            z.extractall(home)
        sourced = subprocess.run(
            ["bash", "-c", ". ./eucarc >/dev/null && env -0"], cwd=home, check=True,
            stdout=subprocess.PIPE).stdout.decode()
        env = dict(item.split("=", 1) for item in sourced.split("\0") if "=" in item)
        return env

    def aws(self, env, *args):
        result = subprocess.run(
            [_bin("aws"), "--endpoint-url", env["EC2_URL"], "--output", "json", "ec2"]
            + list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        if result.returncode != 0:
            raise AssertionError("aws ec2 %s: %s" % (" ".join(args), result.stderr))
        return json.loads(result.stdout) if result.stdout.strip() else {}

    def boto3Client(self, env):
        import boto3
        return boto3.client("ec2", endpoint_url=env["EC2_URL"],
                            region_name=env["AWS_DEFAULT_REGION"],
                            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])

    def libcloudDriver(self, env):
        from urllib.parse import urlsplit
        from libcloud.compute.drivers.ec2 import EucNodeDriver
        url = urlsplit(env["EC2_URL"])
        return EucNodeDriver(env["EC2_ACCESS_KEY"], env["EC2_SECRET_KEY"],
                             secure=url.scheme == "https", host=url.hostname,
                             port=url.port, path=url.path)

    # ---- waiting on the instance
    def consoleMarkers(self, ec2, instanceId):
        text = ec2.get_console_output(InstanceId=instanceId).get("Output") or ""
        return sum(1 for line in text.splitlines()
                   if line.strip().startswith(guest.MARKER + " " + instanceId))

    def runningIp(self, ec2, instanceId):
        found = ec2.describe_instances(InstanceIds=[instanceId])
        instance = found["Reservations"][0]["Instances"][0]
        if instance["State"]["Name"] in ("shutting-down", "terminated"):
            from eucad.lab.allinone import AllInOneError
            raise AllInOneError("%s ended: %s" % (instanceId, instance.get("StateReason")))
        if instance["State"]["Name"] == "running":
            return instance.get("PrivateIpAddress")
        return None

    def guestStatus(self, ip):
        try:
            return json.loads(self.cloud.httpFromFrontEnd(ip, path="/status.json"))
        except ValueError:
            return None

    # ---- the story
    def story(self):
        from eucad.lab.allinone import _waitFor
        cloud = self.cloud
        seen = {}
        try:
            started = cloud.up(runInstance=False)
            machine = started["images"]["machine"]
            admin = cloud.ec2(started["credentials"])
            admin.create_key_pair(KeyName="admin-key")
            admin.create_security_group(GroupName="admin-web", Description="the admin's")
            adminAddress = admin.allocate_address()["PublicIp"]
            seen["adminAddress"] = adminAddress

            env = self.userEnvironment()
            seen["eucarc"] = {k: env.get(k) for k in (
                "EC2_URL", "S3_URL", "EC2_USER_ID", "EC2_ACCOUNT_NUMBER", "EUCALYPTUS_CERT",
                "EC2_CERT", "EC2_PRIVATE_KEY", "AWS_DEFAULT_REGION")}
            # The AWS CLI: a key pair made by the cloud, and one imported.
            made = self.aws(env, "create-key-pair", "--key-name", "alice-made")
            imported = createKey()
            self.aws(env, "import-key-pair", "--key-name", "alice-imported",
                     "--public-key-material", imported.publicLine)
            seen["madeKey"] = made
            seen["cliKeys"] = self.aws(env, "describe-key-pairs")["KeyPairs"]

            # boto3: a group with ports, and an address.
            ec2 = self.boto3Client(env)
            ec2.create_security_group(GroupName="alice-web", Description="web servers")
            ec2.authorize_security_group_ingress(
                GroupName="alice-web", IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                     "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
                    {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
                     "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
            address = ec2.allocate_address()["PublicIp"]

            # libcloud runs the instance with the imported key, the group and a script.
            driver = self.libcloudDriver(env)
            size = [s for s in driver.list_sizes() if s.id == "m1.small"][0]
            image = [i for i in driver.list_images() if i.id == machine][0]
            node = driver.create_node(name="alice-web-1", size=size, image=image,
                                      ex_keyname="alice-imported",
                                      ex_security_groups=["alice-web"],
                                      ex_userdata=USER_DATA)
            instanceId = node.id
            ip = _waitFor("%s running" % (instanceId,),
                          lambda: self.runningIp(ec2, instanceId), 300, 1)
            seen["status"] = _waitFor("the guest's status.json",
                                      lambda: self.guestStatus(ip), 180, 1)
            ec2.associate_address(PublicIp=address, InstanceId=instanceId)
            seen["address"] = address
            seen["nodes"] = [(n.id, n.public_ips, n.extra.get("key_name"),
                              [g["group_name"] for g in n.extra.get("groups", [])])
                             for n in driver.list_nodes()]

            # Reboot through libcloud; the console shows a second boot.
            _waitFor("the first boot marker", lambda: self.consoleMarkers(ec2, instanceId) >= 1,
                     120, 1)
            seen["rebooted"] = driver.reboot_node(node)
            _waitFor("a second boot marker", lambda: self.consoleMarkers(ec2, instanceId) >= 2,
                     300, 2)
            seen["console"] = ec2.get_console_output(InstanceId=instanceId)

            # Tags, and finding the instance by them.
            ec2.create_tags(Resources=[instanceId], Tags=[{"Key": "role", "Value": "web"}])
            seen["byTag"] = ec2.describe_instances(
                Filters=[{"Name": "tag:role", "Values": ["web"]}])
            seen["byOtherTag"] = ec2.describe_instances(
                Filters=[{"Name": "tag:role", "Values": ["db"]}])
            seen["byTagKey"] = self.aws(env, "describe-instances", "--filters",
                                        "Name=tag-key,Values=role")

            # What each side sees of the other.
            seen["userKeys"] = sorted(k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"])
            seen["userGroups"] = sorted(g["GroupName"] for g in
                                        ec2.describe_security_groups()["SecurityGroups"])
            seen["userAddresses"] = [a["PublicIp"] for a in ec2.describe_addresses()["Addresses"]]
            seen["userInstances"] = [i["InstanceId"] for r in
                                     ec2.describe_instances()["Reservations"]
                                     for i in r["Instances"]]
            seen["adminKeys"] = sorted(k["KeyName"] for k in admin.describe_key_pairs()["KeyPairs"])
            seen["adminInstances"] = [i["InstanceId"] for r in
                                      admin.describe_instances()["Reservations"]
                                      for i in r["Instances"]]
            seen["adminVerbose"] = [i["InstanceId"] for r in admin.describe_instances(
                InstanceIds=["verbose"])["Reservations"] for i in r["Instances"]]
            seen["instanceId"] = instanceId

            ec2.terminate_instances(InstanceIds=[instanceId])

            def terminated():
                found = ec2.describe_instances(InstanceIds=[instanceId])
                return found["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"
            _waitFor("terminated", terminated, 120, 0.5)
            return seen
        finally:
            cloud.down()

    def test_secondUserStory(self):
        """A user added with euca_conf works through the AWS CLI, boto3 and libcloud from
        their zip's eucarc: key pairs, group, address, an instance with their key and
        user data, reboot, console, tags; they see none of the admin's resources."""
        def check(seen):
            instanceId = seen["instanceId"]
            eucarc = seen["eucarc"]
            self.assertTrue(eucarc["EC2_URL"].endswith("/services/Eucalyptus"))
            self.assertEqual(len(eucarc["EC2_ACCOUNT_NUMBER"] or ""), 12)
            for name in ("EUCALYPTUS_CERT", "EC2_CERT", "EC2_PRIVATE_KEY"):
                self.assertTrue(os.path.isfile(eucarc[name]), name)
            self.assertIn("PRIVATE KEY", seen["madeKey"]["KeyMaterial"])
            self.assertEqual(sorted(k["KeyName"] for k in seen["cliKeys"]),
                             ["alice-imported", "alice-made"])
            # The guest got the imported key and ran the script.
            status = seen["status"]
            self.assertEqual(status["instanceId"], instanceId)
            imported = [k for k in seen["cliKeys"] if k["KeyName"] == "alice-imported"][0]
            self.assertTrue(status["publicKey"].startswith("ssh-"))
            self.assertIn("story-marker-42", status["userDataOutput"])
            self.assertTrue(imported["KeyFingerprint"])
            # libcloud lists the node with its address, key and group.
            [(nodeId, publicIps, keyName, groups)] = seen["nodes"]
            self.assertEqual((nodeId, keyName, groups),
                             (instanceId, "alice-imported", ["alice-web"]))
            self.assertIn(seen["address"], publicIps)
            self.assertTrue(seen["rebooted"])
            self.assertEqual(seen["console"]["InstanceId"], instanceId)
            self.assertIn(guest.MARKER, seen["console"]["Output"])
            self.assertEqual([i["InstanceId"] for r in seen["byTag"]["Reservations"]
                              for i in r["Instances"]], [instanceId])
            self.assertEqual(seen["byOtherTag"]["Reservations"], [])
            self.assertEqual([i["InstanceId"] for r in seen["byTagKey"]["Reservations"]
                              for i in r["Instances"]], [instanceId])
            # Each sees only their own; the admin's verbose view sees all.
            self.assertEqual(seen["userKeys"], ["alice-imported", "alice-made"])
            self.assertEqual(seen["userGroups"], ["alice-web", "default"])
            self.assertEqual(seen["userAddresses"], [seen["address"]])
            self.assertNotIn(seen["adminAddress"], seen["userAddresses"])
            self.assertEqual(seen["userInstances"], [instanceId])
            self.assertEqual(seen["adminKeys"], ["admin-key"])
            self.assertNotIn(instanceId, seen["adminInstances"])
            self.assertIn(instanceId, seen["adminVerbose"])
        return threads.deferToThread(self.story).addCallback(check)
