"""MANAGED mode on VXLAN with real VMs, through the four twistd daemons, in the lab.

One all-in-one cloud (``eucad.lab.allinone``, as ``make run`` configures it)
serves every test of the class.  It starts with one node registered: A, in
the admin's ``default`` group, runs there with user data that keeps looking
for another instance's page in its own slice.  Then the second node is
registered (NODES, CC restarted) and C, in a group ``other``, and B, in
``default``, are launched: C lands beside A, B on the node added later.
Once B has booted, an elastic IP briefly associated with A tells A to start
looking: A reaching B shows the node that ran the group first was told to
flood to the new one (A's ARP requests are broadcasts, and A sent none to
its slice before, so none of B's boot-time broadcasts taught it B's
address); C's user data tries A's page and must fail.  Everything else is checked by traffic from the lab's public
namespace through elastic IPs, after API calls made with boto3: an authorize
opens port 80 and a revoke closes it again, an address leads to one
instance, then another, then nowhere; the metadata service answers from
inside the VM; the CC is SIGKILLed and restarted while the instances run.
Every wait is bounded.
"""

import json
import os
import shutil
import signal
import subprocess
import time

from twisted.internet import threads
from twisted.logger import Logger
from twisted.trial import unittest

from tests.e2e import evidence

log = Logger()

#: Seconds an API change may take to show in traffic (the bound, not a measure).
ENFORCEMENT_WAIT = 10
WEB80 = [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
          "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]

#: User data: fetch the page of the instance at @TARGET@ from inside the VM.
PROBE = """#!/bin/sh
i=0
while [ $i -lt 12 ]; do
    page=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 3 nc @TARGET@ 80 2>/dev/null | tail -n 1)
    case "$page" in i-*) echo "reached $page"; exit 0;; esac
    i=$((i+1))
    sleep 1
done
echo unreachable
"""


#: User data: in the background, wait for the signal to start (an elastic IP
#: associated with this instance, seen in its metadata), then look for any
#: other instance's page in the guest's own slice (@PERNET@ addresses) and
#: serve what was found at /reach.txt.  Until the signal the guest sends
#: nothing to its slice, so it holds no neighbour entry that another
#: guest's boot-time broadcasts could fill in: only its own ARP requests,
#: flooded by its node, can find the other instance.  The metadata is asked
#: through the image's ``/etc/md-request.sh`` (``nc -e``), as the guest's init
#: does: a request piped into a plain ``nc`` half-closes the connection, and
#: the metadata service (twisted.web) drops a half-closed request unanswered.
SCAN = """#!/bin/sh
me=$(cat /www/index.html)
ip=$(cat /www/ip.txt)
last=${ip##*.}
base=$((last - last % @PERNET@))
prefix=${ip%.*}
get() {
    printf 'GET %s HTTP/1.0\\r\\n\\r\\n' "$2" | timeout 2 nc "$1" 80 2>/dev/null | tail -n 1
}
metadata() {
    rm -f /tmp/scan.md
    MD_PATH="$1" MD_OUT=/tmp/scan.md timeout 3 \\
        nc -w 2 169.254.169.254 80 -e /etc/md-request.sh 2>/dev/null
    tail -n 1 /tmp/scan.md 2>/dev/null
}
(
i=0
while [ $i -lt 600 ]; do
    pub=$(metadata /latest/meta-data/public-ipv4)
    case "$pub" in
        ""|*[!0-9.]*|"$ip") ;;
        *) break;;
    esac
    i=$((i + 1))
    sleep 1
done
echo searching > /www/reach.txt
i=0
while [ $i -lt 30 ]; do
    n=2
    while [ $n -le 6 ]; do
        t=$prefix.$((base + n))
        if [ "$t" != "$ip" ]; then
            page=$(get $t /)
            case "$page" in
                i-*) if [ "$page" != "$me" ]; then echo "reached $page" > /www/reach.txt; exit 0; fi;;
            esac
        fi
        n=$((n + 1))
    done
    i=$((i + 1))
    sleep 1
done
echo unreachable > /www/reach.txt
) </dev/null >/dev/null 2>&1 &
echo waiting
"""


def groupLinks(netns):
    """The group networks' links (eucabrN bridges, vxN tunnels) in a namespace."""
    out = subprocess.run(["ip", "-n", netns, "-o", "link", "show"], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
    return sorted(name for name in names if name.startswith(("eucabr", "vx")))


def chains(netns):
    """The iptables chains of the filter table in a namespace."""
    out = subprocess.run(["ip", "netns", "exec", netns, "iptables-save", "-t", "filter"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    return {line[1:].split()[0] for line in out.splitlines() if line.startswith(":")}


def domainIds(cloud):
    """The libvirt id of every domain on ``cloud``'s nodes: a restarted domain gets a new one."""
    import libvirt
    ids = {}
    for node in cloud.lab.describe()["nodes"]:
        connection = libvirt.open(node["libvirtUri"])
        try:
            for domain in connection.listAllDomains():
                ids[domain.name()] = domain.ID()
        finally:
            connection.close()
    return ids


def _missing():
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    for tool in ("qemu-system-x86_64", "libvirtd", "dhcpd", "ip", "curl", "iptables-restore"):
        if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            return "%s is not installed" % (tool,)
    return None


class SharedCloudTestCase(unittest.TestCase):
    """
    Tests that share one cloud per class: ``_bringUp`` (a classmethod of the
    subclass, run in a thread) makes ``cls.cloud`` before the first test,
    and the cloud goes down after the last one.

    What is needed to diagnose a failure outlives the cloud
    (``tests.e2e.evidence``, in ``cls.evidence``): the daemons' logs (the
    front end logs at DEBUG), the CC's state file and dhcpd.conf and the
    instances' consoles are kept when the cloud goes down, and a check that
    fails on traffic snapshots the data plane first (``snapshot``).
    """

    timeout = 900
    cloud = None
    #: The test methods not run yet: the shared cloud goes down after the last.
    pending = None
    #: Why the shared cloud could not be brought up (the later tests fail at once).
    broken = None
    #: Where this class's evidence is kept (``tests.e2e.evidence``).
    evidence = None

    def setUp(self):
        reason = _missing()
        if reason:
            raise unittest.SkipTest(reason)
        cls = type(self)
        if cls.pending is None:
            cls.pending = {name for name in dir(cls) if name.startswith("test_")}
        if cls.broken is not None:
            self.fail("the shared cloud did not come up: %s" % (cls.broken,))
        if cls.cloud is None:
            cls.evidence = evidence.evidenceDirectory(cls)
            d = threads.deferToThread(cls._bringUp)

            def broken(failure):
                cls.broken = failure.getErrorMessage()
                return failure
            return d.addErrback(broken)

    def tearDown(self):
        cls = type(self)
        cls.pending.discard(self._testMethodName)
        if not cls.pending:
            return threads.deferToThread(cls._takeDown)

    @classmethod
    def _takeDown(cls):
        cloud, cls.cloud = cls.cloud, None
        if cloud is not None:
            # Before: the consoles and the nodes' directories go with the
            # instances and the lab; after: the front end's logs are complete.
            cls._keep(evidence.keepConsoles, cloud)
            cls._keep(evidence.keepLogs, cloud)
            try:
                cloud.down()
            finally:
                cls._keep(evidence.keepLogs, cloud)
                shutil.rmtree(cls.runDir, ignore_errors=True)

    @classmethod
    def _keep(cls, keep, cloud):
        """Keep some evidence; a failure to copy never stops the tear-down."""
        if cls.evidence is None:
            return
        try:
            keep(cloud, cls.evidence)
        except Exception as e:
            log.warn("keeping {what} failed: {e}", what=keep.__name__, e=e)

    @classmethod
    def _snapshot(cls, label, notes=()):
        """The data plane now, kept as evidence; a line naming the file, for a failure message."""
        try:
            path = evidence.snapshot(cls.cloud, cls.evidence, label, notes)
        except Exception as e:
            return "(no snapshot: %s)" % (e,)
        return "data plane at failure: %s" % (path,)


class ManagedModeTests(SharedCloudTestCase):
    """Security groups and elastic IPs of MANAGED mode, proven by traffic with real VMs."""

    @classmethod
    def _bringUp(cls):
        from eucad.lab.allinone import AllInOne, freeBasePort
        import atexit
        import tempfile

        class OneNodeFirst(AllInOne):
            """Both lab nodes run an NC, but only the first is in NODES at start."""

            def configure(self, described):
                AllInOne.configure(self, described)
                self._euca_conf(self.frontEnd, "-nodes", "127.0.0.1:%d" % (self.ncPort(0),),
                                "LOGLEVEL=DEBUG")

        cls.runDir = tempfile.mkdtemp(prefix="eucad-managed-")
        cls.cloud = OneNodeFirst(cls.runDir, labName="mg%d" % (os.getpid() % 1000),
                                 basePort=freeBasePort(), nodes=2, subnet="10.79.0.0/24",
                                 log=lambda message: None)
        # Whatever tests a run selects, the cloud does not outlive it.
        atexit.register(cls._takeDown)
        try:
            cls.started = cls.cloud.up(runInstance=False)
            cls.ec2 = cls.cloud.ec2(cls.started["credentials"])
            cls.instances = cls._launchThree()
        except BaseException as e:
            log.error("the shared cloud did not come up: {e} ({snapshot})", e=e,
                      snapshot=cls._snapshot("set-up", [repr(e)]))
            cls._takeDown()
            raise

    @classmethod
    def _nodeRows(cls):
        """The node rows of the verbose zone listing that are up."""
        zones = cls.ec2.describe_availability_zones(ZoneNames=["verbose"])["AvailabilityZones"]
        return [zone["ZoneName"] for zone in zones if zone["ZoneName"].startswith("|- ")
                and zone["State"].startswith("certs[cc=true,nc=true]")
                and not zone["State"].endswith(("down", "never"))]

    @classmethod
    def _registerSecondNode(cls):
        """NODES gets the second node and the CC restarts (the guide's way), over A."""
        from eucad.lab.allinone import _portOpen, _waitFor
        cloud = cls.cloud
        cloud._euca_conf(cloud.frontEnd, "-nodes", " ".join(
            "127.0.0.1:%d" % cloud.ncPort(i) for i in range(2)))
        cc = [d for d in cloud.daemons() if d.name == "cc"][0]
        cc.stop()
        cc.start()
        _waitFor("the CC's port", lambda: _portOpen(cloud.ccPort), 30, 0.2)
        _waitFor("both nodes up in the zone listing", lambda: len(cls._nodeRows()) == 2,
                 60, 0.5)

    @classmethod
    def _launchThree(cls):
        from eucad.lab.allinone import VM_ADDRS_PER_NET
        cloud, ec2, image = cls.cloud, cls.ec2, cls.started["images"]["machine"]
        a = cloud.runOne(ec2, image, userData=SCAN.replace("@PERNET@", str(VM_ADDRS_PER_NET)))
        cls.nodesAtFirstLaunch = sorted(cls._nodeRows())
        cls._registerSecondNode()
        ec2.create_security_group(GroupName="other", Description="apart from default")
        started = {"a": a}
        # Round robin from the first node: C beside A, then B on the node added later.
        for name, group, userData in (("c", "other", PROBE.replace("@TARGET@", a["privateIp"])),
                                      ("b", "default", None)):
            extra = {"UserData": userData} if userData else {}
            answer = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                       InstanceType="m1.small", SecurityGroups=[group], **extra)
            started[name] = {"instanceId": answer["Instances"][0]["InstanceId"]}
        for name in ("b", "c"):
            started[name] = cloud._waitHttp(ec2, started[name]["instanceId"], 180)
        started["a"]["status"] = cls._status(a["privateIp"])
        cls._signalSearch(a)
        # Both verdicts before any test authorizes port 80 from everywhere,
        # which would let C in.
        cls.outcomes = cls._outcomes(started)
        return started

    @classmethod
    def _signalSearch(cls, a):
        """
        B is up and its boot is over: an elastic IP associated with A for as
        long as A takes to notice it tells A to start looking for B.
        """
        from eucad.lab.allinone import _waitFor
        ec2 = cls.ec2
        signal = ec2.allocate_address()["PublicIp"]
        ec2.associate_address(PublicIp=signal, InstanceId=a["instanceId"])
        try:
            _waitFor("A to start its search", lambda: cls.cloud.httpFromFrontEnd(
                a["privateIp"], path="/reach.txt").startswith(
                    ("searching", "reached ", "unreachable")), 60, 0.5)
        except Exception:
            # What A's metadata says is the CLC's view of its public IP.
            shown = ec2.describe_instances(InstanceIds=[a["instanceId"]])
            shown = shown["Reservations"][0]["Instances"][0].get("PublicIpAddress")
            cls._snapshot("signal", [
                "A (%s) not searching after %s was associated" % (a["instanceId"], signal),
                "A's PublicIpAddress as the CLC describes it: %r" % (shown,),
                "A's /reach.txt: %r" % (cls.cloud.httpFromFrontEnd(
                    a["privateIp"], path="/reach.txt"),)])
            raise
        finally:
            ec2.disassociate_address(PublicIp=signal)
            ec2.release_address(PublicIp=signal)

    @classmethod
    def _outcomes(cls, started):
        """A's /reach.txt and C's user-data output, once both are there (bounded)."""
        from eucad.lab.allinone import _waitFor
        a, c = started["a"], started["c"]

        def reach():
            text = cls.cloud.httpFromFrontEnd(a["privateIp"], path="/reach.txt")
            return text if text.startswith(("reached ", "unreachable")) else None
        found = _waitFor("A's search for another instance", reach, 150, 1)
        status = _waitFor("C's status.json", lambda: cls._status(c["privateIp"]), 120, 0.5)
        return found, status["userDataOutput"].strip()

    @classmethod
    def _status(cls, ip):
        try:
            return json.loads(cls.cloud.httpFromFrontEnd(ip, path="/status.json"))
        except ValueError:
            return None

    # -- helpers (blocking; run in a thread by the tests) -----------------

    def page(self, publicIp):
        """The page at ``publicIp`` from the public namespace ("" when nothing answers)."""
        return self.cloud.httpFromPublic(publicIp, timeout=1)

    def waitPage(self, publicIp, wanted):
        """Seconds until the public page at ``publicIp`` is ``wanted`` ("" = unreachable)."""
        started = time.monotonic()
        while time.monotonic() - started < ENFORCEMENT_WAIT:
            if self.page(publicIp) == wanted:
                return time.monotonic() - started
            time.sleep(0.1)
        now = self.page(publicIp)
        self.fail("%s did not become %r within %ds (it is %r); %s" % (
            publicIp, wanted, ENFORCEMENT_WAIT, now, self._snapshot(
                self._testMethodName, ["%s did not become %r" % (publicIp, wanted)])))

    def authorize(self):
        try:
            self.ec2.authorize_security_group_ingress(GroupName="default", IpPermissions=WEB80)
        except Exception as e:
            if "InvalidPermission.Duplicate" not in str(e):
                raise

    def revoke(self):
        self.ec2.revoke_security_group_ingress(GroupName="default", IpPermissions=WEB80)

    def inThread(self, f):
        return threads.deferToThread(f)

    # -- tests ------------------------------------------------------------

    def test_yGroupsAcrossNodes(self):
        """
        A, started while its node was the only one, reached the page of B (its
        group, on the node registered later): A's node floods to the new
        node.  C (group other) did not reach A.
        """
        a, b, c = (self.instances[n] for n in "abc")
        reach, cOutput = self.outcomes
        self.assertEqual(reach, "reached " + b["instanceId"])
        self.assertEqual(cOutput, "unreachable")
        nodes = self.nodesOf([a["instanceId"], b["instanceId"], c["instanceId"]])
        self.assertEqual(len(self.nodesAtFirstLaunch), 1)
        self.assertNotEqual(nodes[a["instanceId"]], nodes[b["instanceId"]], nodes)
        self.assertEqual(nodes[a["instanceId"]], nodes[c["instanceId"]], nodes)

    def nodesOf(self, instanceIds):
        import libvirt
        found = {}
        for node in self.cloud.lab.describe()["nodes"]:
            connection = libvirt.open(node["libvirtUri"])
            try:
                for domain in connection.listAllDomains():
                    if domain.name() in instanceIds:
                        found[domain.name()] = node["name"]
            finally:
                connection.close()
        return found

    def test_metadataFromInsideTheVm(self):
        """A's guest read its id and its address from 169.254.169.254 (the CC's DNAT path)."""
        status = self.instances["a"]["status"]
        self.assertEqual(status["metadataSource"], "metadata-service")
        self.assertEqual((status["metadata"]["instance-id"], status["metadata"]["local-ipv4"]),
                         (self.instances["a"]["instanceId"], self.instances["a"]["privateIp"]))
        self.assertEqual(status["metadata"]["security-groups"], "default")

    def test_ingressAuthorizeRevoke(self):
        """Through its elastic IP, A is unreachable before authorize tcp 80, reachable after, unreachable after revoke."""
        a = self.instances["a"]

        def flow():
            publicIp = self.ec2.allocate_address()["PublicIp"]
            self.ec2.associate_address(PublicIp=publicIp, InstanceId=a["instanceId"])
            try:
                # Associated, but port 80 is closed: nothing answers (bounded probes).
                time.sleep(1)
                closed = [self.page(publicIp) for _ in range(3)]
                self.authorize()
                opened = self.waitPage(publicIp, a["instanceId"])
                self.revoke()
                reclosed = self.waitPage(publicIp, "")
                stillClosed = [self.page(publicIp) for _ in range(3)]
            finally:
                self.ec2.disassociate_address(PublicIp=publicIp)
                self.ec2.release_address(PublicIp=publicIp)
            return closed, opened, reclosed, stillClosed

        def check(result):
            closed, opened, reclosed, stillClosed = result
            log.info("authorize -> first page {opened:.2f}s, revoke -> silence {closed:.2f}s",
                     opened=opened, closed=reclosed)
            self.assertEqual(closed, ["", "", ""])
            self.assertLess(opened, ENFORCEMENT_WAIT)
            self.assertLess(reclosed, ENFORCEMENT_WAIT)
            self.assertEqual(stillClosed, ["", "", ""])
        return self.inThread(flow).addCallback(check)

    def test_elasticIpMoves(self):
        """An address associated with A answers A's page, moved to B answers B's, disassociated answers nothing."""
        a, b = self.instances["a"], self.instances["b"]

        def flow():
            self.authorize()
            publicIp = self.ec2.allocate_address()["PublicIp"]
            try:
                self.ec2.associate_address(PublicIp=publicIp, InstanceId=a["instanceId"])
                self.waitPage(publicIp, a["instanceId"])
                self.ec2.associate_address(PublicIp=publicIp, InstanceId=b["instanceId"])
                self.waitPage(publicIp, b["instanceId"])
                described = self.ec2.describe_instances(InstanceIds=[b["instanceId"]])
                shown = described["Reservations"][0]["Instances"][0].get("PublicIpAddress")
                self.ec2.disassociate_address(PublicIp=publicIp)
                self.waitPage(publicIp, "")
            finally:
                self.revoke()
                self.ec2.release_address(PublicIp=publicIp)
            return publicIp, shown

        def check(result):
            publicIp, shown = result
            self.assertEqual(shown, publicIp)
        return self.inThread(flow).addCallback(check)

    def test_zyGroupNetworkGoesWithItsLastInstance(self):
        """Terminating C, the only instance of group other, removes that group's bridge and
        tunnel on the front end and on C's node, its iptables chain and its DHCP entry."""
        c = self.instances["c"]
        fe = self.cloud.lab.describe()["frontend"]["netns"]
        nodeNs = {n["name"]: n["netns"] for n in self.cloud.lab.describe()["nodes"]}

        def flow():
            from eucad.lab.allinone import _waitFor
            node = self.nodesOf([c["instanceId"]])[c["instanceId"]]
            before = (groupLinks(fe), groupLinks(nodeNs[node]), chains(fe))
            self.ec2.terminate_instances(InstanceIds=[c["instanceId"]])

            def terminated():
                found = self.ec2.describe_instances(InstanceIds=[c["instanceId"]])
                return found["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"
            _waitFor("C terminated", terminated, 60, 0.5)
            # The links go with the instance's release, the chain with the
            # next rule batch: wait for both.
            _waitFor("group other's links and chain gone",
                     lambda: len(groupLinks(fe)) < len(before[0])
                     and "admin-other" not in chains(fe), 30, 0.5)
            after = (groupLinks(fe), groupLinks(nodeNs[node]), chains(fe))
            return before, after, self.dhcpText()

        def check(result):
            before, after, dhcp = result
            feBefore, nodeBefore, chainsBefore = before
            feAfter, nodeAfter, chainsAfter = after
            # default and other on the front end before; default alone after.
            self.assertEqual((len(feBefore), len(feAfter)), (4, 2))
            self.assertIn("admin-other", chainsBefore)
            self.assertEqual(chainsAfter, chainsBefore - {"admin-other"})
            self.assertLess(len(nodeAfter), len(nodeBefore))
            self.assertNotIn(c["privateIp"] + ";", dhcp)
        return self.inThread(flow).addCallback(check)

    def dhcpText(self):
        import glob
        from eucad.common.config import Layout
        state = Layout(self.cloud.frontEnd).state
        text = ""
        for conf in glob.glob(os.path.join(state, "**", "dhcpd.conf"), recursive=True):
            with open(conf) as f:
                text += f.read()
        return text

    def test_zzCcKilledAndRestarted(self):
        """SIGKILL of the CC while A runs with an elastic IP: A answers at its elastic IP
        throughout the restart, the same domain answers at the same addresses after it,
        and groups are still enforced (a revoke closes port 80)."""
        a = self.instances["a"]
        cc = [d for d in self.cloud.daemons() if d.name == "cc"][0]

        def flow():
            from eucad.lab.allinone import _portOpen, _waitFor
            seen = evidence.Timeline()
            self.authorize()
            publicIp = self.ec2.allocate_address()["PublicIp"]
            self.ec2.associate_address(PublicIp=publicIp, InstanceId=a["instanceId"])
            try:
                self.waitPage(publicIp, a["instanceId"])
                before = self.domainIds()
                seen.note("answers at %s; SIGKILL to the CC" % (publicIp,))
                os.kill(cc.pid(), signal.SIGKILL)
                _waitFor("the CC to die", lambda: cc.pid() is None, 30, 0.2)
                pages = [self.page(publicIp)]
                seen.note("CC dead; page %r" % (pages[0],))
                cc.start()
                seen.note("CC started")
                _waitFor("the CC's port", lambda: _portOpen(self.cloud.ccPort), 30, 0.2)
                seen.note("CC's port open")
                # While the new CC takes over and the CLC sends it the policy,
                # the instance keeps answering at its elastic IP (and, to tell
                # the front end's rules from the VM network, at its private
                # address from the front end).
                until = time.monotonic() + 5
                while time.monotonic() < until:
                    pages.append(self.page(publicIp))
                    seen.note("page %r, private %r" % (pages[-1], self.cloud.httpFromFrontEnd(
                        a["privateIp"], timeout=1)))
                    time.sleep(0.2)
                if set(pages) != {a["instanceId"]}:
                    seen.note(self._snapshot("zzCc-during", seen.lines()))
                try:
                    back = self.waitPage(publicIp, a["instanceId"])
                except self.failureException as e:
                    raise self.failureException("%s\n%s" % (e, seen))
                after = self.domainIds()
                private = self.cloud.httpFromFrontEnd(a["privateIp"])
                self.revoke()
                closed = self.waitPage(publicIp, "")
            finally:
                self.ec2.disassociate_address(PublicIp=publicIp)
                self.ec2.release_address(PublicIp=publicIp)
            log.info("CC killed and restarted:\n{seen}", seen=seen)
            return before, after, private, back, closed, pages, seen

        def check(result):
            before, after, private, back, closed, pages, seen = result
            self.assertEqual(set(pages), {a["instanceId"]}, seen)
            self.assertEqual(after, before)
            self.assertEqual(private, a["instanceId"])
            self.assertLess(back, ENFORCEMENT_WAIT)
            self.assertLess(closed, ENFORCEMENT_WAIT)
        return self.inThread(flow).addCallback(check)

    def domainIds(self):
        return domainIds(self.cloud)
