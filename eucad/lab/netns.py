"""The argv of every network-namespace operation the lab performs.

Pure functions: each returns the command line, nothing runs here.  The
topology strings them together and a runner executes them, so that tests
can compare the exact commands.

Every command names its namespace with ``ip -n NS`` (or ``ip netns exec NS``
where a non-``ip`` tool must run inside), and veth pairs are created with
both ends already in their namespaces (``... peer name Y netns OTHER``): no
interface ever appears in the root namespace, not even for a moment.
"""

MAX_INTERFACE_NAME = 15  # IFNAMSIZ - 1


def checkInterfaceName(name):
    """Refuse names the kernel would refuse, before running anything."""
    if not name or len(name) > MAX_INTERFACE_NAME or "/" in name or " " in name:
        raise ValueError("bad interface name %r (1 to %d characters, no '/' or space)"
                         % (name, MAX_INTERFACE_NAME))
    return name


def addNamespace(ns):
    return ["ip", "netns", "add", ns]


def deleteNamespace(ns):
    return ["ip", "netns", "delete", ns]


def namespacePids(ns):
    return ["ip", "netns", "pids", ns]


def inNamespace(ns, argv):
    """Run any command inside ``ns``."""
    return ["ip", "netns", "exec", ns] + list(argv)


def setLinkUp(ns, device):
    return ["ip", "-n", ns, "link", "set", "dev", device, "up"]


def addVethPair(ns, name, peerNs, peerName):
    """A veth pair: ``name`` in ``ns`` and ``peerName`` in ``peerNs``."""
    checkInterfaceName(name)
    checkInterfaceName(peerName)
    return ["ip", "-n", ns, "link", "add", name, "type", "veth",
            "peer", "name", peerName, "netns", peerNs]


def addBridge(ns, name):
    checkInterfaceName(name)
    return ["ip", "-n", ns, "link", "add", name, "type", "bridge"]


def setMaster(ns, device, bridge):
    return ["ip", "-n", ns, "link", "set", "dev", device, "master", bridge]


def addAddress(ns, device, cidr):
    """``cidr`` like 10.77.0.1/24; the broadcast is derived from it."""
    return ["ip", "-n", ns, "addr", "add", cidr, "broadcast", "+", "dev", device]


def addDefaultRoute(ns, via):
    return ["ip", "-n", ns, "route", "add", "default", "via", via]


def setSysctl(ns, key, value):
    return inNamespace(ns, ["sysctl", "-q", "-w", "%s=%s" % (key, value)])
