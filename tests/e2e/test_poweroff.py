"""A guest that powers itself off, in the lab: its instance ends terminated, leaving nothing.

The instance's user data is a script the test guest runs at boot; it powers
the VM off from inside.  libvirt tells the node controller at once (its
domain stopped: shutdown), the NC removes the instance's files and reports
it, the CC releases its network and DHCP entry, and the CLC shows it
terminated with that reason.

What a failure needs to be diagnosed outlives the cloud
(``tests.e2e.evidence``), in ``build/test-logs/<module>.<class>/``: the
instance's console (taken before the cloud goes down, which terminates the
instance and removes it), every daemon's logs, the CC's state, and the
test's timeline (each state the CLC showed, and when).
"""

from twisted.internet import threads

from tests.e2e import evidence, test_boot

POWEROFF_SCRIPT = "#!/bin/sh\necho 'eucad e2e: powering off' > /dev/ttyS0\npoweroff -f\n"

#: Seconds the powered-off instance has to show terminated.
TERMINATED_WITHIN = 300


class PowerOffTests(test_boot.LabTestCase):

    def setUp(self):
        test_boot.LabTestCase.setUp(self)
        self.evidence = evidence.evidenceDirectory(type(self))

    def keep(self, keep):
        """Keep some evidence; a failure to copy never stops the test's tear-down."""
        try:
            keep(self.cloud, self.evidence)
        except Exception as e:
            self.seen.note("keeping %s failed: %s" % (keep.__name__, e))

    def flow(self):
        """Blocking: run the instance, wait until the CLC shows it terminated."""
        cloud = self.cloud
        from eucad.lab.allinone import AllInOneError, _waitFor
        self.seen = seen = evidence.Timeline()
        try:
            started = cloud.up(runInstance=False)
            seen.note("cloud up")
            ec2 = cloud.ec2(started["credentials"])
            answer = ec2.run_instances(ImageId=started["images"]["machine"], MinCount=1,
                                       MaxCount=1, InstanceType="m1.small",
                                       UserData=POWEROFF_SCRIPT)
            instanceId = answer["Instances"][0]["InstanceId"]
            seen.note("RunInstances: %s" % (instanceId,))
            shown = []

            def terminated():
                found = ec2.describe_instances(InstanceIds=[instanceId])
                instance = found["Reservations"][0]["Instances"][0]
                state = (instance["State"]["Name"], instance.get("StateTransitionReason"),
                         instance.get("PrivateIpAddress"))
                if not shown or shown[-1] != state:
                    shown.append(state)
                    seen.note("the CLC shows %s (reason %r, address %s)" % state)
                return instance if state[0] == "terminated" else None
            try:
                instance = _waitFor("the powered-off instance terminated", terminated,
                                    TERMINATED_WITHIN, 1)
            except AllInOneError as e:
                seen.note(str(e))
                self.keepConsoleOutput(ec2, instanceId)
                raise AssertionError("%s\n%s\nevidence in %s" % (e, seen, self.evidence))
            leftovers = self.leftovers({"instanceId": instanceId,
                                        "privateIp": instance.get("PrivateIpAddress") or "-"})
            return instance, leftovers
        finally:
            self.keep(evidence.keepConsoles)
            try:
                cloud.down()
            finally:
                self.keep(evidence.keepLogs)
                evidence.keepText(self.evidence, "timeline.txt", str(seen) + "\n")

    def keepConsoleOutput(self, ec2, instanceId):
        """What GetConsoleOutput says of the instance now, into the evidence."""
        try:
            output = ec2.get_console_output(InstanceId=instanceId).get("Output") or ""
        except Exception as e:
            output = "(GetConsoleOutput failed: %s)\n" % (e,)
        evidence.keepText(self.evidence, "console-output.txt", output)

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
