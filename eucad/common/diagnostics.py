"""``euca_conf --check cloud|walrus|cc|nc``: what is wrong with a component, one line each.

The guide's troubleshooting chapter sends the admin to the logs when the
verbose zone listing misses a cluster or a node; these checks name the usual
causes first, on the host they run on:

- the component's daemon does not answer on its port (``daemon down``);
- a cluster the CLC dials, or a node the CC dials, does not accept a
  connection (``cluster unreachable``, ``node unreachable``);
- the component's keys are missing, unreadable, not signed by the cloud CA
  that sits beside them, or do not belong together (``keys not synced``:
  ``euca_conf --setup`` or ``euca_sync_key`` was not run, or ran against
  another cloud);
- the CC's network mode serves DHCP but ``VNET_DHCPDAEMON`` is not there
  (``dhcpd missing``);
- the node's ``VNET_BRIDGE`` is not a bridge in this network namespace
  (``bridge missing``).

Each check is a function of the install's ``Layout`` and ``EucaConf`` (and a
``probe`` that dials, so tests can make any of them fail on purpose) that
returns the problems it found as lines.  Nothing here changes anything.
"""

import os
import shutil
import socket

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from eucad.common import trust
from eucad.common.components import walrusSharesCloudPort

COMPONENT_NAMES = ("cloud", "walrus", "cc", "nc")

#: Seconds one TCP probe may take.
PROBE_SECONDS = 3.0

#: Network modes whose cluster controller runs dhcpd.
DHCP_MODES = ("STATIC", "MANAGED", "MANAGED-NOVLAN")

#: The role whose keys each component needs.
KEY_ROLES = {"cloud": "cloud", "walrus": "cloud", "cc": "cluster", "nc": "node"}

#: Where Linux lists this namespace's network interfaces.
SYS_CLASS_NET = "/sys/class/net"


def tcpProbe(host, port, timeout=PROBE_SECONDS):
    """None when ``host:port`` accepts a TCP connection, else why not (one phrase)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.timeout:
        return "no answer in %gs" % (timeout,)
    except OSError as e:
        return (e.strerror or str(e)).lower()


def localAddress(listen):
    """The address to dial for a daemon listening on ``listen``."""
    listen = (listen or "").strip()
    if listen in ("", "0.0.0.0"):
        return "127.0.0.1"
    if listen == "::":
        return "::1"
    return listen


def checkDaemon(conf, component, probe=tcpProbe):
    """The daemon of ``component`` answers on its port."""
    portKey, listenKey, plugin = {
        "cloud": ("CLOUD_PORT", "CLOUD_LISTEN", "eucalyptus-clc"),
        "walrus": ("WALRUS_PORT", "WALRUS_LISTEN", "eucalyptus-walrus"),
        "cc": ("CC_PORT", "CC_LISTEN", "eucalyptus-cc"),
        "nc": ("NC_PORT", "NC_LISTEN", "eucalyptus-nc"),
    }[component]
    host, port = localAddress(conf.get(listenKey)), conf.getInt(portKey)
    why = probe(host, port)
    if why is None:
        return []
    return ["daemon down: %s does not answer on %s:%d (%s)" % (plugin, host, port, why)]


def _readCert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def _readKey(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def _publicBytes(key):
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def checkKeys(layout, role):
    """``role``'s certificate and key and the CA are there and belong together."""
    keys = layout.keys
    caPath = os.path.join(keys, trust.CA_CERT)
    certPath, keyPath = trust.certPath(keys, role), trust.keyPath(keys, role)
    missing = [os.path.basename(p) for p in (caPath, certPath, keyPath)
               if not os.path.isfile(p)]
    if missing:
        return ["keys not synced: %s missing in %s" % (", ".join(missing), keys)]
    try:
        ca, cert, key = _readCert(caPath), _readCert(certPath), _readKey(keyPath)
    except (OSError, ValueError, TypeError) as e:
        return ["keys not synced: cannot read the %s keys in %s (%s)" % (role, keys, e)]
    problems = []
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        problems.append("keys not synced: %s is not signed by %s (keys of another cloud?)"
                        % (os.path.basename(certPath), trust.CA_CERT))
    if _publicBytes(cert.public_key()) != _publicBytes(key.public_key()):
        problems.append("keys not synced: %s does not belong to %s" % (
            os.path.basename(keyPath), os.path.basename(certPath)))
    if trust.roleOf(cert) != role:
        problems.append("keys not synced: %s was issued for role %r, not %r" % (
            os.path.basename(certPath), trust.roleOf(cert), role))
    if os.stat(keyPath).st_mode & 0o077:
        problems.append("keys not private: %s is readable by others (chmod 600)"
                        % (keyPath,))
    return problems


def checkClusters(conf, probe=tcpProbe):
    """Every cluster of CLUSTERS accepts the CLC's connection."""
    from eucad.clc.clusters import parseClusters
    try:
        clusters = parseClusters(conf.get("CLUSTERS"))
    except ValueError as e:
        return ["bad CLUSTERS: %s" % (e,)]
    problems = []
    for name, host, port in clusters:
        why = probe(host, port)
        if why is not None:
            problems.append("cluster unreachable: %s at %s:%d (%s)" % (name, host, port, why))
    return problems


def checkNodes(conf, probe=tcpProbe):
    """Every node of NODES accepts the CC's connection."""
    from eucad.cc.nodes import nodeName, parseNodes
    try:
        nodes = parseNodes(conf.get("NODES"), conf.getInt("NC_PORT"))
    except ValueError as e:
        return ["bad NODES: %s" % (e,)]
    problems = []
    for host, port in nodes:
        why = probe(host, port)
        if why is not None:
            problems.append("node unreachable: %s (%s)" % (nodeName(host, port), why))
    return problems


def checkDhcpd(conf, which=shutil.which):
    """In a mode that serves DHCP, VNET_DHCPDAEMON is an executable."""
    mode = (conf.get("VNET_MODE") or "SYSTEM").upper()
    if mode not in DHCP_MODES:
        return []
    daemon = conf.get("VNET_DHCPDAEMON")
    if daemon and which(daemon):
        return []
    return ["dhcpd missing: VNET_DHCPDAEMON %r is not an executable, and VNET_MODE=%s "
            "needs it (apt-get install isc-dhcp-server)" % (daemon, mode)]


def checkBridge(conf, sysClassNet=SYS_CLASS_NET):
    """The node's VNET_BRIDGE is a bridge in this network namespace."""
    bridge = conf.get("VNET_BRIDGE")
    if not bridge:
        return ["bridge missing: VNET_BRIDGE is empty"]
    if not os.path.isdir(os.path.join(sysClassNet, bridge)):
        return ["bridge missing: VNET_BRIDGE %s does not exist on this host" % (bridge,)]
    if not os.path.isdir(os.path.join(sysClassNet, bridge, "bridge")):
        return ["bridge missing: VNET_BRIDGE %s is an interface but not a bridge" % (bridge,)]
    return []


def checkComponent(component, layout, conf, probe=tcpProbe, which=shutil.which,
                   sysClassNet=SYS_CLASS_NET):
    """
    Every problem of ``component`` on this host, one line each (empty: healthy).

    @raise ValueError: for a component name that is not one of COMPONENT_NAMES.
    """
    if component not in COMPONENT_NAMES:
        raise ValueError("%r is not one of %s" % (component, ", ".join(COMPONENT_NAMES)))
    if component == "walrus" and walrusSharesCloudPort(conf):
        problems = checkDaemon(conf, "cloud", probe)
    else:
        problems = checkDaemon(conf, component, probe)
    problems += checkKeys(layout, KEY_ROLES[component])
    if component == "cloud":
        problems += checkClusters(conf, probe)
    elif component == "cc":
        problems += checkNodes(conf, probe)
        problems += checkDhcpd(conf, which)
    elif component == "nc":
        problems += checkBridge(conf, sysClassNet)
    return problems


def report(component, layout, conf, **checks):
    """
    The lines ``euca_conf --check`` prints, and its exit status: ``<component>:
    ok`` and 0, or one ``<component>: <problem>`` line per problem and 1.
    """
    problems = checkComponent(component, layout, conf, **checks)
    if not problems:
        return ["%s: ok" % (component,)], 0
    return ["%s: %s" % (component, problem) for problem in problems], 1
