"""``eucad-register-image``: register an image file that is already on the nodes.

The admin's way to add kernels, ramdisks and machine images before Walrus
bundles exist: the file's absolute path becomes the image's location, which
the node controllers read directly.  Prints the new id (``emi-``, ``eki-``
or ``eri-`` + 8 hex digits).

    eucad-register-image --prefix P --kind machine --path /abs/root.img \\
        [--kernel eki-...] [--ramdisk eri-...]
"""

import argparse
import hashlib
import os
import sys

from eucad.clc import imagestore
from eucad.clc.cloud import databaseUrl
from eucad.common import accounts
from eucad.common.config import EucaConf, Layout
from eucad.common.daemon import fail
from eucad.common.db import Database
from eucad.common.errors import CloudError

_CHUNK = 1024 * 1024


def fileDigest(path):
    """Hex SHA-256 of the file: node caches key images by id and digest."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parseArguments(argv):
    parser = argparse.ArgumentParser(
        prog="eucad-register-image",
        description="Register an image file placed on the nodes.")
    parser.add_argument("--prefix", default=os.environ.get("EUCALYPTUS", "/"),
                        help="the $EUCALYPTUS install root (default: %(default)s)")
    parser.add_argument("--kind", required=True, choices=imagestore.KINDS)
    parser.add_argument("--path", required=True, help="absolute path of the file")
    parser.add_argument("--kernel", help="default kernel (eki-...) of a machine image")
    parser.add_argument("--ramdisk", help="default ramdisk (eri-...) of a machine image")
    parser.add_argument("--owner", default="admin", help="owning user (default: admin)")
    parser.add_argument("--arch", default="x86_64", help="architecture (default: x86_64)")
    parser.add_argument("--name", help="a name shown by DescribeImages")
    parser.add_argument("--private", action="store_true",
                        help="only the owner (and the admin) may see and run it")
    return parser.parse_args(argv)


def register(session, args, digest):
    user = accounts.findByName(session, args.owner)
    if user is None:
        raise CloudError("AuthFailure", "no user %r (run euca_conf --setup first)" % (
            args.owner,))
    if args.kind != "machine" and not user.isAdmin:
        raise CloudError("UnauthorizedOperation",
                         "only an admin registers kernels and ramdisks")
    return imagestore.registerImage(
        session, args.owner, args.kind, args.path, isPublic=not args.private,
        architecture=args.arch, kernelId=args.kernel, ramdiskId=args.ramdisk,
        digest=digest, name=args.name or os.path.basename(args.path))


def main(argv=None, out=None):
    args = parseArguments(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    if not os.path.isabs(args.path):
        fail("--path must be absolute (nodes read the same path): %s" % (args.path,))
    if not os.path.isfile(args.path):
        fail("no such file: %s" % (args.path,))
    if args.kind != "machine" and (args.kernel or args.ramdisk):
        fail("--kernel and --ramdisk belong to machine images only")
    layout = Layout(args.prefix)
    db = Database(databaseUrl(EucaConf.load(layout.conf), layout))
    try:
        record = db.transact(register, args, fileDigest(args.path))
    except CloudError as e:
        fail("%s: %s" % (e.code, e.message))
    finally:
        if db.engine is not None:
            db.engine.dispose()
    out.write(record["id"] + "\n")
    return 0
