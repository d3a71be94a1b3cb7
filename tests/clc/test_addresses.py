"""Public addresses over in-memory HTTP, answers parsed as boto3 parses them."""

from twisted.trial import unittest

from eucad.clc.addresspool import AddressPool, parsePublicIps, poolFromConf
from eucad.common.config import EucaConf

from tests.clc.test_api import ApiTestCase

POOL = ["192.0.2.10", "192.0.2.11", "192.0.2.12"]


class AddressTests(ApiTestCase):

    def setUp(self):
        ApiTestCase.setUp(self)
        self.cloud.addressPool = AddressPool(POOL, perUser=2)
        self.changes = []
        # Launches publish InstancesPlaced too; these tests hear the rest.
        self.cloud.networkChanges.subscribe(
            lambda change: change.kind != "placed" and self.changes.append(change))

    def addresses(self, keys=None, **params):
        return self.ec2.call("DescribeAddresses", keys, **params)["Addresses"]

    def test_allocateRelease(self):
        """Allocation hands out pool addresses in order; release gives one back."""
        first = self.ec2.call("AllocateAddress")
        self.assertEqual((first["PublicIp"], first["Domain"]), ("192.0.2.10", "standard"))
        second = self.ec2.call("AllocateAddress", self.bob)["PublicIp"]
        self.assertEqual(second, "192.0.2.11")
        self.assertEqual([a["PublicIp"] for a in self.addresses()], ["192.0.2.10"])
        self.ec2.call("ReleaseAddress", PublicIp="192.0.2.10")
        self.assertEqual(self.addresses(), [])
        self.assertEqual(self.ec2.call("AllocateAddress")["PublicIp"], "192.0.2.10")

    def test_limits(self):
        """Past the per-user limit: AddressLimitExceeded; pool empty:
        InsufficientAddressCapacity."""
        self.ec2.call("AllocateAddress")
        self.ec2.call("AllocateAddress")
        status, code, _ = self.ec2.error("AllocateAddress")
        self.assertEqual((status, code), (400, "AddressLimitExceeded"))
        self.ec2.call("AllocateAddress", self.bob)
        status, code, _ = self.ec2.error("AllocateAddress", self.bob)
        self.assertEqual(code, "InsufficientAddressCapacity")

    def test_associate(self):
        """An associated address shows in DescribeAddresses and as the instance's
        public address; disassociation and termination end it; the network
        observer hears each change."""
        publicIp = self.ec2.call("AllocateAddress")["PublicIp"]
        instance = self.run_()["Instances"][0]
        instanceId = instance["InstanceId"]
        self.ec2.call("AssociateAddress", PublicIp=publicIp, InstanceId=instanceId)
        self.assertEqual(self.addresses()[0]["InstanceId"], instanceId)
        described = self.ec2.call("DescribeInstances")["Reservations"][0]["Instances"][0]
        self.assertEqual(described["PublicIpAddress"], publicIp)
        found = self.ec2.call("DescribeInstances", **{
            "Filter.1.Name": "ip-address", "Filter.1.Value.1": publicIp})
        self.assertEqual(len(found["Reservations"]), 1)
        self.ec2.call("DisassociateAddress", PublicIp=publicIp)
        self.assertNotIn("InstanceId", self.addresses()[0])
        self.ec2.call("AssociateAddress", PublicIp=publicIp, InstanceId=instanceId)
        self.ec2.call("TerminateInstances", **{"InstanceId.1": instanceId})
        self.assertNotIn("InstanceId", self.addresses()[0])
        self.assertEqual([(c.kind, c.publicIp, c.instanceId) for c in self.changes],
                         [("associate", publicIp, instanceId),
                          ("disassociate", publicIp, instanceId),
                          ("associate", publicIp, instanceId)])
        self.assertEqual(self.changes[0].privateIp, instance["PrivateIpAddress"])

    def test_reassociate(self):
        """Associating an instance's second address disassociates the first."""
        first = self.ec2.call("AllocateAddress")["PublicIp"]
        second = self.ec2.call("AllocateAddress")["PublicIp"]
        instanceId = self.run_()["Instances"][0]["InstanceId"]
        self.ec2.call("AssociateAddress", PublicIp=first, InstanceId=instanceId)
        self.ec2.call("AssociateAddress", PublicIp=second, InstanceId=instanceId)
        self.assertEqual({a["PublicIp"]: a.get("InstanceId") for a in self.addresses()},
                         {first: None, second: instanceId})

    def test_adminVerbose(self):
        """The admin's PublicIp.1=verbose lists the pool with holders, as
        Eucalyptus did."""
        publicIp = self.ec2.call("AllocateAddress")["PublicIp"]
        instanceId = self.run_()["Instances"][0]["InstanceId"]
        self.ec2.call("AssociateAddress", PublicIp=publicIp, InstanceId=instanceId)
        self.ec2.call("AllocateAddress", self.bob)
        listed = self.addresses(self.admin, **{"PublicIp.1": "verbose"})
        self.assertEqual([(a["PublicIp"], a["InstanceId"]) for a in listed], [
            ("192.0.2.10", "%s (alice)" % (instanceId,)),
            ("192.0.2.11", "available (bob)"), ("192.0.2.12", "nobody")])

    def test_badAddress(self):
        """A malformed address is InvalidParameterValue; one not held is NotFound."""
        status, code, _ = self.ec2.error("ReleaseAddress", PublicIp="300.1.1.1")
        self.assertEqual(code, "InvalidParameterValue")
        status, code, _ = self.ec2.error("ReleaseAddress", PublicIp="192.0.2.12")
        self.assertEqual(code, "InvalidAddress.NotFound")


class PoolTests(unittest.TestCase):

    def test_parse(self):
        """VNET_PUBLICIPS takes single addresses, full ranges and short ranges."""
        self.assertEqual(parsePublicIps("192.0.2.1 192.0.2.5-192.0.2.6,192.0.2.9-10"),
                         ["192.0.2.1", "192.0.2.5", "192.0.2.6", "192.0.2.9",
                          "192.0.2.10"])

    def test_refused(self):
        """Anything else in VNET_PUBLICIPS is a ValueError naming the entry."""
        for text in ("192.0.2.300", "192.0.2.9-1", "hello", "10.0.0.0-10.9.0.0"):
            self.assertRaises(ValueError, parsePublicIps, text)

    def test_fromConf(self):
        """The pool and ADDRESSES_PER_USER come from eucalyptus.conf."""
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('VNET_PUBLICIPS="192.0.2.1-2"\nADDRESSES_PER_USER="7"\n')
        pool = poolFromConf(EucaConf.load(path))
        self.assertEqual((pool.addresses, pool.perUser), (["192.0.2.1", "192.0.2.2"], 7))
