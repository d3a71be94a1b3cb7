"""The lab: a front end, a switch, N nodes and the outside world, in namespaces.

::

    [pub] eth0 ==veth== pub0 [fe] priv0 ==veth== p-fe [sw] sw0 (bridge)
                                                        p-n1 ==veth== eth0 in br0 [n1] libvirtd
                                                        p-n2 ==veth== eth0 in br0 [n2] libvirtd

The front end holds the cluster's private router address (dhcpd, iptables
and the CC data plane run there) and a public address facing ``pub``, the
stand-in for the internet.  The switch has its own namespace because
bridged frames pass the iptables of the namespace owning the bridge.  Each
node bridges its ethernet into ``br0`` and runs its own libvirtd.

Namespaces are named ``<lab>-fe``, ``<lab>-sw``, ``<lab>-n1``..., ``<lab>-pub``
so that several labs can exist at once.  The lab's state is kept in
``<dir>/lab.json``: ``down()`` works from another process, and also after an
``up()`` that failed half-way.  Used by ``eucad-lab`` and by the end-to-end
tests; the CC and NC are pointed at what L{Lab.describe} returns.
"""

import ipaddress
import json
import os
import re
import shutil
import signal
import threading
import time

from eucad.common.atomicfile import writeAtomically
from eucad.lab import netns
from eucad.lab.commands import CommandRunner
from eucad.lab.libvirtd import NodeLibvirtd, libvirtUri, runDirectory
from eucad.lab.ownedprocess import OwnedProcess, startTime

STATE_FILE = "lab.json"
# Nodes' /run/libvirt when <dir>/nN/run is too deep for a socket path.
SHORT_RUN_ROOT = "/run/eucad-lab"
LAB_NAME = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
MAX_NODES = 64

FE_PRIVATE = "priv0"
FE_PUBLIC = "pub0"
PUB_INTERFACE = "eth0"
SWITCH_BRIDGE = "sw0"
NODE_UPLINK = "eth0"
NODE_BRIDGE = "br0"
#: Where VMs ask for their metadata (EC2's link-local address).
METADATA_ADDRESS = "169.254.169.254"


class LabError(Exception):
    """The lab could not be brought up or taken down completely."""


def normaliseSubnet(subnet):
    """"10.77.0.0/24" as is; a bare three-octet prefix "10.77.0" means its /24."""
    if "/" not in subnet and subnet.count(".") == 2:
        return subnet + ".0/24"
    return subnet


class AddressPlan:
    """
    Who gets which address: fe is the first host of the private subnet,
    nodes the next ones; pub is the last host of the public subnet, fe's
    public address its first.
    """

    def __init__(self, subnet, publicSubnet, nodes):
        self.private = ipaddress.IPv4Network(normaliseSubnet(subnet))
        self.public = ipaddress.IPv4Network(publicSubnet)
        hosts = list(self.private.hosts())
        if len(hosts) < nodes + 2:
            raise ValueError("subnet %s is too small for %d nodes" % (subnet, nodes))
        publicHosts = list(self.public.hosts())
        if len(publicHosts) < 2:
            raise ValueError("public subnet %s is too small" % (publicSubnet,))
        self.router = str(hosts[0])
        self.nodes = [str(h) for h in hosts[1:nodes + 1]]
        self.frontEndPublic = str(publicHosts[0])
        self.pub = str(publicHosts[-1])

    def privateCidr(self, address):
        return "%s/%d" % (address, self.private.prefixlen)

    def publicCidr(self, address):
        return "%s/%d" % (address, self.public.prefixlen)


class Lab:
    """
    One lab on this machine.

    @param name: prefix of its namespace names (lowercase, digits, '-').
    @param baseDir: where its state file and the nodes' directories live.
    @param nodes: how many node namespaces (n1..nN).
    @param subnet: the cluster's private network (fe .1, nodes .2...).
    @param publicSubnet: the network between fe and pub.
    @param withLibvirt: start a libvirtd per node (False: network only).
    @param runner: runs the commands (a recorder in unit tests).
    """

    def __init__(self, name, baseDir, nodes=2, subnet="10.77.0.0/24",
                 publicSubnet="192.0.2.0/24", withLibvirt=True, runner=None,
                 libvirtdFactory=NodeLibvirtd, log=None):
        if not LAB_NAME.match(name):
            raise ValueError("lab name %r: use 1-24 of a-z, 0-9 and '-', starting with a letter"
                             % (name,))
        if not 1 <= nodes <= MAX_NODES:
            raise ValueError("a lab has 1 to %d nodes, not %r" % (MAX_NODES, nodes))
        self.name = name
        self.baseDir = os.path.abspath(baseDir)
        self.nodeCount = nodes
        self.subnet = subnet
        self.publicSubnet = publicSubnet
        self.plan = AddressPlan(subnet, publicSubnet, nodes)
        self.withLibvirt = withLibvirt
        self.runner = runner or CommandRunner()
        self.libvirtdFactory = libvirtdFactory
        self.log = log or (lambda message: None)
        self._daemons = {}

    # -- names ---------------------------------------------------------

    @property
    def statePath(self):
        return os.path.join(self.baseDir, STATE_FILE)

    def namespace(self, role):
        """``fe``, ``sw``, ``pub`` or a node name -> the namespace's name."""
        return "%s-%s" % (self.name, role)

    def nodeNames(self):
        return ["n%d" % (i,) for i in range(1, self.nodeCount + 1)]

    def allNamespaces(self):
        return [self.namespace(r) for r in ["pub", "fe", "sw"] + self.nodeNames()]

    def nodeDir(self, node):
        return os.path.join(self.baseDir, node)

    def nodeRunDir(self, node):
        """What the node's libvirtd sees as /run/libvirt (its socket is there)."""
        return runDirectory(self.nodeDir(node), os.path.join(SHORT_RUN_ROOT, self.name, node))

    # -- what the rest of eucad is told --------------------------------

    def describe(self):
        """Everything a CC, an NC or a test needs to use this lab."""
        plan = self.plan
        frontEnd = {
            "netns": self.namespace("fe"),
            "privateInterface": FE_PRIVATE,
            "interface": FE_PRIVATE,
            "address": plan.router,
            "subnet": str(plan.private.network_address),
            "netmask": str(plan.private.netmask),
            "prefixLength": plan.private.prefixlen,
            "broadcast": str(plan.private.broadcast_address),
            "router": plan.router,
            "publicInterface": FE_PUBLIC,
            "publicAddress": plan.frontEndPublic,
            "publicSubnet": str(plan.public.network_address),
            "publicNetmask": str(plan.public.netmask),
            "metadataAddress": METADATA_ADDRESS,
        }
        return {
            "name": self.name,
            "dir": self.baseDir,
            "namespaces": {"fe": self.namespace("fe"), "sw": self.namespace("sw"),
                           "pub": self.namespace("pub"),
                           "nodes": [self.namespace(n) for n in self.nodeNames()]},
            "fe": frontEnd,
            "frontend": frontEnd,  # the same, by its long name
            "pub": {
                "netns": self.namespace("pub"),
                "interface": PUB_INTERFACE,
                "address": plan.pub,
                "subnet": str(plan.public.network_address),
                "netmask": str(plan.public.netmask),
                "prefixLength": plan.public.prefixlen,
            },
            "nodes": [
                {"name": node, "netns": self.namespace(node), "address": address,
                 "bridge": NODE_BRIDGE, "interface": NODE_UPLINK,
                 "libvirtUri": libvirtUri(self.nodeRunDir(node)) if self.withLibvirt else None,
                 "dir": self.nodeDir(node)}
                for node, address in zip(self.nodeNames(), plan.nodes)],
        }

    # -- the plan as commands ------------------------------------------

    def networkCommands(self):
        """Every command that wires the namespaces, in order (after netns add)."""
        plan = self.plan
        fe, sw, pub = self.namespace("fe"), self.namespace("sw"), self.namespace("pub")
        commands = [netns.setLinkUp(ns, "lo") for ns in self.allNamespaces()]
        commands += [
            netns.addBridge(sw, SWITCH_BRIDGE),
            netns.setLinkUp(sw, SWITCH_BRIDGE),
            netns.addVethPair(fe, FE_PRIVATE, sw, "p-fe"),
            netns.setMaster(sw, "p-fe", SWITCH_BRIDGE),
            netns.setLinkUp(sw, "p-fe"),
            netns.addAddress(fe, FE_PRIVATE, plan.privateCidr(plan.router)),
            netns.setLinkUp(fe, FE_PRIVATE),
            netns.addVethPair(pub, PUB_INTERFACE, fe, FE_PUBLIC),
            netns.addAddress(pub, PUB_INTERFACE, plan.publicCidr(plan.pub)),
            netns.setLinkUp(pub, PUB_INTERFACE),
            netns.addAddress(fe, FE_PUBLIC, plan.publicCidr(plan.frontEndPublic)),
            netns.setLinkUp(fe, FE_PUBLIC),
            netns.addDefaultRoute(fe, plan.pub),
            netns.setSysctl(fe, "net.ipv4.ip_forward", 1),
            # VMs' metadata requests end here: the CLC listens on this address
            # inside the front end (METADATA_NETNS), so no DNAT is needed.
            netns.addAddress(fe, "lo", METADATA_ADDRESS + "/32"),
        ]
        for node, address in zip(self.nodeNames(), plan.nodes):
            ns = self.namespace(node)
            port = "p-" + node
            commands += [
                netns.addVethPair(ns, NODE_UPLINK, sw, port),
                netns.setMaster(sw, port, SWITCH_BRIDGE),
                netns.setLinkUp(sw, port),
                netns.addBridge(ns, NODE_BRIDGE),
                netns.setMaster(ns, NODE_UPLINK, NODE_BRIDGE),
                netns.setLinkUp(ns, NODE_UPLINK),
                netns.setLinkUp(ns, NODE_BRIDGE),
                netns.addAddress(ns, NODE_BRIDGE, plan.privateCidr(address)),
                netns.addDefaultRoute(ns, plan.router),
            ]
        return commands

    # -- state ---------------------------------------------------------

    def _parameters(self):
        # The metadata address is here so that a lab made before the front
        # end had it is not taken as healthy, but made again.
        return {"name": self.name, "nodes": self.nodeCount, "subnet": self.subnet,
                "publicSubnet": self.publicSubnet, "withLibvirt": self.withLibvirt,
                "metadataAddress": METADATA_ADDRESS}

    def _loadState(self):
        try:
            with open(self.statePath) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def _saveState(self, state):
        writeAtomically(self.statePath, json.dumps(state, indent=2, sort_keys=True))

    @classmethod
    def load(cls, baseDir, runner=None, log=None):
        """The lab whose state is in ``baseDir`` (made by another process)."""
        with open(os.path.join(baseDir, STATE_FILE)) as f:
            state = json.load(f)
        p = state["parameters"]
        return cls(p["name"], baseDir, p["nodes"], p["subnet"], p["publicSubnet"],
                   p["withLibvirt"], runner=runner, log=log)

    # -- up and down ---------------------------------------------------

    def foreignNamespaces(self):
        """
        Namespaces with this lab's names that exist but that this lab's
        state file does not record: another lab of the same name, made from
        another directory, which ``up`` must not take over or tear down.
        """
        recorded = set((self._loadState() or {}).get("namespaces", []))
        existing = self.runner.namespaces()
        return sorted(ns for ns in self.allNamespaces() if ns in existing and ns not in recorded)

    def healthy(self):
        """True when the saved state matches this lab and all its parts live."""
        state = self._loadState()
        if not state or not state.get("complete") or state.get("parameters") != self._parameters():
            return False
        existing = self.runner.namespaces()
        if any(ns not in existing for ns in self.allNamespaces()):
            return False
        if self.withLibvirt:
            for node in self.nodeNames():
                saved = state.get("libvirtd", {}).get(node)
                if not saved or not OwnedProcess.fromJson(saved).alive():
                    return False
        return True

    def up(self):
        """Bring the lab up (nothing to do if it is already healthy); return describe()."""
        if self.healthy():
            return self.describe()
        started = time.monotonic()
        self.down()
        createdDir = not os.path.isdir(self.baseDir)
        os.makedirs(self.baseDir, exist_ok=True)
        state = {"parameters": self._parameters(), "createdDir": createdDir,
                 "namespaces": [], "libvirtd": {}, "nodeDirs": [], "complete": False}
        self._saveState(state)
        try:
            for ns in self.allNamespaces():
                self.runner.run(netns.addNamespace(ns))
                state["namespaces"].append(ns)
                self._saveState(state)
            for argv in self.networkCommands():
                self.runner.run(argv)
            if self.withLibvirt:
                self._startLibvirtds(state)
        except Exception as e:
            self.log("lab %s: up failed (%s), taking down what was made" % (self.name, e))
            self.down()
            raise
        state["complete"] = True
        state["describe"] = self.describe()
        self._saveState(state)
        self.log("lab %s up in %.2fs" % (self.name, time.monotonic() - started))
        return self.describe()

    def _startLibvirtds(self, state):
        daemons = {}
        for node in self.nodeNames():
            directory, runDir = self.nodeDir(node), self.nodeRunDir(node)
            state["nodeDirs"].append(directory)
            if not runDir.startswith(directory + os.sep):
                state.setdefault("runDirs", []).append(runDir)
            self._saveState(state)
            daemon = self.libvirtdFactory(self.namespace(node), directory, self.runner,
                                          runDir=runDir)
            process = daemon.start()
            daemons[node] = daemon
            self._daemons[node] = daemon
            state["libvirtd"][node] = process.toJson()
            self._saveState(state)
        for daemon in daemons.values():
            daemon.waitReady()
        # Warming probes QEMU (0.7 s each); do the nodes side by side.
        failures = []

        def warm(daemon):
            try:
                daemon.warmCapabilities()
            except Exception as e:
                failures.append(e)
        threads = [threading.Thread(target=warm, args=(d,)) for d in daemons.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        if failures:
            raise LabError("warming libvirt's capability cache failed: %s" % (failures[0],))

    def down(self):
        """
        Remove every namespace, process and directory of this lab: those in
        the state file and, if it is missing, the namespaces that carry this
        lab's names.  Safe to call at any time, any number of times.
        """
        started = time.monotonic()
        state = self._loadState() or {}
        problems = []
        for node, saved in sorted(state.get("libvirtd", {}).items()):
            daemon = self._daemons.get(node)
            if daemon is not None and daemon.process is not None:
                process = daemon.process  # ours: can be reaped here
            else:
                process = OwnedProcess.fromJson(saved)
            if not process.terminate(20.0):
                problems.append("libvirtd of %s (pid %s) would not stop" % (node, process.pid))
        self._daemons = {}
        ours = set(self.allNamespaces()) | set(state.get("namespaces", []))
        existing = self.runner.namespaces()
        for ns in sorted(ours & existing):
            problems += self._endProcessesIn(ns)
        for ns in sorted(ours & existing):
            self.runner.run(netns.deleteNamespace(ns), check=False)
        left = ours & self.runner.namespaces()
        if left:
            problems.append("namespaces not deleted: %s" % (", ".join(sorted(left)),))
        if not problems:
            self._removeDirectories(state)
        if problems:
            raise LabError("lab %s not fully down: %s" % (self.name, "; ".join(problems)))
        self.log("lab %s down in %.2fs" % (self.name, time.monotonic() - started))

    def _endProcessesIn(self, ns):
        """Processes still in one of our namespaces were started by its users: end them."""
        code, out, _ = self.runner.run(netns.namespacePids(ns), check=False)
        pids = [int(p) for p in out.split() if p.isdigit()] if code == 0 else []
        leftovers = [OwnedProcess(pid, startTime(pid)) for pid in pids]
        for process in leftovers:
            self.log("lab %s: ending pid %d left in %s" % (self.name, process.pid, ns))
            process.signal(signal.SIGTERM)
        problems = []
        for process in leftovers:
            if not process.waitGone(10.0):
                process.signal(signal.SIGKILL)
                if not process.waitGone(5.0):
                    problems.append("pid %d in %s would not end" % (process.pid, ns))
        return problems

    def _removeDirectories(self, state):
        for directory in state.get("nodeDirs", []) + state.get("runDirs", []):
            shutil.rmtree(directory, ignore_errors=True)
        for directory in (os.path.join(SHORT_RUN_ROOT, self.name), SHORT_RUN_ROOT):
            try:
                os.rmdir(directory)  # only when empty: other labs may use it
            except OSError:
                pass
        for node in self.nodeNames():
            # Left by an up() that died before writing its state.
            if os.path.isdir(os.path.join(self.nodeDir(node), "etc")):
                shutil.rmtree(self.nodeDir(node), ignore_errors=True)
        if os.path.exists(self.statePath):
            os.unlink(self.statePath)
        if state.get("createdDir") and os.path.isdir(self.baseDir):
            shutil.rmtree(self.baseDir, ignore_errors=True)

    def status(self):
        """describe() plus what exists right now."""
        existing = self.runner.namespaces()
        state = self._loadState() or {}
        result = self.describe()
        result["up"] = self.healthy()
        result["namespacesPresent"] = {ns: ns in existing for ns in self.allNamespaces()}
        result["libvirtdAlive"] = {
            node: OwnedProcess.fromJson(saved).alive()
            for node, saved in state.get("libvirtd", {}).items()}
        return result
