"""Two all-in-one clouds side by side: ``down`` of one leaves the other alone.

Both clouds are brought up with ``eucad-allinone up`` (its ``main``), each
with its own run directory, lab name, ports and subnet, one node each; the
first runs a real instance.  Then ``down --dir`` of the second, with no
other option (the case where a ``down`` used to talk to whatever CLC listened
on the default port), must stop only the second: the first's daemons keep
their PIDs, its namespaces and libvirtd stay, and its instance keeps
running.  On the way, the second ``up`` must leave the first's
~/.euca/eucarc alone and say where its own credentials are.
"""

import json
import os
import subprocess

from twisted.internet import threads
from twisted.trial import unittest

from tests.commandline import run
from tests.listening import patchEnv


def _missing():
    import shutil
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    for tool in ("qemu-system-x86_64", "libvirtd", "dhcpd", "ip", "curl"):
        if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            return "%s is not installed" % (tool,)
    return None


def namespaces(lab):
    out = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, text=True).stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.startswith(lab + "-"))


class SideBySideTests(unittest.TestCase):

    timeout = 900

    def setUp(self):
        reason = _missing()
        if reason:
            raise unittest.SkipTest(reason)
        from eucad.lab import allinone
        self.allinone = allinone
        self.home = os.path.abspath(self.mktemp())
        os.makedirs(self.home)
        patchEnv(self, "HOME", self.home)
        tag = os.getpid() % 1000
        self.first = {"dir": os.path.abspath(self.mktemp()), "name": "sa%d" % tag,
                      "port": allinone.freeBasePort(), "subnet": "10.86.0.0/24"}
        self.second = {"dir": os.path.abspath(self.mktemp()), "name": "sb%d" % tag,
                       "port": allinone.freeBasePort(), "subnet": "10.87.0.0/24"}
        for cloud in (self.second, self.first):
            # Whatever happens, nothing is left behind (down is idempotent).
            self.addCleanup(self.downQuietly, cloud["dir"])

    def downQuietly(self, directory):
        return threads.deferToThread(run, self.allinone.main, ["down", "--dir", directory])

    def up(self, cloud, *extra):
        code, out, err = run(self.allinone.main, [
            "up", "--dir", cloud["dir"], "--name", cloud["name"], "--port", str(cloud["port"]),
            "--subnet", cloud["subnet"], "--nodes", "1", "--no-instance"] + list(extra))
        self.assertEqual(code, 0, err[-3000:])
        return out

    def scenario(self):
        """Blocking: both clouds up, an instance on the first, down of the second."""
        allinone = self.allinone
        self.up(self.first)
        userEucarc = os.path.join(self.home, ".euca", "eucarc")
        with open(userEucarc) as f:
            firstEucarc = f.read()
        secondOut = self.up(self.second)
        with open(userEucarc) as f:
            afterSecondUp = f.read()

        first = allinone.openCloud(self.first["dir"], log=lambda m: None)
        creds = first.credentials(os.path.join(first.runDir, "creds"))
        ec2 = first.ec2(creds)
        with open(os.path.join(first.runDir, "images.json")) as f:
            machine = json.load(f)["ids"]["machine"]
        instance = first.runOne(ec2, machine)
        pidsBefore = {d.pidFile: d.pid() for d in first.daemons()}

        code, downOut, downErr = run(allinone.main, ["down", "--dir", self.second["dir"]])

        pidsAfter = {d.pidFile: d.pid() for d in first.daemons()}
        described = ec2.describe_instances(InstanceIds=[instance["instanceId"]])
        state = described["Reservations"][0]["Instances"][0]["State"]["Name"]
        page = first.httpFromFrontEnd(instance["privateIp"])
        second = allinone.openCloud(self.second["dir"], log=lambda m: None)
        return {
            "firstEucarc": firstEucarc, "afterSecondUp": afterSecondUp,
            "secondOut": secondOut, "downCode": code, "downOut": downOut,
            "downErr": downErr, "pidsBefore": pidsBefore, "pidsAfter": pidsAfter,
            "state": state, "page": page, "instance": instance,
            "firstLabHealthy": first.lab.healthy(),
            "firstNamespaces": namespaces(self.first["name"]),
            "secondNamespaces": namespaces(self.second["name"]),
            "secondPids": [d.pid() for d in second.daemons()],
        }

    def test_downOfOneLeavesTheOther(self):
        """down of the second cloud stops it and leaves the first's daemons, namespaces,
        instance and ~/.euca/eucarc untouched."""
        def check(seen):
            # The second up did not take the first's ~/.euca/eucarc.
            self.assertIn("# eucad cloud: %s\n" % (self.first["dir"],), seen["firstEucarc"])
            self.assertEqual(seen["afterSecondUp"], seen["firstEucarc"])
            self.assertIn(os.path.join(self.second["dir"], "creds", "eucarc"),
                          seen["secondOut"])
            self.assertIn("is kept: it holds the cloud in %s" % (self.first["dir"],),
                          seen["secondOut"])
            # down of the second: clean, and only the second.
            self.assertEqual(seen["downCode"], 0, seen["downErr"])
            self.assertNotIn("AuthFailure", seen["downOut"] + seen["downErr"])
            self.assertEqual(seen["secondNamespaces"], [])
            self.assertEqual(seen["secondPids"], [None] * len(seen["secondPids"]))
            self.assertTrue(all(seen["pidsBefore"].values()), seen["pidsBefore"])
            self.assertEqual(seen["pidsAfter"], seen["pidsBefore"])
            self.assertTrue(seen["firstLabHealthy"])
            self.assertEqual(len(seen["firstNamespaces"]), 4)  # pub, fe, sw, n1
            self.assertEqual(seen["state"], "running")
            self.assertIn(seen["instance"]["instanceId"], seen["page"])
        return threads.deferToThread(self.scenario).addCallback(check)
