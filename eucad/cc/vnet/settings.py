"""The VNET_* settings of eucalyptus.conf, checked once when the CC starts.

``settingsFromConf`` reads every key the network modes use, checks each for
its form and the combinations the chosen VNET_MODE needs, and either returns
a ``NetworkSettings`` (typed values: addresses, networks, integers) or raises
``NetworkSettingsError`` listing every problem on its own line, so that an
admin fixes the whole file in one go instead of one error per restart.

VNET_PUBLICIPS takes single addresses, ranges (``192.0.2.10-192.0.2.20`` or
the short ``192.0.2.10-20``) and CIDR blocks, separated by spaces or commas,
as the guide's examples write them.
"""

import ipaddress
import re

MODES = ("SYSTEM", "STATIC", "MANAGED", "MANAGED-NOVLAN")
ENCAPSULATIONS = ("vlan", "vxlan")

#: VLAN ids usable for security-group networks (1 is the usual native VLAN).
VLAN_TAGS = range(2, 4095)
#: VXLAN network identifiers (24 bits; 0 reserved).
VXLAN_TAGS = range(1, 1 << 24)

#: Public addresses one VNET_PUBLICIPS value may name: a typo like a /8
#: should be an error, not a 16-million-entry pool.
MAX_PUBLIC_IPS = 65536

_INTERFACE = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")
_MANAGED = ("MANAGED", "MANAGED-NOVLAN")


class NetworkSettingsError(ValueError):
    """Every problem with the VNET_* settings, one per line."""

    def __init__(self, problems):
        ValueError.__init__(self, "\n".join(problems))
        self.problems = list(problems)


def parsePublicIps(text):
    """
    The addresses a VNET_PUBLICIPS value names, in the order written.

    @raise ValueError: for a word that is no address, range or block, a range
        that runs backwards, an address named twice, or more than
        ``MAX_PUBLIC_IPS`` addresses.
    """
    addresses, seen = [], set()
    for word in text.replace(",", " ").split():
        for address in _expandPublicWord(word):
            if address in seen:
                raise ValueError("VNET_PUBLICIPS names %s twice" % (address,))
            seen.add(address)
            addresses.append(address)
            if len(addresses) > MAX_PUBLIC_IPS:
                raise ValueError("VNET_PUBLICIPS names more than %d addresses" % (
                    MAX_PUBLIC_IPS,))
    return addresses


def _expandPublicWord(word):
    try:
        if "/" in word:
            network = ipaddress.IPv4Network(word, strict=False)
            if network.num_addresses > MAX_PUBLIC_IPS:
                raise ValueError("VNET_PUBLICIPS block %s is larger than %d addresses" % (
                    word, MAX_PUBLIC_IPS))
            hosts = list(network.hosts()) if network.prefixlen < 31 else list(network)
            return hosts
        first, dash, last = word.partition("-")
        first = ipaddress.IPv4Address(first)
        if not dash:
            return [first]
        if "." not in last:
            # The short form 192.0.2.10-20: the last octet only.
            last = ipaddress.IPv4Address((int(first) & 0xFFFFFF00) | int(last)) \
                if last.isdigit() and int(last) < 256 else ipaddress.IPv4Address(last)
        else:
            last = ipaddress.IPv4Address(last)
    except ValueError as e:
        if str(e).startswith("VNET_PUBLICIPS"):
            raise
        raise ValueError("VNET_PUBLICIPS entry %r is not an address, range or block" % (
            word,)) from None
    if last < first:
        raise ValueError("VNET_PUBLICIPS range %r runs backwards" % (word,))
    if int(last) - int(first) + 1 > MAX_PUBLIC_IPS:
        raise ValueError("VNET_PUBLICIPS range %r is longer than %d addresses" % (
            word, MAX_PUBLIC_IPS))
    return [ipaddress.IPv4Address(n) for n in range(int(first), int(last) + 1)]


class NetworkSettings:
    """
    The checked VNET_* values; attributes are typed, unset optional ones None.

    @ivar subnet: the VM network (IPv4Network) from VNET_SUBNET/VNET_NETMASK.
    @ivar publicIps: list of IPv4Address from VNET_PUBLICIPS.
    @ivar metadata: (IPv4Address, port) where 169.254.169.254:80 leads.
    @ivar tags: the range of VLAN ids or VNIs MANAGED may use (None otherwise).
    """

    def __init__(self, **values):
        self.__dict__.update(values)

    @property
    def sliceCount(self):
        """How many VNET_ADDRSPERNET slices the subnet holds (MANAGED modes)."""
        if self.subnet is None or not self.addrsPerNet:
            return 0
        return self.subnet.num_addresses // self.addrsPerNet


class _Reader:
    """Collects problems while reading keys, so all are reported at once."""

    def __init__(self, conf):
        self.conf = conf
        self.problems = []

    def raw(self, key):
        return (self.conf.get(key) or "").strip()

    def problem(self, text):
        self.problems.append(text)

    def address(self, key, required=False):
        value = self.raw(key)
        if not value:
            if required:
                self.problem("%s is required in this VNET_MODE" % (key,))
            return None
        try:
            return ipaddress.IPv4Address(value)
        except ValueError:
            self.problem("%s=%r is not an IPv4 address" % (key, value))
            return None

    def interface(self, key, required=False, fallback=None):
        value = self.raw(key) or (fallback or "")
        if not value:
            if required:
                self.problem("%s is required in this VNET_MODE" % (key,))
            return None
        if not _INTERFACE.match(value):
            self.problem("%s=%r is not an interface name (1 to 15 letters, digits, "
                         "'_', '.', ':' or '-')" % (key, value))
            return None
        return value

    def integer(self, key, low, high, required=False):
        value = self.raw(key)
        if not value:
            if required:
                self.problem("%s is required in this VNET_MODE" % (key,))
            return None
        if not value.isdigit() or not low <= int(value) <= high:
            self.problem("%s=%r is not a whole number from %d to %d" % (key, value, low, high))
            return None
        return int(value)


def settingsFromConf(conf):
    """
    The checked network settings of ``conf`` (an EucaConf or a dict).

    @raise NetworkSettingsError: listing every problem found.
    """
    read = _Reader(conf)
    mode = read.raw("VNET_MODE").upper() or "SYSTEM"
    if mode not in MODES:
        read.problem("VNET_MODE=%r is not one of %s" % (mode, ", ".join(MODES)))
        raise NetworkSettingsError(read.problems)
    managed = mode in _MANAGED
    encap = read.raw("VNET_ENCAP").lower() or "vxlan"
    if encap not in ENCAPSULATIONS:
        read.problem("VNET_ENCAP=%r is not one of %s" % (encap, ", ".join(ENCAPSULATIONS)))
        encap = None
    tagged = mode == "MANAGED"

    interface = read.interface("VNET_INTERFACE")
    values = dict(
        mode=mode,
        encap=encap if tagged else None,
        interface=interface,
        pubInterface=read.interface("VNET_PUBINTERFACE", required=managed,
                                    fallback=interface),
        privInterface=read.interface("VNET_PRIVINTERFACE", required=managed,
                                     fallback=interface),
        bridge=read.interface("VNET_BRIDGE", required=mode == "SYSTEM"),
        dhcpDaemon=read.raw("VNET_DHCPDAEMON") or None,
        dhcpUser=read.raw("VNET_DHCPUSER") or "root",
        router=read.address("VNET_ROUTER"),
        broadcast=read.address("VNET_BROADCAST"),
        cloudIp=read.address("VNET_CLOUDIP", required=managed),
        localIp=read.address("VNET_LOCALIP", required=tagged and encap == "vxlan"),
        mtu=read.integer("VNET_MTU", 576, 65535),
        macmap=read.raw("VNET_MACMAP"),
        subnet=None, dns=[], addrsPerNet=None, publicIps=[], metadata=None, tags=None,
    )
    if values["dhcpDaemon"] is not None and not values["dhcpDaemon"].startswith("/") \
            and mode != "SYSTEM":
        read.problem("VNET_DHCPDAEMON=%r is not an absolute path" % (values["dhcpDaemon"],))
    if not re.match(r"^[a-z_][a-z0-9_-]*$", values["dhcpUser"]):
        read.problem("VNET_DHCPUSER=%r is not a user name" % (values["dhcpUser"],))

    for word in read.raw("VNET_DNS").replace(",", " ").split():
        try:
            values["dns"].append(ipaddress.IPv4Address(word))
        except ValueError:
            read.problem("VNET_DNS entry %r is not an IPv4 address" % (word,))

    subnetText, netmaskText = read.raw("VNET_SUBNET"), read.raw("VNET_NETMASK")
    needsSubnet = mode in ("STATIC",) + _MANAGED
    if needsSubnet and not subnetText:
        read.problem("VNET_SUBNET is required in this VNET_MODE")
    if needsSubnet and not netmaskText:
        read.problem("VNET_NETMASK is required in this VNET_MODE")
    if subnetText and netmaskText:
        try:
            values["subnet"] = ipaddress.IPv4Network("%s/%s" % (subnetText, netmaskText))
        except ValueError:
            read.problem("VNET_SUBNET=%r with VNET_NETMASK=%r is not a network (host bits "
                         "set, or a bad mask)" % (subnetText, netmaskText))
    subnet = values["subnet"]
    for key in ("router", "broadcast"):
        if subnet is not None and values[key] is not None and values[key] not in subnet \
                and mode == "STATIC":
            read.problem("VNET_%s=%s is outside VNET_SUBNET %s" % (
                key.upper(), values[key], subnet))

    if mode == "STATIC" and not values["macmap"]:
        read.problem("VNET_MACMAP is required in VNET_MODE=STATIC")

    if managed:
        perNet = read.integer("VNET_ADDRSPERNET", 4, 1 << 24, required=True)
        if perNet is not None and perNet & (perNet - 1):
            read.problem("VNET_ADDRSPERNET=%d is not a power of two" % (perNet,))
            perNet = None
        if perNet is not None and subnet is not None and perNet > subnet.num_addresses:
            read.problem("VNET_ADDRSPERNET=%d is larger than VNET_SUBNET %s" % (perNet, subnet))
            perNet = None
        values["addrsPerNet"] = perNet
        if tagged and encap is not None:
            values["tags"] = VLAN_TAGS if encap == "vlan" else VXLAN_TAGS
        try:
            values["publicIps"] = parsePublicIps(read.raw("VNET_PUBLICIPS"))
        except ValueError as e:
            read.problem(str(e))
        if subnet is not None:
            inside = [str(a) for a in values["publicIps"] if a in subnet]
            if inside:
                read.problem("VNET_PUBLICIPS %s lie inside VNET_SUBNET %s" % (
                    ", ".join(inside[:3]) + (" ..." if len(inside) > 3 else ""), subnet))
        values["metadata"] = _metadataTarget(read, values["cloudIp"])
    if read.problems:
        raise NetworkSettingsError(read.problems)
    return NetworkSettings(**values)


def _metadataTarget(read, cloudIp):
    """VNET_METADATA (host:port), or VNET_CLOUDIP on the CLC's default port."""
    value = read.raw("VNET_METADATA")
    if not value:
        return (cloudIp, 8773) if cloudIp is not None else None
    host, colon, port = value.rpartition(":")
    try:
        address = ipaddress.IPv4Address(host if colon else value)
    except ValueError:
        read.problem("VNET_METADATA=%r is not IPv4-ADDRESS:PORT" % (value,))
        return None
    if not colon or not port.isdigit() or not 0 < int(port) < 65536:
        read.problem("VNET_METADATA=%r is not IPv4-ADDRESS:PORT" % (value,))
        return None
    return (address, int(port))
