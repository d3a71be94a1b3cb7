"""SYSTEM mode end to end: the site's DHCP server leases, the cloud learns and shows it.

The four daemons run with ``VNET_MODE=SYSTEM``; a dhcpd in its own namespace
on the lab's switch plays the site's DHCP server, which the cloud knows
nothing about.  A real VM started with boto3 gets its address from that
server; the node sees the DHCPACK on its bridge, and DescribeInstances shows
the very address the site server leased to the VM's MAC.  The VM answers HTTP
there, and the CLC knew the address soon enough to answer the VM's metadata
requests (told apart by source address).  Terminating it leaves as many
domains, taps, instance directories and live CC records as there were
before it ran (and the CC's dhcpd has no entry in this mode).
"""

import json
import os
import xml.etree.ElementTree as ElementTree

from twisted.internet import threads

from tests.e2e.counts import counts, plus
from tests.e2e.test_boot import LabTestCase

UNKNOWN = ("", "0.0.0.0", None)


class SystemModeTests(LabTestCase):

    def setUp(self):
        LabTestCase.setUp(self)
        from eucad.lab.allinone import freeBasePort
        from eucad.lab.systemmode import SystemModeCloud
        self.cloud = SystemModeCloud(self.runDir, labName="sys%d" % (os.getpid() % 1000),
                                     basePort=freeBasePort(), nodes=1,
                                     subnet="10.81.0.0/24", log=lambda message: None)

    def domainMac(self, instanceId):
        """The MAC of the instance's interface, read from its domain on the node."""
        import libvirt
        node = self.cloud.lab.describe()["nodes"][0]
        connection = libvirt.open(node["libvirtUri"])
        try:
            root = ElementTree.fromstring(connection.lookupByName(instanceId).XMLDesc(0))
        finally:
            connection.close()
        return root.find("devices/interface/mac").get("address")

    def counts(self):
        return counts(self.cloud)

    def guestStatus(self, ip):
        """The guest's /status.json, or None while it has none."""
        try:
            return json.loads(self.cloud.httpFromFrontEnd(ip, path="/status.json"))
        except ValueError:
            return None

    def flow(self):
        from eucad.lab.allinone import _waitFor
        cloud = self.cloud
        try:
            started = cloud.up(runInstance=False)
            ec2 = cloud.ec2(started["credentials"])
            before = self.counts()
            answer = ec2.run_instances(ImageId=started["images"]["machine"], MinCount=1,
                                       MaxCount=1, InstanceType="m1.small")
            instanceId = answer["Instances"][0]["InstanceId"]
            atStart = answer["Instances"][0].get("PrivateIpAddress")

            def addressed():
                found = ec2.describe_instances(InstanceIds=[instanceId])
                instance = found["Reservations"][0]["Instances"][0]
                if instance["State"]["Name"] in ("terminated", "shutting-down"):
                    raise AssertionError("%s ended: %s" % (instanceId, instance))
                if instance["State"]["Name"] == "running" and \
                        instance.get("PrivateIpAddress") not in UNKNOWN:
                    return instance
                return None
            described = _waitFor("DescribeInstances to show an address", addressed, 180, 0.5)
            ip = described["PrivateIpAddress"]
            mac = self.domainMac(instanceId)
            leased = _waitFor("the site's lease", lambda: cloud.site.leasedTo(mac), 30, 0.5)
            page = _waitFor("HTTP from the instance",
                            lambda: cloud.httpFromFrontEnd(ip), 90, 0.5)
            status = _waitFor("the guest's status.json",
                              lambda: self.guestStatus(ip), 60, 0.5)
            during = self.counts()
            ec2.terminate_instances(InstanceIds=[instanceId])

            def terminated():
                found = ec2.describe_instances(InstanceIds=[instanceId])
                return found["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"
            _waitFor("terminated", terminated, 60, 0.5)
            after = _waitFor("the node to drop the instance",
                             lambda: self.counts() if self.counts()["taps"] == before["taps"]
                             else None, 30, 0.5)
            return (instanceId, atStart, described, mac, leased, page, status, before, during,
                    after)
        finally:
            cloud.down()

    def test_addressFromTheSiteServer(self):
        """
        DescribeInstances shows the address the site's dhcpd leased to the
        VM's MAC (unknown until then), the VM answers HTTP there, and
        terminating it removes exactly its domain, tap, directory and record.
        """
        d = threads.deferToThread(self.flow)

        def check(result):
            (instanceId, atStart, described, mac, leased, page, status, before, during,
             after) = result
            self.assertIn(atStart, UNKNOWN)
            self.assertEqual(described["PrivateIpAddress"], leased)
            self.assertTrue(self.cloud.site.inRange(leased), leased)
            self.assertIn(instanceId, page)
            # The CLC knew the address in time to answer the guest's metadata
            # requests, which it tells apart by source address.
            self.assertEqual((status["metadataSource"], status["metadata"].get("local-ipv4")),
                             ("metadata-service", leased))
            # SYSTEM mode: no DHCP entry of the CC's own.
            self.assertEqual(during, plus(before, domains=1, taps=1, directories=1,
                                          liveRecords=1))
            self.assertEqual(after, before)
            self.assertEqual(self.namespaces(), [])
            self.assertFalse(os.path.exists("/run/netns/%s" % (self.cloud.site.namespace,)))
            for daemon in self.cloud.daemons():
                self.assertIsNone(daemon.pid(), daemon.name)
        return d.addCallback(check)
