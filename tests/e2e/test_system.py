"""SYSTEM mode end to end: the site's DHCP server leases, the cloud learns and shows it.

The four daemons run with ``VNET_MODE=SYSTEM``; a dhcpd in its own namespace
on the lab's switch plays the site's DHCP server, which the cloud knows
nothing about.  Two real VMs started with boto3 get their addresses from that
server; the node sees the DHCPACKs on its bridge, and DescribeInstances shows
for each the very address the site server leased to its MAC.  Each VM
answers HTTP there, and the CLC knew the address soon enough to answer the
VM's metadata requests (told apart by source address).  Terminating one
removes exactly its domain, tap, instance directory and live CC record (the
CC's dhcpd has no entry in this mode) and the other keeps serving.
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

    def seen(self, ec2, instanceId):
        """The instance as DescribeInstances shows it."""
        found = ec2.describe_instances(InstanceIds=[instanceId])
        return found["Reservations"][0]["Instances"][0]

    def addressed(self, ec2, instanceId):
        """What the user and the site see of one running instance, once it has an address."""
        from eucad.lab.allinone import _waitFor
        cloud = self.cloud

        def running():
            instance = self.seen(ec2, instanceId)
            if instance["State"]["Name"] in ("terminated", "shutting-down"):
                raise AssertionError("%s ended: %s" % (instanceId, instance))
            if instance["State"]["Name"] == "running" and \
                    instance.get("PrivateIpAddress") not in UNKNOWN:
                return instance
            return None
        described = _waitFor("DescribeInstances to show an address", running, 240, 0.5)
        ip = described["PrivateIpAddress"]
        mac = self.domainMac(instanceId)
        leased = _waitFor("the site's lease", lambda: cloud.site.leasedTo(mac), 30, 0.5)
        page = _waitFor("HTTP from the instance", lambda: cloud.httpFromFrontEnd(ip), 90, 0.5)
        status = _waitFor("the guest's status.json", lambda: self.guestStatus(ip), 60, 0.5)
        return {"described": described, "mac": mac, "leased": leased, "page": page,
                "status": status}

    def terminate(self, ec2, instanceId, expected):
        """Terminate one instance; the counts once the node has dropped it."""
        from eucad.lab.allinone import _waitFor
        ec2.terminate_instances(InstanceIds=[instanceId])
        _waitFor("terminated", lambda: self.seen(ec2, instanceId)["State"]["Name"] ==
                 "terminated", 60, 0.5)
        return _waitFor("the node to drop %s" % (instanceId,),
                        lambda: self.counts() if self.counts()["taps"] == expected["taps"]
                        else None, 30, 0.5)

    def flow(self):
        cloud = self.cloud
        try:
            started = cloud.up(runInstance=False)
            ec2 = cloud.ec2(started["credentials"])
            before = self.counts()
            answer = ec2.run_instances(ImageId=started["images"]["machine"], MinCount=2,
                                       MaxCount=2, InstanceType="m1.small")
            ids = sorted(i["InstanceId"] for i in answer["Instances"])
            atStart = [i.get("PrivateIpAddress") for i in answer["Instances"]]
            first, second = [self.addressed(ec2, instanceId) for instanceId in ids]
            during = self.counts()
            afterOne = self.terminate(ec2, ids[0], plus(before, taps=1))
            # The other instance is untouched by its neighbour's end.
            secondPage = self.cloud.httpFromFrontEnd(second["leased"])
            afterBoth = self.terminate(ec2, ids[1], before)
            return (ids, atStart, first, second, before, during, afterOne, secondPage,
                    afterBoth)
        finally:
            cloud.down()

    def test_addressFromTheSiteServer(self):
        """
        DescribeInstances shows, for each of two VMs, the address the site's
        dhcpd leased to its MAC (unknown at first); each VM answers HTTP
        there and got its metadata by it; terminating one removes exactly
        its domain, tap, directory and record and leaves the other serving,
        terminating the other leaves what there was before.
        """
        d = threads.deferToThread(self.flow)

        def check(result):
            (ids, atStart, first, second, before, during, afterOne, secondPage,
             afterBoth) = result
            self.assertEqual([ip in UNKNOWN for ip in atStart], [True, True])
            for instanceId, seen in zip(ids, (first, second)):
                leased = seen["leased"]
                self.assertEqual(seen["described"]["PrivateIpAddress"], leased)
                self.assertTrue(self.cloud.site.inRange(leased), leased)
                self.assertIn(instanceId, seen["page"])
                # The CLC knew the address in time to answer the guest's
                # metadata requests, which it tells apart by source address.
                self.assertEqual((seen["status"]["metadataSource"],
                                  seen["status"]["metadata"].get("local-ipv4")),
                                 ("metadata-service", leased))
            self.assertNotEqual(first["leased"], second["leased"])
            # SYSTEM mode: no DHCP entry of the CC's own.
            self.assertEqual(during, plus(before, domains=2, taps=2, directories=2,
                                          liveRecords=2))
            self.assertEqual(afterOne, plus(before, domains=1, taps=1, directories=1,
                                            liveRecords=1))
            self.assertIn(ids[1], secondPage)
            self.assertEqual(afterBoth, before)
            self.assertEqual(self.namespaces(), [])
            self.assertFalse(os.path.exists("/run/netns/%s" % (self.cloud.site.namespace,)))
            for daemon in self.cloud.daemons():
                self.assertIsNone(daemon.pid(), daemon.name)
        return d.addCallback(check)
