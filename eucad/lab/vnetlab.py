"""A namespace lab for the MANAGED data plane, with namespaces playing the VMs.

Used by the MANAGED lab tests and ``bench/network.py``: the topology of the
lab (LAB.md) without qemu::

    [pub] eth0 192.0.2.254 == pub0 192.0.2.1 [fe] priv0 10.77.0.1 == [sw] sw0
                                                      n1 eth0 10.77.0.2 ==//  \\\\== n2 eth0 10.77.0.3

A "VM" is a namespace whose eth0 is a veth into a node's group bridge; it
serves HTTP on port 80 answering its own name.  The front end is driven by
the real MANAGED mode through a ``ProcessRunner`` in the fe namespace; the
nodes' side of a group network (the tagged link, the bridge, the flood
peers) is made by ``NodeGroupLinks`` in each node namespace, playing the
part the node controller will play.

Nothing is done in the root namespace: every command names its namespace,
veth pairs are made with both ends in place.  ``destroy`` stops every
process this lab started (by its Popen) and deletes its namespaces.
"""

import ipaddress
import os
import subprocess
import sys

from twisted.internet import defer

from eucad.cc.vnet.nodelinks import NodeGroupLinks
from eucad.common.process import ProcessRunner
from eucad.lab import netns

SBIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

PUBLIC_CLIENT = "192.0.2.254"
FRONT_PUBLIC = "192.0.2.1"
FRONT_PRIVATE = "10.77.0.1"
NODES = {"n1": "10.77.0.2", "n2": "10.77.0.3"}
METADATA_PORT = 8773

#: ``python -c`` script: GET argv[1] with timeout argv[2]; body on stdout.
HTTP_GET = (
    "import sys, urllib.request\n"
    "try:\n"
    "    sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2]))"
    ".read().decode())\n"
    "except Exception as e:\n"
    "    print('error: %s' % (e,), file=sys.stderr); sys.exit(1)\n")

#: ``python -c`` script: an HTTP server on argv[1]:argv[2] answering argv[3].
HTTP_SERVE = (
    "import sys, http.server\n"
    "body = sys.argv[3].encode()\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers(); self.wfile.write(body)\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()\n")


def _environment():
    env = dict(os.environ)
    env["PATH"] = SBIN_PATH + ":" + env.get("PATH", "")
    return env


class VnetLab:
    """
    The namespaces of one MANAGED lab, named ``PREFIX-pub``, ``PREFIX-fe``...

    @ivar vms: name -> {"ns", "node", "ip", "tag", "server"}.
    """

    def __init__(self, prefix):
        self.prefix = prefix
        self.namespaces = []
        self.processes = []
        self.vms = {}
        #: node name -> NodeGroupLinks playing its node controller's part
        self.nodeLinks = {node: NodeGroupLinks(ProcessRunner(netns=self.ns(node)), "eth0",
                                               address) for node, address in NODES.items()}

    def ns(self, name):
        return "%s-%s" % (self.prefix, name)

    def run(self, argv, check=True):
        result = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                                timeout=30, env=_environment())
        if check and result.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), result.returncode,
                                                       result.stderr.strip()))
        return result

    def inNs(self, name, argv, check=True):
        return self.run(netns.inNamespace(self.ns(name), argv), check)

    def _namespace(self, name):
        self.run(netns.addNamespace(self.ns(name)))
        self.namespaces.append(self.ns(name))
        self.run(netns.setLinkUp(self.ns(name), "lo"))

    def settings(self, mode="MANAGED", **overrides):
        """The eucalyptus.conf values of the front end of this lab."""
        conf = {"VNET_MODE": mode, "VNET_ENCAP": "vxlan", "VNET_PUBINTERFACE": "pub0",
                "VNET_PRIVINTERFACE": "priv0", "VNET_SUBNET": "10.100.0.0",
                "VNET_NETMASK": "255.255.0.0", "VNET_ADDRSPERNET": "32",
                "VNET_DNS": FRONT_PRIVATE, "VNET_MTU": "1450",
                "VNET_PUBLICIPS": "192.0.2.10-192.0.2.19", "VNET_CLOUDIP": PUBLIC_CLIENT,
                "VNET_METADATA": "%s:%d" % (PUBLIC_CLIENT, METADATA_PORT),
                "VNET_LOCALIP": FRONT_PRIVATE, "VNET_BRIDGE": "br0"}
        conf.update(overrides)
        return conf

    def build(self):
        """Make pub, fe, the switch and the two nodes; serve "metadata" in pub."""
        for name in ("pub", "fe", "sw") + tuple(NODES):
            self._namespace(name)
        pub, fe, sw = self.ns("pub"), self.ns("fe"), self.ns("sw")
        self.run(netns.addVethPair(pub, "eth0", fe, "pub0"))
        self.run(netns.addAddress(pub, "eth0", PUBLIC_CLIENT + "/24"))
        self.run(netns.addAddress(fe, "pub0", FRONT_PUBLIC + "/24"))
        self.run(netns.addBridge(sw, "sw0"))
        self.run(netns.setLinkUp(sw, "sw0"))
        for name, address in [("fe", FRONT_PRIVATE)] + sorted(NODES.items()):
            device = "priv0" if name == "fe" else "eth0"
            self.run(netns.addVethPair(sw, "p-" + name, self.ns(name), device))
            self.run(netns.setMaster(sw, "p-" + name, "sw0"))
            self.run(netns.setLinkUp(sw, "p-" + name))
            self.run(netns.addAddress(self.ns(name), device, address + "/24"))
            self.run(netns.setLinkUp(self.ns(name), device))
        self.run(netns.setLinkUp(pub, "eth0"))
        self.run(netns.setLinkUp(fe, "pub0"))
        self.run(netns.setSysctl(fe, "net.ipv4.ip_forward", 1))
        self.serve("pub", PUBLIC_CLIENT, METADATA_PORT, "metadata")

    def serve(self, name, host, port, body):
        """Start an HTTP server in namespace ``name`` answering ``body``."""
        process = subprocess.Popen(
            netns.inNamespace(self.ns(name), [sys.executable, "-c", HTTP_SERVE, host,
                                              str(port), body]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_environment())
        self.processes.append(process)
        return process

    def addVm(self, name, node, spec, configure=True):
        """
        A "VM" on ``node`` with the node network ``spec`` the MANAGED mode gave
        (``nodeNetwork`` with the allocation's ``network`` and ``macAddress``):
        its own namespace, a veth with the instance's MAC into the bridge
        ``spec`` names (which must exist), and unless ``configure`` is false (DHCP will do it) the
        private address with the slice's router as default route.
        """
        self._namespace(name)
        tap = "t-" + name
        self.run(netns.addVethPair(self.ns(node), tap, self.ns(name), "eth0"))
        self.run(netns.setMaster(self.ns(node), tap, spec["bridge"]))
        self.run(netns.setLinkUp(self.ns(node), tap))
        network = ipaddress.IPv4Network(spec["network"])
        prefix, router = network.prefixlen, network.network_address + 1
        self.inNs(name, ["ip", "link", "set", "dev", "eth0", "mtu", "1450",
                         "address", spec["macAddress"]])
        self.run(netns.setLinkUp(self.ns(name), "eth0"))
        if configure:
            self.run(netns.addAddress(self.ns(name), "eth0",
                                      "%s/%d" % (spec["privateIp"], prefix)))
            self.run(netns.addDefaultRoute(self.ns(name), str(router)))
        server = self.serve(name, "0.0.0.0", 80, name)
        self.vms[name] = {"ns": self.ns(name), "node": node, "ip": spec["privateIp"],
                          "tag": spec.get("tag"), "server": server}

    def removeVm(self, name):
        """Stop "VM" ``name``: its server ends, its namespace and veth go."""
        vm = self.vms.pop(name)
        self._stop(vm["server"])
        self.processes.remove(vm["server"])
        self.run(netns.deleteNamespace(vm["ns"]))
        self.namespaces.remove(vm["ns"])

    def askDhcp(self, name, script):
        """
        Run one DHCP exchange from VM ``name`` (busybox udhcpc, asking for the
        MTU too) with ``script`` as its hook; returns udhcpc's result.
        """
        return self.inNs(name, ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "5",
                                "-T", "1", "-O", "mtu", "-s", script], check=False)

    def linkNames(self, node):
        """Names of the links in a node namespace (to count what was made)."""
        out = self.run(["ip", "-n", self.ns(node), "-o", "link", "show"]).stdout
        return sorted(line.split(":")[1].strip().split("@")[0] for line in out.splitlines())

    @staticmethod
    def _stop(process):
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def destroy(self):
        """Stop what this lab started and delete its namespaces."""
        for process in self.processes:
            self._stop(process)
        self.processes = []
        for name in reversed(self.namespaces):
            self.run(netns.deleteNamespace(name), check=False)
        self.namespaces = []


@defer.inlineCallbacks
def startVm(lab, network, name, node, owner, group, configure=True):
    """
    Run "VM" ``name`` of (owner, group) on ``node`` the way the cloud will:
    the mode allocates, the node makes its group links (and the group's
    other nodes learn the new flood peer), then the VM comes up.

    @return: Deferred firing with the allocation.
    """
    instanceId = "i-%08x" % (len(lab.vms) + 1,)
    allocation = yield network.allocate(instanceId, owner, group, node=NODES[node])
    spec = dict(network.nodeNetwork(allocation, owner, group),
                network=allocation["network"], macAddress=allocation["macAddress"])
    yield lab.nodeLinks[node].attach(instanceId, spec)
    tag = spec.get("tag")
    for other, nodeLinks in sorted(lab.nodeLinks.items()):
        if other != node and tag in nodeLinks.users and spec.get("encap") == "vxlan":
            yield nodeLinks.setPeers(tag, network.floodPeers(owner, group, NODES[other]))
    lab.addVm(name, node, spec, configure)
    lab.vms[name]["instanceId"] = instanceId
    return allocation


def getArgv(lab, name, url, timeout):
    """argv that fetches ``url`` from inside lab namespace ``name``."""
    return netns.inNamespace(lab.ns(name), [sys.executable, "-c", HTTP_GET, url, str(timeout)])
