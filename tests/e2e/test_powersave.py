"""POWERSAVE end to end: idle nodes really stop, and one wakes for a real VM.

The cloud runs with ``SCHEDPOLICY=POWERSAVE`` and a short POWER_IDLETHRESH.
A node's "power" is its node controller daemon: the sleep command stops it
(``eucad-ctl stop``), the wake command starts it again (``eucad-ctl start``),
both run by the CC with the node's port filled in.  Once both nodes have
idled, both daemons are gone, yet the zone still offers their room.  While
the wake command fails, RunInstances gets a clear error and nothing is left;
once it works, RunInstances wakes one node, the instance boots there and answers HTTP, and
the other node sleeps on.
"""

import os
import stat

from twisted.internet import threads

from tests.e2e.test_boot import LabTestCase


def _powerSaveCloud(base, bin):
    """An AllInOne class configured for POWERSAVE with per-node power scripts."""

    class PowerSaveCloud(base):
        def configure(self, described):
            base.configure(self, described)
            scripts = os.path.join(self.runDir, "power")
            os.makedirs(scripts, mode=0o700, exist_ok=True)
            for index, node in enumerate(described["nodes"]):
                for action, verb in (("sleep", "stop"), ("wake", "start")):
                    path = os.path.join(scripts, "%s-%d" % (action, self.ncPort(index)))
                    with open(path, "w") as f:
                        f.write("#!/bin/sh\nexec %s %s --prefix %s\n" % (
                            bin("eucad-ctl"), verb, self.nodePrefix(node["name"])))
                    os.chmod(path, stat.S_IRWXU)
            self._euca_conf(
                self.frontEnd, "SCHEDPOLICY=POWERSAVE", "POWER_IDLETHRESH=3",
                "POWER_WAKETHRESH=0", "POWER_WAKE_TIMEOUT=120",
                "POWER_SLEEP_COMMAND=/bin/sh %s/sleep-{port}" % (scripts,),
                "POWER_WAKE_COMMAND=/bin/sh %s/wake-{port}" % (scripts,))
    return PowerSaveCloud


class PowerSaveTests(LabTestCase):

    def setUp(self):
        LabTestCase.setUp(self)
        from eucad.lab.allinone import AllInOne, _bin, freeBasePort
        self.cloud = _powerSaveCloud(AllInOne, _bin)(
            self.runDir, labName="pw%d" % (os.getpid() % 1000), basePort=freeBasePort(),
            nodes=2, subnet="10.83.0.0/24", log=lambda message: None)

    def nodeDaemons(self):
        """node name -> whether its NC daemon runs (by its PID file)."""
        running = {}
        for index in range(self.cloud.nodeCount):
            name = "n%d" % (index + 1)
            prefix = os.path.abspath(self.cloud.nodePrefix(name))
            running[name] = any(d.pid() is not None for d in self.cloud.daemons()
                                if d.name == "nc" and d.prefix == prefix)
        return running

    def nodeRows(self, ec2):
        """The node rows of the admin's verbose zone listing, in NODES order."""
        zones = ec2.describe_availability_zones(ZoneNames=["verbose"])["AvailabilityZones"]
        return [zone["State"] for zone in zones
                if zone["ZoneName"].startswith("|- ") and zone["State"].startswith("certs[")]

    def flow(self):
        from botocore.exceptions import ClientError
        from eucad.lab.allinone import _waitFor
        cloud = self.cloud
        try:
            started = cloud.up(runInstance=False)
            ec2 = cloud.ec2(started["credentials"])
            _waitFor("both idle nodes to be put to sleep",
                     lambda: not any(self.nodeDaemons().values()), 90, 0.5)
            # The room counts once the sleep command has returned (the NC's
            # PID file goes before that) and the CLC has polled the CC since.
            _waitFor("the sleeping nodes' room in the zone listing",
                     lambda: cloud.freeSmall(ec2) > 0, 30, 0.5)
            roomWhileAsleep = cloud.freeSmall(ec2)
            rowsWhileAsleep = self.nodeRows(ec2)
            # First the wake-on-LAN "fails" (the wake scripts exit 1).
            scripts = os.path.join(cloud.runDir, "power")
            wakes = [os.path.join(scripts, name) for name in os.listdir(scripts)
                     if name.startswith("wake-")]
            kept = {}
            for path in wakes:
                with open(path) as f:
                    kept[path] = f.read()
                with open(path, "w") as f:
                    f.write("#!/bin/sh\necho 'no magic packet today' >&2\nexit 1\n")
            try:
                ec2.run_instances(ImageId=started["images"]["machine"], MinCount=1,
                                  MaxCount=1, InstanceType="m1.small")
                refused = None
            except ClientError as e:
                refused = e.response["Error"]
            leftAfterRefusal = [i["InstanceId"] for r in ec2.describe_instances()[
                "Reservations"] for i in r["Instances"]]
            for path, text in kept.items():
                with open(path, "w") as f:
                    f.write(text)
            instance = cloud.runOne(ec2, started["images"]["machine"])
            awake = self.nodeDaemons()
            rowsAfterWake = self.nodeRows(ec2)
            return (roomWhileAsleep, refused, leftAfterRefusal, instance, awake,
                    rowsWhileAsleep, rowsAfterWake)
        finally:
            cloud.down()

    def test_sleepingNodesWakeForAnInstance(self):
        """
        Idle nodes' NC daemons are stopped by the sleep command and their
        room still counts; while the wake command fails RunInstances is
        refused clearly with nothing left; then RunInstances wakes exactly
        one node, where the VM answers HTTP.  The verbose zone listing
        shows sleeping nodes ``asleep``, never ``down``.
        """
        d = threads.deferToThread(self.flow)

        def check(result):
            (roomWhileAsleep, refused, leftAfterRefusal, instance, awake,
             rowsWhileAsleep, rowsAfterWake) = result
            self.assertGreater(roomWhileAsleep, 0)
            self.assertEqual([row.split()[-1] for row in rowsWhileAsleep],
                             ["asleep", "asleep"], rowsWhileAsleep)
            # The woken node's row ends with its last contact; the other sleeps on.
            woken = [name for name in sorted(awake) if awake[name]]
            self.assertEqual(
                [row.endswith(" asleep") for row in rowsAfterWake],
                [name not in woken for name in sorted(awake)], rowsAfterWake)
            self.assertFalse(any(row.endswith(" down") for row in rowsAfterWake))
            self.assertIsNotNone(refused, "RunInstances succeeded without a wake")
            self.assertEqual(refused["Code"], "InsufficientInstanceCapacity")
            self.assertIn("is asleep and did not wake", refused["Message"])
            self.assertEqual(leftAfterRefusal, [])
            self.assertIn("instanceId", instance)
            self.assertEqual(sorted(awake.values()), [False, True], awake)
            self.assertEqual(self.namespaces(), [])
            for daemon in self.cloud.daemons():
                self.assertIsNone(daemon.pid(), daemon.name)
        return d.addCallback(check)
