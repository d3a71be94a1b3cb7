"""The node controller restarted under a running VM, in the lab, through the real daemons.

One instance boots on a node; its node controller is then stopped and
started again (SIGTERM), and later killed with SIGKILL and started again,
while a crash's leftover (an instance directory no domain uses) waits on
the node.  A thread fetches the guest's page from the front end all along:
the VM must answer every time, DescribeInstances must show it running
after each restart, the leftover must be gone once the NC is back, and
terminating the instance afterwards must leave nothing behind.
"""

import os
import signal
import threading
import time

from twisted.internet import threads

from eucad.common.pids import pidAlive
from tests.e2e import test_boot

#: Seconds between two fetches of the guest's page.
PROBE_INTERVAL = 0.5


class PageProbe(threading.Thread):
    """Fetches the guest's page until stopped; keeps every failed fetch's time."""

    def __init__(self, cloud, ip, instanceId):
        threading.Thread.__init__(self, name="page-probe", daemon=True)
        self.cloud, self.ip, self.instanceId = cloud, ip, instanceId
        self.fetches = 0
        self.failures = []
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(PROBE_INTERVAL):
            self.fetches += 1
            if self.instanceId not in self.cloud.httpFromFrontEnd(self.ip, timeout=5):
                self.failures.append(time.monotonic())

    def stop(self):
        self.done.set()
        self.join(30)


class NodeRestartTests(test_boot.LabTestCase):

    def nodeOf(self, instanceId):
        """The name of the lab node whose libvirtd runs the instance."""
        import libvirt
        for node in self.cloud.lab.describe()["nodes"]:
            connection = libvirt.open(node["libvirtUri"])
            try:
                if instanceId in [d.name() for d in connection.listAllDomains()]:
                    return node["name"]
            finally:
                connection.close()
        return None

    def ncDaemon(self, nodeName):
        from eucad.common import control
        found = [d for d in control.daemonsFor(self.cloud.nodePrefix(nodeName))
                 if d.name == "nc"]
        return found[0]

    def stillRunning(self, ec2, instanceId):
        """The instance's state after the CLC has polled the restarted NC a few times."""
        from eucad.lab.allinone import _waitFor
        states = []

        def polled():
            found = ec2.describe_instances(InstanceIds=[instanceId])
            states.append(found["Reservations"][0]["Instances"][0]["State"]["Name"])
            return len(states) >= 8
        # The poll intervals are 1 s: eight answers span several CC and CLC polls.
        _waitFor("DescribeInstances after the restart", polled, 60, 1)
        return states

    def flow(self):
        """Blocking: run, restart the NC twice under the VM, terminate."""
        from eucad.lab.allinone import _waitFor
        cloud = self.cloud
        probe = None
        try:
            started = cloud.up(runInstance=False)
            ec2 = cloud.ec2(started["credentials"])
            instance = cloud.runOne(ec2, started["images"]["machine"])
            instanceId = instance["instanceId"]
            nodeName = self.nodeOf(instanceId)
            nc = self.ncDaemon(nodeName)
            probe = PageProbe(cloud, instance["privateIp"], instanceId)
            probe.start()

            firstPid = nc.pid()
            nc.stop()
            nc.start()
            afterStop = self.stillRunning(ec2, instanceId)

            # A crash's leftover: an instance directory no domain uses.
            leftover = os.path.join(cloud.nodePrefix(nodeName), "instances", "admin",
                                    "i-0dead0ff")
            os.makedirs(leftover)
            with open(os.path.join(leftover, "root.qcow2"), "wb") as f:
                f.write(b"left by a crash")
            secondPid = nc.pid()
            os.kill(secondPid, signal.SIGKILL)
            _waitFor("the killed NC to be gone", lambda: not pidAlive(secondPid), 30, 0.1)
            nc.start()
            afterKill = self.stillRunning(ec2, instanceId)
            leftoverGone = _waitFor("the leftover directory removed",
                                    lambda: not os.path.exists(leftover), 60, 0.5)
            probe.stop()
            pids = (firstPid, secondPid, nc.pid())

            ec2.terminate_instances(InstanceIds=[instanceId])

            def terminated():
                found = ec2.describe_instances(InstanceIds=[instanceId])
                return found["Reservations"][0]["Instances"][0]["State"]["Name"] == \
                    "terminated"
            _waitFor("terminated", terminated, 60, 0.5)
            leftovers = self.leftovers(instance)
            return afterStop, afterKill, leftoverGone, probe, pids, leftovers
        finally:
            if probe is not None:
                probe.stop()
            cloud.down()

    def test_restartsKeepTheVm(self):
        """A stopped-and-started and a SIGKILLed-and-restarted NC re-adopt the running VM: it
        answers HTTP throughout, stays running in DescribeInstances, a crash's leftover
        directory is removed, and terminating it afterwards leaves nothing behind."""
        d = threads.deferToThread(self.flow)

        def check(result):
            afterStop, afterKill, leftoverGone, probe, pids, leftovers = result
            self.assertEqual(set(afterStop), {"running"})
            self.assertEqual(set(afterKill), {"running"})
            self.assertTrue(leftoverGone)
            # Three different NC processes served the node, one VM throughout.
            self.assertEqual(len(set(pids)), 3)
            self.assertGreater(probe.fetches, 10)
            self.assertEqual(probe.failures, [])
            self.assertEqual(leftovers, [])
            self.assertEqual(self.namespaces(), [])
        return d.addCallback(check)
