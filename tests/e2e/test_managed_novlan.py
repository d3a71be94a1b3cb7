"""MANAGED-NOVLAN with real VMs, through the four twistd daemons, in the lab.

Security groups and elastic IPs without tags: every VM is on its node's
bridge (the lab's one switched wire), each group has its slice of the VM
subnet, and the front end holds every slice's router address on its one
private interface, where one dhcpd serves all of them.  One cloud serves
the class: A and B in the admin's ``default`` group, C in a group
``other``, launched together.  B and C boot with user data that fetches A's
page from inside the VM, which shows who reaches whom; the rest is checked
by traffic from the lab's public namespace after boto3 calls.  Terminating
every instance brings each count (domains, taps, router addresses, chains,
DHCP entries, public addresses) back to what it was before the first
launch.  Every wait is bounded and polls; nothing sleeps a fixed time.
"""

import glob
import json
import os
import signal
import subprocess
import time

from twisted.internet import threads
from twisted.logger import Logger

from tests.e2e import evidence
from tests.e2e.test_managed import PROBE, WEB80, SharedCloudTestCase, chains, domainIds

log = Logger()

#: Seconds an API change may take to show in traffic (the bound, not a measure).
ENFORCEMENT_WAIT = 10


def addresses(netns, interface):
    """The IPv4 addresses (CIDR) on ``interface`` in ``netns``."""
    out = subprocess.run(["ip", "-n", netns, "-o", "-4", "addr", "show", "dev", interface],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    return sorted(line.split()[3] for line in out.splitlines())


def links(netns):
    """The names of the links in ``netns``."""
    out = subprocess.run(["ip", "-n", netns, "-o", "link", "show"], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    return sorted(line.split(":")[1].strip().split("@")[0] for line in out.splitlines())


class ManagedNoVlanTests(SharedCloudTestCase):
    """Security groups, elastic IPs and DHCP of MANAGED-NOVLAN, proven by traffic with real VMs."""

    @classmethod
    def _bringUp(cls):
        import atexit
        import tempfile
        from eucad.lab.allinone import AllInOne, freeBasePort, managedNoVlanNetworkConf

        class NoVlanCloud(AllInOne):
            def networkConf(self, described):
                return managedNoVlanNetworkConf(described)

            def configure(self, described):
                AllInOne.configure(self, described)
                self._euca_conf(self.frontEnd, "LOGLEVEL=DEBUG")

        cls.runDir = tempfile.mkdtemp(prefix="eucad-novlan-")
        cls.cloud = NoVlanCloud(cls.runDir, labName="nv%d" % (os.getpid() % 1000),
                                basePort=freeBasePort(), nodes=2, subnet="10.81.0.0/24",
                                log=lambda message: None)
        atexit.register(cls._takeDown)
        try:
            cls.started = cls.cloud.up(runInstance=False)
            cls.ec2 = cls.cloud.ec2(cls.started["credentials"])
            cls.baseline = cls._counts()
            cls.instances = cls._launchThree()
        except BaseException as e:
            log.error("the shared cloud did not come up: {e} ({snapshot})", e=e,
                      snapshot=cls._snapshot("set-up", [repr(e)]))
            cls._takeDown()
            raise

    @classmethod
    def _launchThree(cls):
        """A in default; as soon as A has its address, B (default) and C (other) with A's probe."""
        from eucad.lab.allinone import _waitFor
        ec2, image = cls.ec2, cls.started["images"]["machine"]
        ec2.create_security_group(GroupName="other", Description="apart from default")

        def run(group, userData=None):
            extra = {"UserData": userData} if userData else {}
            answer = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                       InstanceType="m1.small", SecurityGroups=[group], **extra)
            return answer["Instances"][0]["InstanceId"]

        a = run("default")

        def addressOfA():
            found = ec2.describe_instances(InstanceIds=[a])["Reservations"][0]["Instances"][0]
            return found.get("PrivateIpAddress")
        aIp = _waitFor("A's private address", addressOfA, 60, 0.2)
        probe = PROBE.replace("@TARGET@", aIp)
        ids = {"a": a, "b": run("default", probe), "c": run("other", probe)}
        started = {}
        for name, instanceId in ids.items():
            started[name] = cls.cloud._waitHttp(ec2, instanceId, 180)
            started[name]["leased"] = cls.cloud.httpFromFrontEnd(
                started[name]["privateIp"], path="/ip.txt")
        # C's probe must have given up on A (about 50 s) before any test
        # authorizes port 80 from everywhere, which would let C in.
        for name in ("a", "b", "c"):
            started[name]["status"] = cls._waitStatus(started[name])
        return started

    @classmethod
    def _waitStatus(cls, instance):
        from eucad.lab.allinone import _waitFor
        return _waitFor("%s's status.json" % (instance["instanceId"],),
                        lambda: cls._status(instance["privateIp"]), 120, 0.5)

    @classmethod
    def _status(cls, ip):
        try:
            return json.loads(cls.cloud.httpFromFrontEnd(ip, path="/status.json"))
        except ValueError:
            return None

    # -- what the cloud holds, counted --------------------------------------

    @classmethod
    def _counts(cls):
        described = cls.cloud.lab.describe()
        fe = described["frontend"]
        counts = {"routerAddresses": len(addresses(fe["netns"], fe["privateInterface"])),
                  "publicAddresses": len(addresses(fe["netns"], fe["publicInterface"])),
                  "chains": len(chains(fe["netns"])),
                  "dhcpHosts": cls._dhcpText().count("host i-"),
                  "nodeLinks": sum(len(links(node["netns"])) for node in described["nodes"]),
                  "domains": len(cls._domains())}
        return counts

    @classmethod
    def _dhcpText(cls):
        from eucad.common.config import Layout
        text = ""
        for conf in glob.glob(os.path.join(Layout(cls.cloud.frontEnd).state, "**",
                                           "dhcpd.conf"), recursive=True):
            with open(conf) as f:
                text += f.read()
        return text

    @classmethod
    def _domains(cls):
        """instance id -> node name of every domain on the nodes."""
        import libvirt
        found = {}
        for node in cls.cloud.lab.describe()["nodes"]:
            connection = libvirt.open(node["libvirtUri"])
            try:
                for domain in connection.listAllDomains():
                    found[domain.name()] = node["name"]
            finally:
                connection.close()
        return found

    # -- helpers (blocking; run in a thread by the tests) -----------------

    def page(self, publicIp):
        """The page at ``publicIp`` from the public namespace ("" when nothing answers
        within half a second: the granularity of the enforcement figures)."""
        return self.cloud.httpFromPublic(publicIp, timeout=0.5)

    def waitPage(self, publicIp, wanted):
        """Seconds until the public page at ``publicIp`` is ``wanted`` ("" = unreachable)."""
        started = time.monotonic()
        while time.monotonic() - started < ENFORCEMENT_WAIT:
            if self.page(publicIp) == wanted:
                return time.monotonic() - started
            time.sleep(0.05)
        now = self.page(publicIp)
        self.fail("%s did not become %r within %ds (it is %r); %s" % (
            publicIp, wanted, ENFORCEMENT_WAIT, now, self._snapshot(
                self._testMethodName, ["%s did not become %r" % (publicIp, wanted)])))

    # -- tests ------------------------------------------------------------

    def test_yGroupsApartOnOneWire(self):
        """B (default) reached A's page from inside its VM, C (other) did not; A and B run on different nodes."""
        a, b, c = (self.instances[n] for n in "abc")
        self.assertEqual(b["status"]["userDataOutput"].strip(), "reached " + a["instanceId"])
        self.assertEqual(c["status"]["userDataOutput"].strip(), "unreachable")
        nodes = self._domains()
        self.assertNotEqual(nodes[a["instanceId"]], nodes[b["instanceId"]])

    def test_oneDhcpdServesEverySlice(self):
        """
        Each guest got by DHCP the address the CC allocated: A and B in one
        slice, C in another, both slices' routers on the front end's one
        private interface, served by one dhcpd in one shared-network.
        """
        a, b, c = (self.instances[n] for n in "abc")
        for instance in (a, b, c):
            self.assertEqual(instance["leased"], instance["privateIp"])
        sliceOf = {name: int(self.instances[name]["privateIp"].split(".")[-1]) // 32
                   for name in "abc"}
        self.assertEqual(sliceOf["a"], sliceOf["b"])
        self.assertNotEqual(sliceOf["a"], sliceOf["c"])
        fe = self.cloud.lab.describe()["frontend"]
        routers = addresses(fe["netns"], fe["privateInterface"])
        for name in ("a", "c"):
            router = self.instances[name]["privateIp"].rsplit(".", 1)[0] + ".%d" % (
                sliceOf[name] * 32 + 1)
            self.assertIn(router + "/27", routers)
        text = self._dhcpText()
        self.assertEqual(text.count("shared-network "), 1)
        self.assertEqual(text.count("subnet 172.30."), 2)

    def test_metadataFromInsideTheVm(self):
        """B's guest read its id, address and group from 169.254.169.254 through the front end's DNAT."""
        b = self.instances["b"]
        status = b["status"]
        self.assertEqual(status["metadataSource"], "metadata-service")
        self.assertEqual((status["metadata"]["instance-id"], status["metadata"]["local-ipv4"],
                          status["metadata"]["security-groups"]),
                         (b["instanceId"], b["privateIp"], "default"))

    def test_ingressAndElasticIp(self):
        """
        Through its elastic IP, A is unreachable from the public namespace
        until authorize tcp 80, reachable within a second or so after it;
        the address moved to B answers B's page, disassociated answers
        nothing; after revoke A's address answers nothing again.
        """
        a, b = self.instances["a"], self.instances["b"]

        def flow():
            publicIp = self.ec2.allocate_address()["PublicIp"]
            self.ec2.associate_address(PublicIp=publicIp, InstanceId=a["instanceId"])
            try:
                closed = self.page(publicIp)
                self.ec2.authorize_security_group_ingress(GroupName="default",
                                                          IpPermissions=WEB80)
                opened = self.waitPage(publicIp, a["instanceId"])
                self.ec2.associate_address(PublicIp=publicIp, InstanceId=b["instanceId"])
                moved = self.waitPage(publicIp, b["instanceId"])
                self.ec2.disassociate_address(PublicIp=publicIp)
                dropped = self.waitPage(publicIp, "")
                self.ec2.associate_address(PublicIp=publicIp, InstanceId=a["instanceId"])
                self.waitPage(publicIp, a["instanceId"])
                self.ec2.revoke_security_group_ingress(GroupName="default",
                                                       IpPermissions=WEB80)
                reclosed = self.waitPage(publicIp, "")
            finally:
                self.ec2.disassociate_address(PublicIp=publicIp)
                self.ec2.release_address(PublicIp=publicIp)
            return closed, opened, moved, dropped, reclosed

        def check(result):
            closed, opened, moved, dropped, reclosed = result
            log.info("MANAGED-NOVLAN: authorize -> first page {opened:.2f}s, "
                     "revoke -> silence {closed:.2f}s", opened=opened, closed=reclosed)
            self.assertEqual(closed, "")
            for seconds in (opened, moved, dropped, reclosed):
                self.assertLess(seconds, ENFORCEMENT_WAIT)
        return threads.deferToThread(flow).addCallback(check)

    def test_zCcKilledAndRestarted(self):
        """SIGKILL of the CC while A answers at an elastic IP: A answers there on every
        probe through the restart, the domains are the same ones after it, and the
        groups are still enforced (a revoke closes port 80)."""
        from eucad.lab.allinone import _portOpen, _waitFor
        a = self.instances["a"]
        cc = [d for d in self.cloud.daemons() if d.name == "cc"][0]

        def flow():
            seen = evidence.Timeline()
            self.ec2.authorize_security_group_ingress(GroupName="default", IpPermissions=WEB80)
            publicIp = self.ec2.allocate_address()["PublicIp"]
            self.ec2.associate_address(PublicIp=publicIp, InstanceId=a["instanceId"])
            try:
                self.waitPage(publicIp, a["instanceId"])
                before = domainIds(self.cloud)
                seen.note("answers at %s; SIGKILL to the CC" % (publicIp,))
                os.kill(cc.pid(), signal.SIGKILL)
                _waitFor("the CC to die", lambda: cc.pid() is None, 30, 0.2)
                pages = [self.page(publicIp)]
                seen.note("CC dead; page %r" % (pages[0],))
                cc.start()
                seen.note("CC started")
                _waitFor("the CC's port", lambda: _portOpen(self.cloud.ccPort), 30, 0.2)
                seen.note("CC's port open")
                # While the new CC takes over and the CLC sends it the
                # policy, A keeps answering at its elastic IP (and at its
                # private address from the front end, which tells the front
                # end's rules from the VM network).
                until = time.monotonic() + 5
                while time.monotonic() < until:
                    pages.append(self.page(publicIp))
                    seen.note("page %r, private %r" % (pages[-1], self.cloud.httpFromFrontEnd(
                        a["privateIp"], timeout=1)))
                    time.sleep(0.2)
                if set(pages) != {a["instanceId"]}:
                    seen.note(self._snapshot("zCc-during", seen.lines()))
                after = domainIds(self.cloud)
                private = self.cloud.httpFromFrontEnd(a["privateIp"])
                self.ec2.revoke_security_group_ingress(GroupName="default",
                                                       IpPermissions=WEB80)
                closed = self.waitPage(publicIp, "")
            finally:
                self.ec2.disassociate_address(PublicIp=publicIp)
                self.ec2.release_address(PublicIp=publicIp)
            log.info("CC killed and restarted:\n{seen}", seen=seen)
            return before, after, private, closed, pages, seen

        def check(result):
            before, after, private, closed, pages, seen = result
            self.assertEqual(set(pages), {a["instanceId"]}, seen)
            self.assertEqual(after, before)
            self.assertEqual(private, a["instanceId"])
            self.assertLess(closed, ENFORCEMENT_WAIT)
        return threads.deferToThread(flow).addCallback(check)

    def test_zzTerminateCleansUp(self):
        """Terminating every instance brings domains, taps, router and public addresses,
        chains and DHCP entries back to their counts before the first launch."""
        from eucad.lab.allinone import _waitFor
        ids = [self.instances[n]["instanceId"] for n in "abc"]

        def flow():
            during = self._counts()
            self.ec2.terminate_instances(InstanceIds=ids)
            _waitFor("every count back to its baseline",
                     lambda: self._counts() == self.baseline, 60, 0.5)
            return during, self._counts()

        def check(result):
            during, after = result
            self.assertEqual(during["domains"] - self.baseline["domains"], 3)
            self.assertEqual(during["routerAddresses"] - self.baseline["routerAddresses"], 2)
            self.assertEqual(during["dhcpHosts"] - self.baseline["dhcpHosts"], 3)
            self.assertEqual(during["chains"] - self.baseline["chains"], 2)
            self.assertEqual(after, self.baseline)
        return threads.deferToThread(flow).addCallback(check)
