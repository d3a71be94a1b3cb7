"""A guest that powers itself off, in the lab: its instance ends terminated, leaving nothing.

The instance's user data is a script the test guest runs at boot; it powers
the VM off from inside.  libvirt tells the node controller at once (its
domain stopped: shutdown), the NC removes the instance's files and reports
it, the CC releases its network and DHCP entry, and the CLC shows it
terminated with that reason.
"""

from twisted.internet import threads

from tests.e2e import test_boot

POWEROFF_SCRIPT = "#!/bin/sh\necho 'eucad e2e: powering off' > /dev/ttyS0\npoweroff -f\n"


class PowerOffTests(test_boot.LabTestCase):

    def flow(self):
        """Blocking: run the instance, wait until the CLC shows it terminated."""
        cloud = self.cloud
        from eucad.lab.allinone import _waitFor
        try:
            started = cloud.up(runInstance=False)
            ec2 = cloud.ec2(started["credentials"])
            answer = ec2.run_instances(ImageId=started["images"]["machine"], MinCount=1,
                                       MaxCount=1, InstanceType="m1.small",
                                       UserData=POWEROFF_SCRIPT)
            instanceId = answer["Instances"][0]["InstanceId"]

            def terminated():
                found = ec2.describe_instances(InstanceIds=[instanceId])
                instance = found["Reservations"][0]["Instances"][0]
                return instance if instance["State"]["Name"] == "terminated" else None
            instance = _waitFor("the powered-off instance terminated", terminated, 300, 1)
            leftovers = self.leftovers({"instanceId": instanceId,
                                        "privateIp": instance.get("PrivateIpAddress") or "-"})
            return instance, leftovers
        finally:
            cloud.down()

    def test_guestPowersOff(self):
        """A guest that powers itself off ends terminated, with no domain, disk or DHCP entry left."""
        d = threads.deferToThread(self.flow)

        def check(result):
            instance, leftovers = result
            self.assertEqual(instance["State"]["Name"], "terminated")
            # libvirt's stop event names the cause, even when a node poll sees
            # the domain gone first (the poll leaves the event time to arrive).
            self.assertEqual(instance.get("StateTransitionReason"),
                             "the guest powered itself off")
            self.assertEqual(leftovers, [])
            self.assertEqual(self.namespaces(), [])
        return d.addCallback(check)
