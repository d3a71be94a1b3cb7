"""euca_conf: the admin's way to edit eucalyptus.conf, make keys and get credentials.

Flags are the guide's (``-d``, ``-cloud``, ``-walrus``, ``-cc``, ``-nc``,
``-nodes``, ``-instances``, ...), plus plain ``KEY=value`` settings, plus
``--setup`` (the cloud CA, role certificates, database and admin user) and
``--get-credentials DIR`` (the admin's eucarc).  Every argument is checked
before anything is written: one bad flag or value prints one line and exits
with status 2, and the file stays as it was.
"""

import ipaddress
import os
import shlex
import sys

from eucad.common.atomicfile import writeAtomically
from eucad.common.config import CONF_RELATIVE_PATH, DEFAULTS, EucaConf, Layout
from eucad.common.daemon import fail

USAGE = """usage: euca_conf [-d DIR] [-cloud Y|N] [-walrus Y|N] [-cc Y|N] [-nc Y|N]
                 [-nodes "host1 host2 ..."] [-instances PATH] [-hypervisor kvm|qemu|auto]
                 [-bridge NAME] [-cc-port N] [-nc-port N] [KEY=value ...]
                 [--setup] [--get-credentials DIR] [CONFFILE]"""

#: flag -> (conf key, value checker)
_FLAGS = {
    "-d": ("EUCALYPTUS", "path"),
    "-cloud": ("ENABLE_CLOUD", "yn"),
    "-walrus": ("ENABLE_WALRUS", "yn"),
    "-cc": ("ENABLE_CC", "yn"),
    "-nc": ("ENABLE_NC", "yn"),
    "-nodes": ("NODES", "hosts"),
    "-instances": ("INSTANCE_PATH", "path"),
    "-hypervisor": ("HYPERVISOR", ("auto", "kvm", "qemu")),
    "-bridge": ("VNET_BRIDGE", "name"),
    "-cc-port": ("CC_PORT", "port"),
    "-nc-port": ("NC_PORT", "port"),
}

#: conf key -> checker, for KEY=value settings that have a fixed form.
_KEY_CHECKS = {
    "ENABLE_CLOUD": "yn", "ENABLE_WALRUS": "yn", "ENABLE_CC": "yn", "ENABLE_NC": "yn",
    "CLOUD_PORT": "port", "WALRUS_PORT": "port", "CC_PORT": "port", "NC_PORT": "port",
    "HYPERVISOR": ("auto", "kvm", "qemu"),
    "VNET_MODE": ("SYSTEM", "STATIC", "MANAGED", "MANAGED-NOVLAN"),
    "LOGLEVEL": ("DEBUG", "INFO", "WARN", "ERROR", "FATAL"),
    "NODES": "hosts",
    "VNET_SUBNET": "ip", "VNET_NETMASK": "ip", "VNET_BROADCAST": "ip",
    "VNET_ROUTER": "ip", "VNET_DNS": "ips", "VNET_ADDRSPERNET": "count",
    "MAX_CORES": "count", "MAX_MEM": "count", "MAX_DISK": "count",
    "CLUSTER_POLL_SECONDS": "seconds", "NODE_POLL_SECONDS": "seconds",
    "SCHEDPOLICY": ("ROUNDROBIN", "GREEDY"),
    "WALRUS_MAX_BUCKETS_PER_USER": "count", "WALRUS_MAX_BUCKET_SIZE_MB": "count",
    "WALRUS_IO_THREADS": "count", "VNET_MTU": "optionalCount",
}


class BadArgument(Exception):
    """One line that says what is wrong with the command line."""


def _hostPort(word):
    host, _, port = word.rpartition(":") if word.count(":") == 1 else (word, "", "")
    if not host:
        host, port = word, ""
    return host, port


def check(kind, name, value):
    """Return ``value`` if it has the form ``kind``; raise BadArgument if not."""
    if isinstance(kind, tuple):
        normal = value.upper() if kind[0].isupper() else value.lower()
        if normal not in kind:
            raise BadArgument("%s: %r is not one of %s" % (name, value, ", ".join(kind)))
        return normal
    if kind == "yn":
        if value.upper() not in ("Y", "N"):
            raise BadArgument("%s: expected Y or N, got %r" % (name, value))
        return value.upper()
    if kind == "port":
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise BadArgument("%s: %r is not a TCP port" % (name, value))
        return value
    if kind == "count":
        if not value.isdigit():
            raise BadArgument("%s: %r is not a whole number" % (name, value))
        return value
    if kind == "optionalCount":
        return check("count", name, value) if value else value
    if kind == "seconds":
        try:
            if float(value) <= 0:
                raise ValueError(value)
        except ValueError:
            raise BadArgument("%s: %r is not a positive number of seconds" % (name, value))
        return value
    if kind == "path":
        if not value or "\n" in value:
            raise BadArgument("%s: %r is not a path" % (name, value))
        return value
    if kind == "name":
        if not value or not value.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise BadArgument("%s: %r is not an interface name" % (name, value))
        return value
    if kind == "ip":
        if value:
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                raise BadArgument("%s: %r is not an IPv4 address" % (name, value))
        return value
    if kind == "ips":
        for word in value.split():
            check("ip", name, word)
        return value
    if kind == "hosts":
        for word in value.split():
            host, port = _hostPort(word)
            if port and not (port.isdigit() and 0 < int(port) < 65536):
                raise BadArgument("%s: %r has a bad port" % (name, word))
            if not host or not all(c.isalnum() or c in "-._" for c in host):
                raise BadArgument("%s: %r is not a host name" % (name, word))
        return " ".join(value.split())
    raise AssertionError(kind)


class Request:
    """What one euca_conf command line asks for, fully checked."""

    def __init__(self):
        self.settings = []
        self.setup = False
        self.credentialsDir = None
        self.confFile = None

    @property
    def prefixFromArgs(self):
        for key, value in self.settings:
            if key == "EUCALYPTUS":
                return value
        return None


def parse(argv):
    request = Request()
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help", "-help"):
            print(USAGE)
            raise SystemExit(0)
        if arg in ("--setup", "-setup"):
            request.setup = True
        elif arg in ("--get-credentials", "-get-credentials"):
            if not args:
                raise BadArgument("%s needs a directory" % (arg,))
            request.credentialsDir = args.pop(0)
        elif arg in _FLAGS:
            if not args:
                raise BadArgument("%s needs a value" % (arg,))
            key, kind = _FLAGS[arg]
            request.settings.append((key, check(kind, arg, args.pop(0))))
        elif arg.startswith("-"):
            raise BadArgument("unknown option %s (see euca_conf --help)" % (arg,))
        elif "=" in arg and arg.split("=", 1)[0].isupper():
            key, value = arg.split("=", 1)
            if key not in DEFAULTS:
                raise BadArgument("unknown setting %s" % (key,))
            if key in _KEY_CHECKS:
                value = check(_KEY_CHECKS[key], key, value)
            request.settings.append((key, value))
        elif request.confFile is None:
            request.confFile = arg
        else:
            raise BadArgument("unexpected argument %r" % (arg,))
    return request


def confPath(request):
    if request.confFile:
        return request.confFile
    prefix = request.prefixFromArgs or os.environ.get("EUCALYPTUS", "/")
    return os.path.join(prefix, CONF_RELATIVE_PATH)


def template():
    """The documented default eucalyptus.conf shipped with eucad."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "eucalyptus.conf.template"), encoding="utf-8") as f:
        return f.read().splitlines()


def setupCloud(conf):
    """Keys for every role, the database and the admin user (idempotent)."""
    from eucad.common import accounts, trust
    from eucad.common.db import Database, defaultUrl
    layout = Layout(conf.get("EUCALYPTUS") or "/")
    names = set()
    for key in ("NODES", "CLUSTERS"):
        for word in conf.getList(key):
            names.add(_hostPort(word.rpartition("@")[2])[0])
    names.add(conf.get("CLOUD_HOST"))
    trust.setup(layout.keys, sorted(n for n in names if n))
    db = Database(conf.get("DB_URL") or defaultUrl(layout))
    try:
        db.transact(accounts.ensureAdmin)
    finally:
        if db.engine is not None:
            db.engine.dispose()


def eucarc(conf, user):
    """The text of a user's eucarc (euca2ools and awscli/boto3 names both)."""
    host = conf.get("CLOUD_HOST")
    walrusPort = conf.get("WALRUS_PORT")
    lines = [
        "# eucad credentials for %s: source this file" % (user.name,),
        "export EC2_URL=%s" % shlex.quote(
            "http://%s:%s/services/Eucalyptus" % (host, conf.get("CLOUD_PORT"))),
        "export S3_URL=%s" % shlex.quote(
            "http://%s:%s/services/Walrus" % (host, walrusPort)),
        "export EC2_ACCESS_KEY=%s" % shlex.quote(user.accessKey),
        "export EC2_SECRET_KEY=%s" % shlex.quote(user.secretKey),
        "export AWS_ACCESS_KEY_ID=%s" % shlex.quote(user.accessKey),
        "export AWS_SECRET_ACCESS_KEY=%s" % shlex.quote(user.secretKey),
        "export AWS_DEFAULT_REGION=eucalyptus",
        "export EUCALYPTUS_CERT=%s" % shlex.quote(
            os.path.join(Layout(conf.get("EUCALYPTUS") or "/").keys, "cacert.pem")),
    ]
    return "\n".join(lines) + "\n"


def writeCredentials(conf, directory):
    from eucad.common import accounts
    from eucad.common.db import Database, defaultUrl
    layout = Layout(conf.get("EUCALYPTUS") or "/")
    db = Database(conf.get("DB_URL") or defaultUrl(layout))
    try:
        user = db.transact(accounts.ensureAdmin)
    finally:
        if db.engine is not None:
            db.engine.dispose()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return writeAtomically(os.path.join(directory, "eucarc"), eucarc(conf, user), 0o600)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        request = parse(argv)
    except BadArgument as e:
        fail("euca_conf: %s" % (e,))
    path = confPath(request)
    conf = EucaConf.load(path)
    if not conf.lines:
        conf.lines = template()
    for key, value in request.settings:
        conf.set(key, value)
    if request.settings or not os.path.exists(path):
        conf.save()
    if request.setup:
        setupCloud(conf)
        print("euca_conf: keys in %s, admin user ready" % (
            Layout(conf.get("EUCALYPTUS") or "/").keys,))
    if request.credentialsDir:
        print("euca_conf: wrote %s" % (writeCredentials(conf, request.credentialsDir),))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
