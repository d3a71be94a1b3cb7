"""euca_conf: the admin's way to edit eucalyptus.conf, make keys and get credentials.

Flags are the guide's (``-d``, ``-cloud``, ``-walrus``, ``-cc``, ``-nc``,
``-nodes``, ``-instances``, ...), plus plain ``KEY=value`` settings, plus
``--setup`` (the cloud CA, role certificates, database and admin user), the
user commands (``--add-user NAME [--admin] [--email E]``, ``--list-users``,
``--disable-user``, ``--enable-user``, ``--delete-user``,
``--rotate-secret``, ``--rotate-certificate``; see
``eucad.common.useradmin``) and ``--get-credentials FILE.zip|DIR [--user
NAME]`` (a user's eucarc, a freshly issued certificate and key, and the
cloud's certificate; see ``eucad.common.credentials``).  Every argument is
checked before anything is written: one bad flag or value prints one line
and exits with status 2, and the file stays as it was.
"""

import ipaddress
import os
import sys

from eucad.common import accounts, trust, useradmin
from eucad.common.atomicfile import writeAtomically
from eucad.common.config import CONF_RELATIVE_PATH, DEFAULTS, EucaConf, Layout
from eucad.common.credentials import REGION, credentialUrls
from eucad.common.daemon import fail


USAGE = """usage: euca_conf [-d DIR] [-cloud Y|N] [-walrus Y|N] [-cc Y|N] [-nc Y|N]
                 [-nodes "host1 host2 ..."] [-instances PATH] [-hypervisor kvm|qemu|auto]
                 [-bridge NAME] [-cc-port N] [-nc-port N] [KEY=value ...]
                 [--setup] [--add-user NAME [--admin] [--email E]] [--list-users]
                 [--disable-user NAME] [--enable-user NAME] [--delete-user NAME]
                 [--rotate-secret NAME] [--rotate-certificate NAME]
                 [--get-credentials FILE.zip|DIR [--user NAME] [--path BINDIR]]
                 [--check cloud|walrus|cc|nc] [--backup FILE] [--restore FILE]
                 [--upgrade-database BACKUP_DIR]
                 [CONFFILE]"""

#: operation flag -> what its argument is (the work is in eucad.common.operations)
_OPERATIONS = {
    "--check": "a component (cloud, walrus, cc or nc)",
    "--backup": "a file to write",
    "--restore": "a backup file",
    "--upgrade-database": "a directory for the backup taken first",
}

#: user flag -> the command it names (each takes a user name)
_USER_FLAGS = {
    "--add-user": "add", "--disable-user": "disable", "--enable-user": "enable",
    "--delete-user": "delete", "--rotate-secret": "rotateSecret",
    "--rotate-certificate": "rotateCertificate",
}

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
    "CONCURRENT_LAUNCHES": "launches",
    "CLUSTER_POLL_SECONDS": "seconds", "NODE_POLL_SECONDS": "seconds",
    "SCHEDPOLICY": ("ROUNDROBIN", "GREEDY", "POWERSAVE"),
    "POWER_IDLETHRESH": "seconds", "POWER_WAKETHRESH": "count",
    "POWER_WAKE_TIMEOUT": "seconds",
    "WALRUS_MAX_BUCKETS_PER_USER": "count", "WALRUS_MAX_BUCKET_SIZE_MB": "count",
    "WALRUS_IO_THREADS": "count", "VNET_MTU": "optionalCount",
    "WALRUS_LIFECYCLE_SECONDS": "seconds",
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
    if kind == "launches":
        if not value.isdigit() or not 1 <= int(value) <= 64:
            raise BadArgument("%s: %r is not a whole number from 1 to 64" % (name, value))
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
        #: ``[(command, user name)]`` in command-line order
        self.userCommands = []
        self.listUsers = False
        self.admin = False
        self.email = None
        self.credentialsUser = None
        self.binDir = None
        #: operations flags (``--check``, ``--backup``, ``--restore``) -> argument
        self.operations = {}

    def check(self):
        """Flags that only make sense with another one."""
        adding = any(command == "add" for command, _ in self.userCommands)
        if (self.admin or self.email is not None) and not adding:
            raise BadArgument("--admin and --email go with --add-user")
        if (self.credentialsUser or self.binDir) and not self.credentialsDir:
            raise BadArgument("--user and --path go with --get-credentials")
        if self.binDir and self.credentialsDir.endswith(".zip"):
            raise BadArgument("--path goes with --get-credentials DIR, not a zip")
        if self.credentialsUser is not None:
            self._checkName(self.credentialsUser)
        for _, name in self.userCommands:
            self._checkName(name)
        if self.email is not None:
            try:
                useradmin.checkEmail(self.email)
            except accounts.AccountError as e:
                raise BadArgument(str(e))

    @staticmethod
    def _checkName(name):
        try:
            useradmin.checkName(name)
        except accounts.AccountError as e:
            raise BadArgument(str(e))

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
                raise BadArgument("%s needs a file.zip or a directory" % (arg,))
            request.credentialsDir = args.pop(0)
        elif arg in _OPERATIONS:
            if not args:
                raise BadArgument("%s needs %s" % (arg, _OPERATIONS[arg]))
            value = args.pop(0)
            if arg == "--check":
                value = check(("cloud", "walrus", "cc", "nc"), arg, value)
            request.operations[arg.lstrip("-")] = value
        elif arg in _USER_FLAGS:
            if not args:
                raise BadArgument("%s needs a user name" % (arg,))
            request.userCommands.append((_USER_FLAGS[arg], args.pop(0)))
        elif arg == "--list-users":
            request.listUsers = True
        elif arg == "--admin":
            request.admin = True
        elif arg in ("--email", "--user", "--path"):
            if not args:
                raise BadArgument("%s needs a value" % (arg,))
            value = args.pop(0)
            if arg == "--email":
                request.email = value
            elif arg == "--user":
                request.credentialsUser = value
            else:
                request.binDir = check("path", arg, value)
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
    request.check()
    return request


def holdsDatabasePassword(conf):
    """Whether CLOUD_DB_URL (or DB_URL) carries a password, or SMTP_PASSWORD is set."""
    from sqlalchemy.engine import make_url
    if conf.get("SMTP_PASSWORD"):
        return True
    for key in ("CLOUD_DB_URL", "DB_URL"):
        value = conf.get(key)
        if value:
            try:
                if make_url(value).password:
                    return True
            except Exception:
                return True  # unparsable: treat it as secret
    return False


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


def _layout(conf):
    return Layout(conf.get("EUCALYPTUS") or "/")


def openDatabase(conf):
    """The cloud's database (schema upgraded), for this command's transactions."""
    from eucad.common.db import Database, databaseUrl
    return Database(databaseUrl(conf, _layout(conf)))


def setupCloud(conf):
    """Keys for every role, the database and the admin user (idempotent)."""
    layout = _layout(conf)
    names = set()
    for key in ("NODES", "CLUSTERS"):
        for word in conf.getList(key):
            names.add(_hostPort(word.rpartition("@")[2])[0])
    names.add(conf.get("CLOUD_HOST"))
    trust.setup(layout.keys, sorted(n for n in names if n))
    db = openDatabase(conf)
    try:
        db.transact(accounts.ensureAdmin)
    finally:
        if db.engine is not None:
            db.engine.dispose()


def writeCredentials(conf, destination, userName=None, binDir=None):
    """
    Issue ``userName``'s (default: the admin's) credentials into
    ``destination``: a zip when it ends in ``.zip``, else a directory.
    """
    layout = _layout(conf)
    if not os.path.exists(trust.certPath(layout.keys, "cloud")):
        raise accounts.AccountError("no cloud keys in %s: run euca_conf --setup first"
                                    % (layout.keys,))
    ec2Url, s3Url = credentialUrls(conf)
    db = openDatabase(conf)
    try:
        if userName is None:
            userName = db.transact(accounts.ensureAdmin).name
        credentials = db.transact(useradmin.issueCredentials, userName, layout.keys,
                                  ec2Url, s3Url, REGION)
    finally:
        if db.engine is not None:
            db.engine.dispose()
    if destination.endswith(".zip"):
        return credentials.writeZip(destination)
    return credentials.writeDirectory(destination, binDir=binDir)


def runUserCommands(conf, request):
    """The user flags, in order, each in its own transaction; print what happened."""
    db = openDatabase(conf)
    try:
        for command, name in request.userCommands:
            if command == "add":
                user = db.transact(useradmin.addUser, name, request.admin, request.email)
                print("euca_conf: added user %s (account %s%s)" % (
                    user.name, user.accountNumber, ", admin" if user.isAdmin else ""))
            elif command in ("disable", "enable"):
                db.transact(useradmin.setEnabled, name, command == "enable")
                print("euca_conf: %sd user %s" % (command, name))
            elif command == "delete":
                db.transact(useradmin.deleteUser, name)
                print("euca_conf: deleted user %s" % (name,))
            elif command == "rotateSecret":
                user = db.transact(useradmin.rotateSecret, name)
                print("euca_conf: new access key %s for %s; the old keys are refused "
                      "(get new credentials)" % (user.accessKey, name))
            elif command == "rotateCertificate":
                count = db.transact(useradmin.rotateCertificate, name)
                print("euca_conf: revoked %d certificate(s) of %s (get new credentials)"
                      % (count, name))
        if request.listUsers:
            print("\t".join(("NAME", "ACCOUNT", "ACCESS KEY", "ROLE", "STATE", "EMAIL")))
            for name, number, accessKey, isAdmin, enabled, email in db.transact(
                    useradmin.listUsers):
                print("\t".join((name, number, accessKey, "admin" if isAdmin else "user",
                                 "enabled" if enabled else "disabled", email)))
    finally:
        if db.engine is not None:
            db.engine.dispose()


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
        if holdsDatabasePassword(conf):
            # The file now holds a secret: only its owner may read it.
            writeAtomically(conf.path, conf.text(), 0o600)
        else:
            conf.save()
    try:
        if request.setup:
            setupCloud(conf)
            print("euca_conf: keys in %s, admin user ready" % (_layout(conf).keys,))
        if request.userCommands or request.listUsers:
            runUserCommands(conf, request)
        if request.credentialsDir:
            print("euca_conf: wrote %s" % (writeCredentials(
                conf, request.credentialsDir, request.credentialsUser, request.binDir),))
    except accounts.AccountError as e:
        fail("euca_conf: %s" % (e,))
    if request.operations:
        from eucad.common.operations import runOperations
        return runOperations(request.operations, conf)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
