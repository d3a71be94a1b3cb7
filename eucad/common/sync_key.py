"""euca_sync_key: give every node the keys it needs to talk to its cluster.

A node needs the cloud CA and the node certificate and key (``trust.NODE_FILES``),
nothing more: the CA's own key never leaves the front end.  ``--cluster NAME``
copies what a cluster controller needs instead (``trust.CLUSTER_FILES``) to
the host ``CLUSTERS`` names for it: the step the configuration page shows
after a cluster is registered.  Nodes are the
``NODES`` of eucalyptus.conf, reached with rsync over ssh into the same
``$EUCALYPTUS`` path; ``--to PREFIX`` copies into another install root on this
machine instead (several nodes on one host, as in the lab).
"""

import argparse
import os
import subprocess
import sys

from eucad.common import trust
from eucad.common.atomicfile import writeAtomically
from eucad.common.config import EucaConf, Layout
from eucad.common.daemon import fail
from eucad.common.hostport import parseHostPort


def copyLocal(sourceKeys, prefix, files=trust.NODE_FILES):
    """Copy the node files (or ``files``) into ``prefix``'s keys directory, atomically each."""
    target = Layout(prefix).keys
    os.makedirs(target, mode=0o700, exist_ok=True)
    for name in files:
        with open(os.path.join(sourceKeys, name), "rb") as f:
            data = f.read()
        writeAtomically(os.path.join(target, name), data,
                        0o600 if name.endswith("-pk.pem") else 0o644)
    return target


def rsyncArgv(sourceKeys, host, keysPath, files=trust.NODE_FILES):
    """The argv that pushes the node files (or ``files``) to ``host`` (ssh may ask a password)."""
    return (["rsync", "-a", "--chmod=F600", "--mkpath"]
            + [os.path.join(sourceKeys, name) for name in files]
            + ["%s:%s/" % (host, keysPath)])


def syncCluster(conf, confPath, keys, name):
    """Push the cluster files to the host ``CLUSTERS`` names for cluster ``name``."""
    hosts = {}
    for word in conf.getList("CLUSTERS"):
        cluster, at, where = word.partition("@")
        hosts[cluster] = parseHostPort(where if at else cluster, 8774)[0]
    if name not in hosts:
        fail("euca_sync_key: no cluster %s in CLUSTERS of %s" % (name, confPath))
    if subprocess.call(rsyncArgv(keys, hosts[name], keys, trust.CLUSTER_FILES)) != 0:
        fail("euca_sync_key: could not copy keys to %s" % (hosts[name],))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="euca_sync_key", description="Copy node keys to the nodes.")
    parser.add_argument("-c", "--conf", help="eucalyptus.conf of the front end")
    parser.add_argument("--to", action="append", default=[], metavar="PREFIX",
                        help="copy into this local install root instead of the NODES")
    parser.add_argument("--cluster", metavar="NAME",
                        help="copy the cluster controller's keys to this cluster's host")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    confPath = args.conf or os.path.join(os.environ.get("EUCALYPTUS", "/"),
                                         "etc", "eucalyptus", "eucalyptus.conf")
    if not os.path.exists(confPath):
        fail("euca_sync_key: no configuration at %s" % (confPath,))
    conf = EucaConf.load(confPath)
    keys = Layout(conf.get("EUCALYPTUS") or "/").keys
    files = trust.CLUSTER_FILES if args.cluster else trust.NODE_FILES
    missing = [n for n in files if not os.path.exists(os.path.join(keys, n))]
    if missing:
        fail("euca_sync_key: %s missing in %s (run euca_conf --setup first)" % (
            ", ".join(missing), keys))
    if args.to:
        for prefix in args.to:
            print("euca_sync_key: %s" % (copyLocal(keys, prefix, files),))
        return 0
    if args.cluster:
        return syncCluster(conf, confPath, keys, args.cluster)
    nodes = [word.rsplit(":", 1)[0] if word.count(":") == 1 else word
             for word in conf.getList("NODES")]
    if not nodes:
        fail("euca_sync_key: NODES is empty in %s" % (confPath,))
    failed = []
    for host in nodes:
        if subprocess.call(rsyncArgv(keys, host, keys)) != 0:
            failed.append(host)
    if failed:
        fail("euca_sync_key: could not copy keys to %s" % (" ".join(failed),))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
