"""Run specs as a CC sends them, for the NC tests."""

from eucad.common.records import RunSpec

#: Fields the CC places in the spec's network.
_PLACED = ("macAddress", "privateIp", "publicIp")


def runSpecData(instanceId="i-00000001", machinePath="/images/machine.img", **changes):
    """
    A valid INode.runInstance spec as plain data; ``changes`` replace
    top-level fields (``macAddress``, ``privateIp`` and ``publicIp`` too,
    which ``asRunSpec`` moves into the network).
    """
    spec = {
        "instanceId": instanceId,
        "reservationId": "r-0000abcd",
        "owner": "alice",
        "imageId": "emi-0000aaaa",
        "image": {"id": "emi-0000aaaa", "kind": "machine",
                  "location": machinePath, "digest": None},
        "kernel": None,
        "ramdisk": None,
        "vmType": {"name": "m1.small", "cpu": 1, "ram": 128, "disk": 1},
        "keyName": "alicekey",
        "keyData": "ssh-rsa AAAA alice",
        "userData": "",
        "launchIndex": 0,
        "macAddress": "d0:0d:00:00:00:01",
        "privateIp": "10.77.0.10",
        "network": {"owner": "alice", "group": "default", "bridge": "br0",
                    "mtu": None},
    }
    spec.update(changes)
    return spec


def asRunSpec(data):
    """The RunSpec of ``runSpecData``'s data (raises CloudError when it is malformed)."""
    data = dict(data)
    placed = {key: data.pop(key) for key in _PLACED if key in data}
    if isinstance(data.get("network"), dict):
        data["network"] = dict(data["network"], **{
            key: value for key, value in placed.items() if value is not None})
    return RunSpec.fromDict(data)


def runSpec(instanceId="i-00000001", machinePath="/images/machine.img", **changes):
    """A valid INode.runInstance RunSpec; ``changes`` as for ``runSpecData``."""
    return asRunSpec(runSpecData(instanceId, machinePath, **changes))
