"""``eucad-lab up|down|status``: the lab of network namespaces, from a shell.

``up`` prints the lab's description as JSON (the namespaces, the front
end's interfaces and addresses, each node's libvirt URI), which is what the
CC/NC configuration and the end-to-end runs are built from.  ``down`` and
``status`` find the lab again through ``DIR/lab.json``.
"""

import argparse
import json
import os
import sys

from eucad.lab.commands import CommandFailed
from eucad.lab.topology import STATE_FILE, Lab, LabError

DEFAULT_NAME = "eucad"


def _stderr(message):
    print(message, file=sys.stderr, flush=True)


def _lab(options):
    progress = None if options.quiet else _stderr
    if options.command != "up" and os.path.exists(os.path.join(options.dir, STATE_FILE)):
        lab = Lab.load(options.dir, log=progress)
        if options.name is not None and options.name != lab.name:
            raise LabError("%s holds lab %r, not %r: give another --dir for another lab"
                           % (options.dir, lab.name, options.name))
        return lab
    return Lab(options.name or DEFAULT_NAME, options.dir, options.nodes, subnet=options.subnet,
               publicSubnet=options.public_subnet, withLibvirt=not options.no_libvirt,
               log=progress)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="eucad-lab", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--name", default=None,
                        help="namespace name prefix (up: default %s; down and status: "
                             "the lab in --dir)" % (DEFAULT_NAME,))
    parser.add_argument("--dir", default=os.path.join("build", "lab"),
                        help="state and node directories (default %(default)s)")
    parser.add_argument("--nodes", type=int, default=2, help="number of nodes (default %(default)s)")
    parser.add_argument("--subnet", default="10.77.0.0/24", help="private network (default %(default)s)")
    parser.add_argument("--public-subnet", default="192.0.2.0/24",
                        help="public network (default %(default)s)")
    parser.add_argument("--no-libvirt", action="store_true", help="network only, no libvirtd per node")
    parser.add_argument("--quiet", action="store_true", help="no progress messages, only errors")
    options = parser.parse_args(argv)
    if os.geteuid() != 0:
        _stderr("eucad-lab: must run as root (it creates network namespaces)")
        return 2
    options.dir = os.path.abspath(options.dir)
    try:
        lab = _lab(options)
        if options.command == "up":
            result = lab.up()
        elif options.command == "down":
            lab.down()
            return 0
        else:
            result = lab.status()
    except (ValueError, LabError, CommandFailed, OSError) as e:
        _stderr("eucad-lab %s: %s" % (options.command, e))
        return 1
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
