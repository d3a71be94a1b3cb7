"""euca_sync_key: give every node the keys it needs to talk to its cluster.

A node needs the cloud CA and the node certificate and key (``trust.NODE_FILES``),
nothing more: the CA's own key never leaves the front end.  Nodes are the
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


def copyLocal(sourceKeys, prefix):
    """Copy the node files into ``prefix``'s keys directory, atomically each."""
    target = Layout(prefix).keys
    os.makedirs(target, mode=0o700, exist_ok=True)
    for name in trust.NODE_FILES:
        with open(os.path.join(sourceKeys, name), "rb") as f:
            data = f.read()
        writeAtomically(os.path.join(target, name), data,
                        0o600 if name.endswith("-pk.pem") else 0o644)
    return target


def rsyncArgv(sourceKeys, host, keysPath):
    """The argv that pushes the node files to ``host`` (ssh may ask a password)."""
    return (["rsync", "-a", "--chmod=F600", "--mkpath"]
            + [os.path.join(sourceKeys, name) for name in trust.NODE_FILES]
            + ["%s:%s/" % (host, keysPath)])


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="euca_sync_key", description="Copy node keys to the nodes.")
    parser.add_argument("-c", "--conf", help="eucalyptus.conf of the front end")
    parser.add_argument("--to", action="append", default=[], metavar="PREFIX",
                        help="copy into this local install root instead of the NODES")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    confPath = args.conf or os.path.join(os.environ.get("EUCALYPTUS", "/"),
                                         "etc", "eucalyptus", "eucalyptus.conf")
    if not os.path.exists(confPath):
        fail("euca_sync_key: no configuration at %s" % (confPath,))
    conf = EucaConf.load(confPath)
    keys = Layout(conf.get("EUCALYPTUS") or "/").keys
    missing = [n for n in trust.NODE_FILES if not os.path.exists(os.path.join(keys, n))]
    if missing:
        fail("euca_sync_key: %s missing in %s (run euca_conf --setup first)" % (
            ", ".join(missing), keys))
    if args.to:
        for prefix in args.to:
            print("euca_sync_key: %s" % (copyLocal(keys, prefix),))
        return 0
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
