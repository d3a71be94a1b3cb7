"""The site's own DHCP server, for a lab cloud in SYSTEM mode.

In SYSTEM mode the cloud hands out no addresses: VMs join the nodes' bridge
and ask whatever DHCP server the site runs.  Here that server is an ISC
dhcpd in a namespace of its own (``<lab>-site``), wired to the lab's switch
like any other host on the cluster's ethernet, with a dynamic range the
cloud knows nothing about.  ``up`` needs the lab's switch; ``down`` removes
the namespace, the process and the files, and can run any number of times.
"""

import ipaddress
import os
import shutil
import signal

from eucad.common.atomicfile import writeAtomically
from eucad.lab import netns
from eucad.lab.commands import CommandRunner
from eucad.lab.ownedprocess import OwnedProcess, startTime
from eucad.lab.topology import SWITCH_BRIDGE

SITE_INTERFACE = "eth0"
SWITCH_PORT = "p-site"
#: The server's host number and its range, inside the lab's private subnet.
SERVER_HOST = 250
RANGE = (150, 199)


def dhcpdConfig(subnet, netmask, router, first, last, lease=600):
    """The dhcpd.conf of a plain site server: one subnet, one dynamic range."""
    return ("authoritative;\n"
            "default-lease-time %d;\nmax-lease-time %d;\n"
            "subnet %s netmask %s {\n"
            "  range %s %s;\n"
            "  option routers %s;\n"
            "  option subnet-mask %s;\n"
            "}\n" % (lease, lease, subnet, netmask, first, last, router, netmask))


class SiteDhcpServer:
    """
    @param described: the lab's ``Lab.describe()``.
    @param directory: where the server's conf, leases, pid and log go.
    """

    def __init__(self, described, directory, runner=None):
        self.lab = described
        self.directory = os.path.abspath(directory)
        self.runner = runner or CommandRunner()
        self.namespace = "%s-site" % (described["name"],)
        network = ipaddress.IPv4Network("%s/%s" % (described["fe"]["subnet"],
                                                   described["fe"]["netmask"]))
        self.network = network
        self.address = str(network.network_address + SERVER_HOST)
        self.first = network.network_address + RANGE[0]
        self.last = network.network_address + RANGE[1]
        self.process = None

    @property
    def leasesPath(self):
        return os.path.join(self.directory, "dhcpd.leases")

    def inRange(self, address):
        """Whether ``address`` is inside the server's dynamic range."""
        return self.first <= ipaddress.IPv4Address(address) <= self.last

    def up(self):
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        sw = self.lab["namespaces"]["sw"]
        ns = self.namespace
        fe = self.lab["fe"]
        for argv in (netns.addNamespace(ns),
                     netns.setLinkUp(ns, "lo"),
                     netns.addVethPair(sw, SWITCH_PORT, ns, SITE_INTERFACE),
                     netns.setMaster(sw, SWITCH_PORT, SWITCH_BRIDGE),
                     netns.setLinkUp(sw, SWITCH_PORT),
                     netns.addAddress(ns, SITE_INTERFACE, "%s/%d" % (
                         self.address, self.network.prefixlen)),
                     netns.setLinkUp(ns, SITE_INTERFACE)):
            self.runner.run(argv)
        conf = os.path.join(self.directory, "dhcpd.conf")
        writeAtomically(conf, dhcpdConfig(fe["subnet"], fe["netmask"], fe["router"],
                                          self.first, self.last))
        with open(self.leasesPath, "a"):
            pass
        self.process = OwnedProcess.fromPopen(self.runner.spawn(
            netns.inNamespace(ns, ["dhcpd", "-4", "-d", "-cf", conf, "-lf", self.leasesPath,
                                   "-pf", os.path.join(self.directory, "dhcpd.pid"),
                                   SITE_INTERFACE]),
            os.path.join(self.directory, "dhcpd.log")))

    def leasedTo(self, mac):
        """The address the server's leases file gives ``mac`` last, or None."""
        try:
            with open(self.leasesPath) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        address = None
        for block in text.split("lease ")[1:]:
            head, _, body = block.partition("{")
            if ("hardware ethernet %s;" % (mac.lower(),)) in body.lower() and \
                    "binding state active;" in body:
                address = head.strip()
        return address

    def down(self):
        if self.process is not None:
            self.process.terminate(10.0)
            self.process = None
        if self.namespace in self.runner.namespaces():
            code, out, _ = self.runner.run(netns.namespacePids(self.namespace), check=False)
            for pid in (int(p) for p in out.split() if p.isdigit()):
                # Started in our namespace by us (dhcpd after a re-exec).
                OwnedProcess(pid, startTime(pid)).signal(signal.SIGTERM)
            self.runner.run(netns.deleteNamespace(self.namespace), check=False)
        shutil.rmtree(self.directory, ignore_errors=True)
