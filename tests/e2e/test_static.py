"""STATIC mode end to end: VNET_MACMAP pairs first come first served, and running out.

The cloud's MAC map holds a single pair.  The first instance takes it: its
domain has the pair's MAC, the CC's dhcpd hands the guest the pair's address
(the guest answers HTTP there).  A second RunInstances gets a clear
InsufficientInstanceCapacity error naming VNET_MACMAP, and nothing of it is
made anywhere: no domain, tap, directory, DHCP entry, CC record or
reservation.  Terminating the first instance removes exactly what it had,
and the freed pair goes to the next instance.
"""

import os
import xml.etree.ElementTree as ElementTree

from twisted.internet import threads

from tests.e2e.counts import counts, plus
from tests.e2e.test_boot import LabTestCase

PAIR_MAC = "d2:0d:5a:00:00:01"


def _onePairCloud(base):
    """An AllInOne class whose MAC map has one pair (made here so the import waits for root)."""

    class OnePairCloud(base):
        def configure(self, described):
            # The all-in-one is MANAGED; STATIC's keys over it, as an admin
            # would write them: the lab's own subnet, the CC's dhcpd in the
            # front end, the nodes' bridges.
            base.configure(self, described)
            fe = described["frontend"]
            self.pairIp = fe["subnet"].rsplit(".", 1)[0] + ".100"
            self._euca_conf(
                self.frontEnd, "VNET_MODE=STATIC", "VNET_INTERFACE=%s" % fe["interface"],
                "VNET_SUBNET=%s" % fe["subnet"], "VNET_NETMASK=%s" % fe["netmask"],
                "VNET_BROADCAST=%s" % fe["broadcast"], "VNET_ROUTER=%s" % fe["address"],
                "VNET_DNS=%s" % fe["address"], "VNET_PUBLICIPS=",
                "VNET_MACMAP=%s=%s" % (PAIR_MAC, self.pairIp))
            for node in described["nodes"]:
                self._euca_conf(self.nodePrefix(node["name"]), "VNET_MODE=STATIC",
                                "VNET_BRIDGE=%s" % node["bridge"])
    return OnePairCloud


class StaticModeTests(LabTestCase):

    def setUp(self):
        LabTestCase.setUp(self)
        from eucad.lab.allinone import AllInOne, freeBasePort
        self.cloud = _onePairCloud(AllInOne)(
            self.runDir, labName="st%d" % (os.getpid() % 1000), basePort=freeBasePort(),
            nodes=1, subnet="10.82.0.0/24", log=lambda message: None)

    def domainMac(self, instanceId):
        import libvirt
        node = self.cloud.lab.describe()["nodes"][0]
        connection = libvirt.open(node["libvirtUri"])
        try:
            root = ElementTree.fromstring(connection.lookupByName(instanceId).XMLDesc(0))
        finally:
            connection.close()
        return root.find("devices/interface/mac").get("address")

    def liveInstances(self, ec2):
        return [i["InstanceId"] for r in ec2.describe_instances()["Reservations"]
                for i in r["Instances"] if i["State"]["Name"] in ("pending", "running")]

    def flow(self):
        from botocore.exceptions import ClientError
        from eucad.lab.allinone import _waitFor
        cloud = self.cloud
        try:
            started = cloud.up(runInstance=False)
            ec2 = cloud.ec2(started["credentials"])
            imageId = started["images"]["machine"]
            before = counts(cloud)
            first = cloud.runOne(ec2, imageId)
            mac = self.domainMac(first["instanceId"])
            during = counts(cloud)
            try:
                ec2.run_instances(ImageId=imageId, MinCount=1, MaxCount=1,
                                  InstanceType="m1.small")
                refused = None
            except ClientError as e:
                refused = e.response["Error"]
            afterRefusal = counts(cloud)
            live = self.liveInstances(ec2)
            ec2.terminate_instances(InstanceIds=[first["instanceId"]])
            _waitFor("the first instance to go", lambda: counts(cloud) == before, 90, 0.5)
            # The pair is free again: the next instance gets it.
            again = ec2.run_instances(ImageId=imageId, MinCount=1, MaxCount=1,
                                      InstanceType="m1.small")["Instances"][0]
            againId = again["InstanceId"]
            againIp = _waitFor("the second instance's address", lambda: next(
                (i.get("PrivateIpAddress") for r in ec2.describe_instances(
                    InstanceIds=[againId])["Reservations"] for i in r["Instances"]
                 if i.get("PrivateIpAddress") not in (None, "", "0.0.0.0")), None), 60, 0.5)
            againMac = _waitFor("the second domain", lambda: self.domainMac(againId), 60, 0.5)
            ec2.terminate_instances(InstanceIds=[againId])
            _waitFor("the second instance to go", lambda: counts(cloud) == before, 90, 0.5)
            return (first, mac, before, during, refused, afterRefusal, live,
                    againIp, againMac)
        finally:
            cloud.down()

    def test_pairsFirstComeFirstServed(self):
        """
        One VNET_MACMAP pair: the first instance gets it and answers HTTP at
        its address, the second is refused clearly with nothing made, and
        after the first is terminated the pair serves the next one.
        """
        d = threads.deferToThread(self.flow)

        def check(result):
            (first, mac, before, during, refused, afterRefusal, live,
             againIp, againMac) = result
            self.assertEqual((first["privateIp"], mac), (self.cloud.pairIp, PAIR_MAC))
            self.assertEqual(during, plus(before, domains=1, taps=1, directories=1,
                                          dhcpHosts=1, liveRecords=1))
            self.assertIsNotNone(refused, "the second RunInstances was not refused")
            self.assertEqual(refused["Code"], "InsufficientInstanceCapacity")
            self.assertIn("VNET_MACMAP", refused["Message"])
            self.assertEqual(afterRefusal, during)
            self.assertEqual(live, [first["instanceId"]])
            self.assertEqual((againIp, againMac), (self.cloud.pairIp, PAIR_MAC))
            self.assertEqual(self.namespaces(), [])
        return d.addCallback(check)
