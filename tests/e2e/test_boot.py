"""A real VM from RunInstances, through the four twistd daemons, in the lab.

This is the walking skeleton end to end: boto3 talks to the CLC, which asks
the CC, which gives the instance a MAC and IP through dhcpd in the front
end's namespace and starts it on a node's own libvirtd; the guest gets its
address by DHCP, asks the CLC's metadata service who it is, and answers HTTP
with its instance id.  Its console output shows the guest's boot marker;
RebootInstances restarts it in place and the same instance boots again (a
second marker on its console) and answers again.  Afterwards no domain,
disk, DHCP entry, process or namespace may be left.
"""

import glob
import ipaddress
import json
import os
import shutil
import subprocess

from twisted.internet import threads
from twisted.trial import unittest

from eucad.common.config import Layout
from eucad.lab import guest


def _missing():
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    for tool in ("qemu-system-x86_64", "libvirtd", "dhcpd", "ip", "curl"):
        if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            return "%s is not installed" % (tool,)
    return None


class LabTestCase(unittest.TestCase):
    """An all-in-one cloud in the lab for one test, and what it may leave behind."""

    timeout = 900

    def setUp(self):
        reason = _missing()
        if reason:
            raise unittest.SkipTest(reason)
        from eucad.lab.allinone import AllInOne, freeBasePort
        self.runDir = os.path.abspath(self.mktemp())
        self.cloud = AllInOne(self.runDir, labName="e2e%d" % (os.getpid() % 1000),
                              basePort=freeBasePort(), nodes=2, subnet="10.78.0.0/24",
                              log=lambda message: None)

    def namespaces(self):
        out = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE,
                             text=True).stdout
        return [line.split()[0] for line in out.splitlines()
                if line.startswith(self.cloud.labName + "-")]

    def leftovers(self, instance):
        """What the terminated instance left on the nodes and in dhcpd."""
        left = []
        described = self.cloud.lab.describe()
        import libvirt
        for node in described["nodes"]:
            connection = libvirt.open(node["libvirtUri"])
            try:
                left += ["domain %s on %s" % (d.name(), node["name"])
                         for d in connection.listAllDomains()]
            finally:
                connection.close()
            left += glob.glob(os.path.join(self.cloud.nodePrefix(node["name"]),
                                           "instances", "*", instance["instanceId"]))
        state = Layout(self.cloud.frontEnd).state
        for conf in glob.glob(os.path.join(state, "**", "dhcpd.conf"), recursive=True):
            with open(conf) as f:
                text = f.read()
            if instance["instanceId"] in text or instance["privateIp"] + ";" in text:
                left.append("dhcp entry in %s" % (conf,))
        return left


class BootTests(LabTestCase):

    def flow(self):
        """Blocking: the whole user-visible flow, run in a thread by the test."""
        cloud = self.cloud
        try:
            started = cloud.up(runInstance=False)
            stored = self.s3RoundTrip(started["credentials"])
            ec2 = cloud.ec2(started["credentials"])
            instance = cloud.runOne(ec2, started["images"]["machine"])
            seen = ec2.describe_instances(InstanceIds=[instance["instanceId"]])
            described = seen["Reservations"][0]["Instances"][0]
            page = cloud.httpFromFrontEnd(instance["privateIp"])
            from eucad.lab.allinone import _waitFor
            # Written once the guest has read its metadata and run its user data.
            status = _waitFor("the guest's status.json",
                              lambda: self.guestStatus(instance["privateIp"]), 60, 0.5)
            instanceId = instance["instanceId"]
            # Once directly, so that a refusal shows as itself.
            self.consoleMarkers(ec2, instanceId)
            firstBoot = _waitFor("the boot marker on the console",
                                 lambda: self.consoleMarkers(ec2, instanceId) >= 1, 60, 1)
            rebooted = ec2.reboot_instances(InstanceIds=[instanceId])
            _waitFor("a second boot marker after the reboot",
                     lambda: self.consoleMarkers(ec2, instanceId) >= 2, 300, 2)
            pageAfterReboot = _waitFor(
                "HTTP after the reboot",
                lambda: cloud.httpFromFrontEnd(instance["privateIp"]), 60, 0.5)
            console = ec2.get_console_output(InstanceId=instanceId)
            reboot = (firstBoot, rebooted["ResponseMetadata"]["HTTPStatusCode"],
                      pageAfterReboot, console)
            gone = ec2.terminate_instances(InstanceIds=[instance["instanceId"]])

            def terminated():
                found = ec2.describe_instances(InstanceIds=[instance["instanceId"]])
                state = found["Reservations"][0]["Instances"][0]["State"]["Name"]
                return state == "terminated"
            _waitFor("terminated", terminated, 60, 0.5)
            leftovers = self.leftovers(instance)
            return instance, described, page, gone, leftovers, stored, status, reboot
        finally:
            cloud.down()

    def consoleMarkers(self, ec2, instanceId):
        """
        How many times the guest said it was up, by GetConsoleOutput through
        boto3 (botocore decodes the base64 ``Output`` itself).
        """
        text = ec2.get_console_output(InstanceId=instanceId).get("Output") or ""
        return sum(1 for line in text.splitlines()
                   if line.strip().startswith(guest.MARKER + " " + instanceId))

    def guestStatus(self, ip):
        """The guest's /status.json, or None while it has none."""
        try:
            return json.loads(self.cloud.httpFromFrontEnd(ip, path="/status.json"))
        except ValueError:
            return None

    def s3RoundTrip(self, creds):
        """Store and read back an object through Walrus at the eucarc's S3_URL."""
        import boto3
        s3 = boto3.client("s3", endpoint_url=creds["S3_URL"], region_name="eucalyptus",
                          aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"])
        s3.create_bucket(Bucket="e2e-bucket")
        s3.put_object(Bucket="e2e-bucket", Key="hello/world.txt", Body=b"eucad e2e")
        body = s3.get_object(Bucket="e2e-bucket", Key="hello/world.txt")["Body"].read()
        listed = s3.list_objects_v2(Bucket="e2e-bucket", Prefix="hello/")["KeyCount"]
        return body, listed

    def test_runReachTerminate(self):
        """boto3 stores an object in Walrus and runs an instance that boots, answers HTTP,
        shows its boot marker in its console output (and its kernel its ephemeral and
        swap disks), reboots and answers again, and
        terminates without a trace."""
        d = threads.deferToThread(self.flow)

        def check(result):
            instance, described, page, gone, leftovers, stored, status, reboot = result
            self.assertEqual(stored, (b"eucad e2e", 1))
            self.assertEqual(described["State"]["Name"], "running")
            # make run's cloud is MANAGED: the VM is in its group's slice of the VM subnet.
            from eucad.lab.allinone import VM_SUBNET
            self.assertIn(ipaddress.IPv4Address(described["PrivateIpAddress"]), VM_SUBNET)
            self.assertIn(instance["instanceId"], page)
            # The guest learned its id from the CLC's metadata service.
            self.assertEqual((status["instanceId"], status["metadataSource"],
                              status["metadata"]["local-ipv4"]),
                             (instance["instanceId"], "metadata-service",
                              described["PrivateIpAddress"]))
            firstBoot, rebootStatus, pageAfterReboot, console = reboot
            self.assertTrue(firstBoot)
            self.assertEqual(rebootStatus, 200)
            self.assertIn(instance["instanceId"], pageAfterReboot)
            self.assertEqual(console["InstanceId"], instance["instanceId"])
            self.assertIn("%s %s %s" % (guest.MARKER, instance["instanceId"],
                                        described["PrivateIpAddress"]),
                          console["Output"])
            # The guest's kernel found the ephemeral (vdb) and swap (vdc) disks too.
            for disk in ("[vdb]", "[vdc]"):
                self.assertIn(disk, console["Output"])
            self.assertEqual(gone["TerminatingInstances"][0]["InstanceId"],
                             instance["instanceId"])
            self.assertEqual(leftovers, [])
            self.assertEqual(self.namespaces(), [])
            for daemon in self.cloud.daemons():
                self.assertIsNone(daemon.pid(), daemon.name)
        return d.addCallback(check)
