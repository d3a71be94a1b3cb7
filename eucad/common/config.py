"""eucalyptus.conf: read and write it the way an admin left it.

The file is shell style, ``KEY="value"`` lines with comments between them.  The
daemons read it at start; ``euca_conf`` rewrites single keys.  Rewriting keeps
every comment, blank line and the order of keys, changes only the lines of the
keys that were set, and appends new keys at the end, so that a diff of the
file shows exactly what the admin asked for.
"""

import os
import re
import shlex

from eucad.common.atomicfile import writeAtomically

CONF_RELATIVE_PATH = os.path.join("etc", "eucalyptus", "eucalyptus.conf")

_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")

#: Defaults for every key the code reads; etc/eucalyptus/eucalyptus.conf
#: documents each one.
DEFAULTS = {
    "EUCALYPTUS": "/",
    "EUCA_USER": "root",
    "ENABLE_CLOUD": "N",
    "ENABLE_WALRUS": "N",
    "ENABLE_CC": "N",
    "ENABLE_NC": "N",
    "LOGLEVEL": "INFO",
    "CLOUD_DB_URL": "",
    "DB_URL": "",
    "CLOUD_HOST": "127.0.0.1",
    "CLOUD_PORT": "8773",
    "CLOUD_LISTEN": "0.0.0.0",
    "METADATA_PORT": "8777",
    "METADATA_LISTEN": "0.0.0.0",
    "METADATA_NETNS": "",
    "WEB_PORT": "8443",
    "WEB_LISTEN": "0.0.0.0",
    "SMTP_HOST": "",
    "SMTP_PORT": "25",
    "SMTP_STARTTLS": "N",
    "SMTP_USER": "",
    "SMTP_PASSWORD": "",
    "MAIL_FROM": "eucalyptus@localhost",
    "CLUSTERS": "",
    "CLUSTER_POLL_SECONDS": "2",
    "WALRUS_PORT": "8773",
    "WALRUS_LISTEN": "0.0.0.0",
    "WALRUS_DOMAIN": "",
    "WALRUS_LOCATION": "",
    "WALRUS_MAX_BUCKETS_PER_USER": "5",
    "WALRUS_MAX_BUCKET_SIZE_MB": "5120",
    "WALRUS_IO_THREADS": "8",
    "WALRUS_LIFECYCLE_SECONDS": "3600",
    "WALRUS_IMAGE_CACHE_MB": "10240",
    "WALRUS_IMAGE_PORT": "8776",
    "CC_PORT": "8774",
    "CC_LISTEN": "0.0.0.0",
    "NC_PORT": "8775",
    "NC_LISTEN": "0.0.0.0",
    "NODES": "",
    "NODE_POLL_SECONDS": "2",
    "SCHEDPOLICY": "ROUNDROBIN",
    "POWER_IDLETHRESH": "300",
    "POWER_WAKETHRESH": "300",
    "POWER_WAKE_TIMEOUT": "300",
    "POWER_SLEEP_COMMAND": "",
    "POWER_WAKE_COMMAND": "wakeonlan {mac}",
    "POWER_NODE_MACS": "",
    "HYPERVISOR": "auto",
    "LIBVIRT_URI": "qemu:///system",
    "INSTANCE_PATH": "/usr/local/eucalyptus",
    "NC_CACHE_SIZE": "10240",
    "MAX_CORES": "0",
    "MAX_MEM": "0",
    "MAX_DISK": "0",
    "CONCURRENT_LAUNCHES": "4",
    "VNET_MODE": "SYSTEM",
    "VNET_NETNS": "",
    "VNET_INTERFACE": "eth0",
    "VNET_BRIDGE": "br0",
    "VNET_DHCPDAEMON": "/usr/sbin/dhcpd",
    "VNET_DHCPUSER": "root",
    "VNET_SUBNET": "",
    "VNET_NETMASK": "",
    "VNET_BROADCAST": "",
    "VNET_ROUTER": "",
    "VNET_DNS": "",
    "VNET_MACMAP": "",
    "VNET_MTU": "",
    "VNET_ADDRSPERNET": "32",
    "VNET_PUBLICIPS": "",
    "VNET_PUBINTERFACE": "",
    "VNET_PRIVINTERFACE": "",
    "VNET_ENCAP": "vxlan",
    "VNET_LOCALIP": "",
    "VNET_CLOUDIP": "",
    "VNET_METADATA": "",
    "ADDRESSES_PER_USER": "5",
}


def unquote(raw):
    """The value of a shell assignment's right-hand side (quotes removed)."""
    raw = raw.strip()
    if not raw:
        return ""
    try:
        parts = shlex.split(raw, comments=True, posix=True)
    except ValueError:
        return raw.strip("\"'")
    return " ".join(parts)


def quote(value):
    """
    A value written back in the file's own style: double quotes, or single
    quotes when the shell would otherwise expand something in it.
    """
    if any(c in value for c in "$`\\"):
        return "'%s'" % (value.replace("'", "'\\''"),)
    return '"%s"' % (value.replace('"', '\\"'),)


class EucaConf:
    """
    One eucalyptus.conf file held as its lines.

    ``get`` falls back to ``DEFAULTS``; ``set`` edits in place; ``save`` writes
    atomically (temporary file + rename), so a crash never leaves half a file.
    """

    def __init__(self, path, lines=None):
        self.path = path
        self.lines = list(lines or [])

    @classmethod
    def load(cls, path):
        """Read ``path``; a missing file is an empty configuration."""
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            lines = []
        return cls(path, lines)

    def _find(self, key):
        """Index of the last line assigning ``key`` (the shell's winner)."""
        found = None
        for index, line in enumerate(self.lines):
            match = _ASSIGNMENT.match(line)
            if match and match.group(1) == key:
                found = index
        return found

    def has(self, key):
        return self._find(key) is not None

    def get(self, key, default=None):
        index = self._find(key)
        if index is None:
            if default is not None:
                return default
            return DEFAULTS.get(key, "")
        return unquote(_ASSIGNMENT.match(self.lines[index]).group(2))

    def getInt(self, key):
        return int(self.get(key) or "0")

    def getBool(self, key):
        return self.get(key).strip().upper() in ("Y", "YES", "TRUE", "1")

    def getList(self, key):
        return self.get(key).split()

    def set(self, key, value):
        line = "%s=%s" % (key, quote(str(value)))
        index = self._find(key)
        if index is None:
            self.lines.append(line)
        else:
            self.lines[index] = line

    def items(self):
        """Every assigned key and its value, in file order."""
        seen = {}
        for line in self.lines:
            match = _ASSIGNMENT.match(line)
            if match:
                seen[match.group(1)] = unquote(match.group(2))
        return seen

    def text(self):
        return "\n".join(self.lines) + ("\n" if self.lines else "")

    def save(self):
        """Write the file in one step, keeping its permissions."""
        mode = 0o644
        if os.path.exists(self.path):
            mode = os.stat(self.path).st_mode & 0o7777
        writeAtomically(self.path, self.text(), mode)


class Layout:
    """Where an install rooted at ``prefix`` keeps its files (see DESIGN.md)."""

    def __init__(self, prefix):
        self.prefix = os.path.abspath(prefix)

    def path(self, *parts):
        return os.path.join(self.prefix, *parts)

    @property
    def conf(self):
        return self.path(CONF_RELATIVE_PATH)

    @property
    def keys(self):
        return self.path("var", "lib", "eucalyptus", "keys")

    @property
    def db(self):
        return self.path("var", "lib", "eucalyptus", "db")

    @property
    def bukkits(self):
        return self.path("var", "lib", "eucalyptus", "bukkits")

    @property
    def logs(self):
        return self.path("var", "log", "eucalyptus")

    @property
    def state(self):
        """Where the CC and NC keep their state files."""
        return self.path("var", "lib", "eucalyptus")

    def log(self, name):
        return os.path.join(self.logs, name)
