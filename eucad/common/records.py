"""The records that cross the links between tiers, each checked once, where it is made.

A record is built by its constructor (code that has the values) or by
``fromDict`` (data that came from elsewhere: a state file, a domain's XML, a
test); both run the same checks, so a record that exists is valid and nobody
downstream checks it again.  A bad field raises
``CloudError("InvalidParameterValue")`` naming it.

Each record crosses Perspective Broker as itself: it is a ``pb.Copyable``
whose state is its ``toDict()`` and a ``pb.RemoteCopy`` whose
``setCopyableState`` goes through ``fromDict``, so a peer that sends a
malformed record is refused while its call is being unpacked, before any
tier code sees it.

The records, from the CLC down to the NC and back:

- ``VmType``: a size (cpu cores, ram MiB, disk GiB) and its name;
- ``ImageRef``: a machine image, kernel or ramdisk and where to fetch it;
- ``NetworkSpec``: the instance's network; the CLC fills owner and group
  (the security group), the CC adds the MAC, addresses, bridge and MTU it
  chose; the network modes add their own fields here (VLAN/VNI...) as they
  come;
- ``RunSpec``: everything one instance needs, from ``RunInstances`` to the
  domain XML, user data and key included;
- ``InstanceReport``: one instance as a node or a cluster reports it, made
  from its ``RunSpec`` by ``InstanceReport.ofSpec``;
- ``NodeResources``: a node's totals and what is free;
- ``ClusterResources``: a cluster's room per VM type and its nodes;
- ``Termination``: what a terminate did to one instance;
- ``Change``: a long poll's answer, the peer's generation and its instances;
- ``ConsoleOutput``: the tail of an instance's serial console.

Records read like the dicts they replace (``spec["instanceId"]``,
``report.get("state")``) as well as by attribute; they are immutable:
``replace`` gives a changed copy, checked again.
"""

import dataclasses
import ipaddress
import re
from typing import Optional
from urllib.parse import urlparse

from twisted.logger import Logger
from twisted.spread import pb

from eucad.common import ids
from eucad.common.digests import parseDigest
from eucad.common.errors import CloudError

log = Logger()

VMTYPE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
#: Linux interface names: at most 15 characters.
BRIDGE = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")
#: Security group names as EC2 allows them.
GROUP = re.compile(r"^[A-Za-z0-9._@:+=,-]{1,255}$")
#: Key names are free text, but they go into XML: no control characters.
KEY_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")
#: Base64 text; EC2 allows 16 KiB of user data, which is 21848 characters encoded.
BASE64 = re.compile(r"^[A-Za-z0-9+/=]*$")
MAX_USER_DATA_CHARS = 21848
#: A public key line (OpenSSH format) is short; a bound keeps records small.
MAX_KEY_DATA_CHARS = 16384
#: Why an instance ended, as reported (longer texts are cut).
MAX_REASON_CHARS = 1024
#: How much of a console EC2's GetConsoleOutput returns: its last 64 KiB.
CONSOLE_TAIL_BYTES = 64 * 1024
#: ... which is this many characters once base64 encoded.
MAX_CONSOLE_CHARS = 4 * ((CONSOLE_TAIL_BYTES + 2) // 3)

INSTANCE_STATES = ("pending", "running", "shutting-down", "terminated")
IMAGE_KINDS = ("machine", "kernel", "ramdisk")
HYPERVISORS = ("kvm", "qemu")
#: How a MANAGED group network is carried between front end and nodes.
ENCAPSULATIONS = ("vlan", "vxlan")
#: ``asleep``: put to sleep by POWERSAVE (or waking from it), not broken.
NODE_STATES = ("up", "down", "unknown", "asleep")


def invalid(field, why):
    """The one error a malformed record raises."""
    return CloudError("InvalidParameterValue", "%s: %s" % (field, why))


# Checks of one field each; ``field`` names it in the error. -----------------

def _text(field, value, pattern=None, optional=False, maxLength=None):
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    if maxLength is not None and len(value) > maxLength:
        raise invalid(field, "longer than %d characters" % (maxLength,))
    if pattern is not None and not (pattern(value) if callable(pattern)
                                    else pattern.fullmatch(value)):
        raise invalid(field, "%r is malformed" % (value,))
    return value


def _integer(field, value, low, high, optional=False):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(field, "must be an integer")
    if not low <= value <= high:
        raise invalid(field, "%d is outside %d..%d" % (value, low, high))
    return value


def _number(field, value, optional=False):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise invalid(field, "must be a number >= 0")
    return value


def _choice(field, value, choices, optional=False):
    if value is None and optional:
        return None
    if value not in choices:
        raise invalid(field, "%r is not one of %s" % (value, ", ".join(choices)))
    return value


def _ipv4(field, value, optional=True):
    if value is None and optional:
        return None
    _text(field, value)
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise invalid(field, "%r is not an IPv4 address" % (value,)) from None
    return value


def _mapping(field, value):
    if not isinstance(value, dict):
        raise invalid(field, "must be a mapping")
    return value


def _record(field, value, recordType, optional=False):
    """``value`` as a ``recordType``: the record itself, or a dict made into one."""
    if value is None and optional:
        return None
    if isinstance(value, recordType):
        return value
    if isinstance(value, dict):
        return recordType.fromDict(value, where=field + ".")
    raise invalid(field, "must be a %s" % (recordType.__name__,))


def _records(field, values, recordType):
    if not isinstance(values, (list, tuple)):
        raise invalid(field, "must be a list")
    return [_record("%s[%d]" % (field, index), value, recordType)
            for index, value in enumerate(values)]


class Record(pb.Copyable, pb.RemoteCopy):
    """
    Base of the link records: dataclass fields, checked in ``check``.

    Subclasses are frozen dataclasses; ``check(where)`` raises for a bad
    field (its name prefixed by ``where``) and may normalise values (it sets
    them with ``_set``).
    """

    def __post_init__(self):
        self.check("")

    def check(self, where):
        raise NotImplementedError()

    def _set(self, name, value):
        object.__setattr__(self, name, value)

    @classmethod
    def fromDict(cls, data, where=""):
        """A checked record from plain data; unknown keys are refused."""
        if not isinstance(data, dict):
            raise invalid(where.rstrip(".") or cls.__name__, "must be a mapping")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(key) for key in data if key not in names)
        if unknown:
            raise invalid(where + unknown[0], "is not a field of %s" % (cls.__name__,))
        record = cls.__new__(cls)
        for f in dataclasses.fields(cls):
            if f.name in data:
                value = data[f.name]
            elif f.default is not dataclasses.MISSING:
                value = f.default
            else:
                raise invalid(where + f.name, "is missing")
            object.__setattr__(record, f.name, value)
        record.check(where)
        return record

    def toDict(self):
        """Plain data (dicts, lists, str, int, float, None): for PB, files and logs."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes):
        """A copy with ``changes``, checked again."""
        return dataclasses.replace(self, **changes)

    # Read access by field name, as the dicts these records replace were read.

    def __getitem__(self, name):
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    # Perspective Broker: the copy is the plain data, checked on arrival.

    def getStateToCopy(self):
        return self.toDict()

    def setCopyableState(self, state):
        try:
            made = type(self).fromDict(state)
        except CloudError as e:
            log.warn("refused a malformed {kind} from a peer: {error}",
                     kind=type(self).__name__, error=e.message)
            raise
        for f in dataclasses.fields(made):
            object.__setattr__(self, f.name, getattr(made, f.name))


def _plain(value):
    if isinstance(value, Record):
        return value.toDict()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _registerForPB(cls):
    pb.setUnjellyableForClass(cls, cls)
    return cls


def linkRecord(cls):
    """Class decorator: a frozen dataclass record that PB copies by value."""
    return _registerForPB(dataclasses.dataclass(frozen=True)(cls))


@linkRecord
class VmType(Record):
    """A VM type: ``cpu`` cores, ``ram`` MiB, ``disk`` GiB."""

    name: str
    cpu: int
    ram: int
    disk: int

    def check(self, where):
        _text(where + "name", self.name, VMTYPE_NAME)
        _integer(where + "cpu", self.cpu, 1, 256)
        _integer(where + "ram", self.ram, 16, 16 * 1024 * 1024)
        _integer(where + "disk", self.disk, 1, 64 * 1024)

    @property
    def size(self):
        """(cpu, ram, disk), the order node room is counted in."""
        return (self.cpu, self.ram, self.disk)


@linkRecord
class ImageRef(Record):
    """
    An image to fetch: ``location`` is an absolute path (images the lab
    placed) or an http(s) URL; ``digest`` (optional) is checked after the
    fetch (``eucad.common.digests``).
    """

    id: str
    kind: str
    location: str
    digest: Optional[str] = None

    def check(self, where):
        _text(where + "id", self.id, ids.isImageId)
        _choice(where + "kind", self.kind, IMAGE_KINDS)
        location = _text(where + "location", self.location, maxLength=4096)
        parsed = urlparse(location)
        if parsed.scheme in ("http", "https"):
            if not parsed.netloc:
                raise invalid(where + "location", "URL without a host")
        elif not location.startswith("/") or "\0" in location:
            raise invalid(where + "location", "must be an absolute path or http(s) URL")
        try:
            parseDigest(self.digest)
        except ValueError as e:
            raise invalid(where + "digest", str(e)) from None
        self._set("digest", self.digest or None)


@linkRecord
class NetworkSpec(Record):
    """
    An instance's network.  ``owner`` and ``group`` name the security group
    (the CLC's choice); the CC adds ``macAddress``, ``privateIp``,
    ``publicIp``, ``bridge`` and ``mtu`` before the spec goes to a node, and
    in MANAGED mode the group network's ``encap`` (vlan or vxlan), ``tag``
    (VLAN id or VNI) and, for VXLAN, the ``floodPeers`` the node replicates
    broadcast to (``eucad.cc.vnet.managed``).
    """

    owner: str
    group: str = "default"
    macAddress: Optional[str] = None
    privateIp: Optional[str] = None
    publicIp: Optional[str] = None
    bridge: Optional[str] = None
    mtu: Optional[int] = None
    encap: Optional[str] = None
    tag: Optional[int] = None
    floodPeers: Optional[tuple] = None

    def check(self, where):
        _text(where + "owner", self.owner, ids.isOwner)
        _text(where + "group", self.group, GROUP)
        if self.macAddress is not None:
            mac = _text(where + "macAddress", self.macAddress).lower()
            if not MAC.fullmatch(mac):
                raise invalid(where + "macAddress", "%r is not a MAC address" % (
                    self.macAddress,))
            self._set("macAddress", mac)
        _ipv4(where + "privateIp", self.privateIp)
        _ipv4(where + "publicIp", self.publicIp)
        if self.bridge is not None:
            _text(where + "bridge", self.bridge, BRIDGE)
        _integer(where + "mtu", self.mtu, 576, 65535, optional=True)
        _choice(where + "encap", self.encap, ENCAPSULATIONS, optional=True)
        if self.tag is not None or self.encap is not None:
            if self.encap is None or self.tag is None:
                raise invalid(where + "tag", "a tag and its encap go together")
            _integer(where + "tag", self.tag, 1, 4094 if self.encap == "vlan" else (1 << 24) - 1)
        if self.floodPeers is not None:
            if not isinstance(self.floodPeers, (list, tuple)):
                raise invalid(where + "floodPeers", "must be a list of addresses")
            for index, peer in enumerate(self.floodPeers):
                _ipv4("%sfloodPeers[%d]" % (where, index), peer, optional=False)
            self._set("floodPeers", tuple(self.floodPeers))


@linkRecord
class RunSpec(Record):
    """
    One instance to run, as the CLC makes it for ``ICluster.runInstances``
    and the CC passes it on, with its network placed, to ``INode.runInstance``.

    ``userData`` is the base64 text the user gave (None for none);
    ``keyData`` the public key of ``keyName``.
    """

    instanceId: str
    reservationId: str
    owner: str
    image: ImageRef
    vmType: VmType
    network: Optional[NetworkSpec] = None
    kernel: Optional[ImageRef] = None
    ramdisk: Optional[ImageRef] = None
    keyName: Optional[str] = None
    keyData: Optional[str] = None
    userData: Optional[str] = None
    launchIndex: int = 0

    def check(self, where):
        _text(where + "instanceId", self.instanceId, ids.isInstanceId)
        _text(where + "reservationId", self.reservationId, ids.isReservationId)
        _text(where + "owner", self.owner, ids.isOwner)
        self._set("image", _record(where + "image", self.image, ImageRef))
        self._set("kernel", _record(where + "kernel", self.kernel, ImageRef, optional=True))
        self._set("ramdisk", _record(where + "ramdisk", self.ramdisk, ImageRef,
                                     optional=True))
        for name, kind in (("image", "machine"), ("kernel", "kernel"), ("ramdisk", "ramdisk")):
            image = getattr(self, name)
            if image is not None and image.kind != kind:
                raise invalid(where + name + ".kind", "%r where %r was expected" % (
                    image.kind, kind))
        if self.ramdisk is not None and self.kernel is None:
            raise invalid(where + "ramdisk", "a ramdisk needs a kernel")
        self._set("vmType", _record(where + "vmType", self.vmType, VmType))
        if self.network is None:
            # No network named: the owner's default group.
            self._set("network", NetworkSpec(owner=self.owner))
        self._set("network", _record(where + "network", self.network, NetworkSpec))
        _text(where + "keyName", self.keyName, KEY_NAME, optional=True)
        _text(where + "keyData", self.keyData, optional=True, maxLength=MAX_KEY_DATA_CHARS)
        _text(where + "userData", self.userData, BASE64, optional=True,
              maxLength=MAX_USER_DATA_CHARS)
        _integer(where + "launchIndex", self.launchIndex, 0, 1 << 20)

    @classmethod
    def fromDict(cls, data, where=""):
        """
        As ``Record.fromDict``; an ``imageId`` key, if given, must name
        ``image``, and a network without an owner is the instance owner's.
        """
        if isinstance(data, dict) and isinstance(data.get("network"), dict) \
                and "owner" not in data["network"]:
            # A network without an owner is the instance owner's.
            data = dict(data, network=dict(data["network"], owner=data.get("owner")))
        if isinstance(data, dict) and "imageId" in data:
            data = dict(data)
            imageId = data.pop("imageId")
            made = Record.fromDict.__func__(cls, data, where)
            if made.image.id != imageId:
                raise invalid(where + "imageId", "differs from image.id")
            return made
        return Record.fromDict.__func__(cls, data, where)

    @property
    def imageId(self):
        return self.image.id

    @property
    def kernelId(self):
        return self.kernel.id if self.kernel is not None else None

    @property
    def ramdiskId(self):
        return self.ramdisk.id if self.ramdisk is not None else None

    def withNetwork(self, **placed):
        """This spec with its network completed by the CC (MAC, addresses, bridge, mtu)."""
        return self.replace(network=self.network.replace(**placed))

    def __getitem__(self, name):
        if name in ("imageId", "kernelId", "ramdiskId"):
            return getattr(self, name)
        return Record.__getitem__(self, name)


@linkRecord
class InstanceReport(Record):
    """
    One instance as a node or a cluster reports it upwards.  ``node`` is the
    CC's name of the node (``host:port``); ``launchTime`` epoch seconds;
    ``reason`` why it ended, if it did.
    """

    instanceId: str
    reservationId: str
    owner: str
    imageId: str
    vmType: str
    state: str
    kernelId: Optional[str] = None
    ramdiskId: Optional[str] = None
    macAddress: Optional[str] = None
    privateIp: Optional[str] = None
    publicIp: Optional[str] = None
    node: Optional[str] = None
    launchTime: Optional[float] = None
    launchIndex: int = 0
    keyName: Optional[str] = None
    reason: Optional[str] = None

    @classmethod
    def ofSpec(cls, spec, state, launchTime, node=None, reason=None, **network):
        """
        The report of the instance ``spec`` describes: the one place a report
        is made.  ``network`` overrides what the spec's network says
        (``macAddress``, ``privateIp``, ``publicIp``): the CC's allocation,
        or an address learnt after the launch.
        """
        addresses = {key: network.get(key, getattr(spec.network, key))
                     for key in ("macAddress", "privateIp", "publicIp")}
        if reason is not None and len(reason) > MAX_REASON_CHARS:
            # A long error (a libvirt message) is cut, not a reason to refuse the report.
            reason = reason[:MAX_REASON_CHARS - 3] + "..."
        return cls(instanceId=spec.instanceId, reservationId=spec.reservationId,
                   owner=spec.owner, imageId=spec.imageId, kernelId=spec.kernelId,
                   ramdiskId=spec.ramdiskId, vmType=spec.vmType.name, state=state,
                   node=node, launchTime=launchTime, launchIndex=spec.launchIndex,
                   keyName=spec.keyName, reason=reason, **addresses)

    def check(self, where):
        _text(where + "instanceId", self.instanceId, ids.isInstanceId)
        _text(where + "reservationId", self.reservationId, ids.isReservationId)
        _text(where + "owner", self.owner, ids.isOwner)
        _text(where + "imageId", self.imageId, ids.isImageId)
        _text(where + "kernelId", self.kernelId, ids.isImageId, optional=True)
        _text(where + "ramdiskId", self.ramdiskId, ids.isImageId, optional=True)
        _text(where + "vmType", self.vmType, VMTYPE_NAME)
        _choice(where + "state", self.state, INSTANCE_STATES)
        _text(where + "macAddress", self.macAddress, MAC, optional=True)
        _ipv4(where + "privateIp", self.privateIp)
        _ipv4(where + "publicIp", self.publicIp)
        _text(where + "node", self.node, optional=True, maxLength=300)
        _number(where + "launchTime", self.launchTime, optional=True)
        _integer(where + "launchIndex", self.launchIndex, 0, 1 << 20)
        _text(where + "keyName", self.keyName, KEY_NAME, optional=True)
        _text(where + "reason", self.reason, optional=True, maxLength=MAX_REASON_CHARS)


@linkRecord
class NodeResources(Record):
    """A node's totals (cpu cores, ram MiB, disk GiB), what is free, its hypervisor."""

    cpu: int
    ram: int
    disk: int
    freeCpu: int
    freeRam: int
    freeDisk: int
    hypervisor: str = "qemu"
    #: The node's address on the cluster's network (VNET_LOCALIP): where
    #: the VXLAN tunnels of MANAGED mode end.  None: the node's host name is.
    vnetAddress: Optional[str] = None

    def check(self, where):
        for name in ("cpu", "ram", "disk", "freeCpu", "freeRam", "freeDisk"):
            _integer(where + name, getattr(self, name), 0, 1 << 40)
        _choice(where + "hypervisor", self.hypervisor, HYPERVISORS)
        _ipv4(where + "vnetAddress", self.vnetAddress)

    @property
    def total(self):
        return (self.cpu, self.ram, self.disk)

    @property
    def free(self):
        return (self.freeCpu, self.freeRam, self.freeDisk)


@linkRecord
class VmTypeRoom(Record):
    """How many instances of a VM type a cluster holds: ``max`` when empty, ``free`` now."""

    vmType: VmType
    max: int
    free: int

    def check(self, where):
        self._set("vmType", _record(where + "vmType", self.vmType, VmType))
        _integer(where + "max", self.max, 0, 1 << 40)
        _integer(where + "free", self.free, 0, 1 << 40)


@linkRecord
class NodeStatus(Record):
    """
    One node of a cluster as ``describeResources`` lists it.

    ``ccCertOk``/``ncCertOk``: whether the cluster's and the node's
    certificates check out on the CC-NC link (``NodeEntry.certificates``);
    ``lastSeen``: epoch seconds of the node's last answer, None if never.
    """

    host: str
    port: int
    state: str
    cpu: int = 0
    ram: int = 0
    disk: int = 0
    freeCpu: int = 0
    freeRam: int = 0
    freeDisk: int = 0
    ccCertOk: bool = False
    ncCertOk: bool = False
    lastSeen: float = None

    def check(self, where):
        _text(where + "host", self.host, maxLength=255)
        _integer(where + "port", self.port, 1, 65535)
        _choice(where + "state", self.state, NODE_STATES)
        for name in ("ccCertOk", "ncCertOk"):
            if not isinstance(getattr(self, name), bool):
                raise invalid(where + name, "must be true or false")
        _number(where + "lastSeen", self.lastSeen, optional=True)
        for name in ("cpu", "ram", "disk"):
            _integer(where + name, getattr(self, name), 0, 1 << 40)
        for name in ("freeCpu", "freeRam", "freeDisk"):
            # Room already overbooked (a node restarted under its instances)
            # is reported as it is.
            _integer(where + name, getattr(self, name), -(1 << 40), 1 << 40)


@linkRecord
class ClusterResources(Record):
    """A cluster's answer to ``describeResources``: room per VM type, and its nodes."""

    vmTypes: list
    nodes: list

    def check(self, where):
        self._set("vmTypes", _records(where + "vmTypes", self.vmTypes, VmTypeRoom))
        self._set("nodes", _records(where + "nodes", self.nodes, NodeStatus))

    def roomFor(self, vmType):
        """The cluster's ``VmTypeRoom`` for exactly this type (name and size), or None."""
        for room in self.vmTypes:
            if room.vmType == vmType:
                return room
        return None

    def upNodes(self):
        return [node for node in self.nodes if node.state == "up"]


@linkRecord
class Termination(Record):
    """What terminating one instance did: its state before, and now."""

    instanceId: str
    previousState: str
    state: str

    def check(self, where):
        _text(where + "instanceId", self.instanceId, ids.isInstanceId)
        _choice(where + "previousState", self.previousState, INSTANCE_STATES)
        _choice(where + "state", self.state, INSTANCE_STATES)


@linkRecord
class Change(Record):
    """
    The answer of ``waitForChange``: the peer's generation when it answered
    and the instances it reports then.
    """

    generation: int
    instances: list

    def check(self, where):
        _integer(where + "generation", self.generation, -(1 << 63), 1 << 63)
        self._set("instances", _records(where + "instances", self.instances, InstanceReport))


@linkRecord
class ConsoleOutput(Record):
    """
    The tail of an instance's serial console: ``output`` is the base64 of
    its last ``CONSOLE_TAIL_BYTES`` bytes (empty before the guest wrote
    any), ``timestamp`` the epoch seconds it was last written (or read).
    """

    instanceId: str
    timestamp: float
    output: str = ""

    def check(self, where):
        _text(where + "instanceId", self.instanceId, ids.isInstanceId)
        _number(where + "timestamp", self.timestamp)
        _text(where + "output", self.output, BASE64, maxLength=MAX_CONSOLE_CHARS)


#: Bounds that keep a FloodPeers record small: VNIs a node carries, peers of one.
MAX_FLOOD_NETWORKS = 4096
MAX_FLOOD_PEERS = 1024


@linkRecord
class FloodPeers(Record):
    """
    Where a node replicates the broadcast of each VXLAN group network it
    carries (MANAGED on VXLAN): ``peers`` maps a VNI to the addresses of the
    front end and of the other nodes running that group.  The CC sends a
    node the whole map whenever it changes (a group's instances start on
    another node, a node is added), ``eucad.cc.vnet.floodsync``.
    """

    peers: dict

    def check(self, where):
        if not isinstance(self.peers, dict):
            raise invalid(where + "peers", "must be a mapping of VNI to addresses")
        if len(self.peers) > MAX_FLOOD_NETWORKS:
            raise invalid(where + "peers", "more than %d networks" % (MAX_FLOOD_NETWORKS,))
        checked = {}
        for tag, addresses in self.peers.items():
            field = "%speers[%r]" % (where, tag)
            _integer(field, tag, 1, (1 << 24) - 1)
            if not isinstance(addresses, (list, tuple)) or len(addresses) > MAX_FLOOD_PEERS:
                raise invalid(field, "must be a list of at most %d addresses" % (
                    MAX_FLOOD_PEERS,))
            for index, address in enumerate(addresses):
                _ipv4("%s[%d]" % (field, index), address, optional=False)
            checked[tag] = tuple(sorted(set(addresses)))
        self._set("peers", checked)
