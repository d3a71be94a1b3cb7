"""Run specs and small builders shared by the CC tests."""

import copy

from eucad.common.records import RunSpec

SMALL = {"name": "m1.small", "cpu": 1, "ram": 128, "disk": 10}
LARGE = {"name": "m1.large", "cpu": 2, "ram": 512, "disk": 10}


def runSpecData(number, vmType=SMALL, owner="alice", group="default"):
    """A valid ICluster run spec for instance ``number``, as plain data."""
    return {
        "instanceId": "i-%08x" % (number,),
        "reservationId": "r-%08x" % (0xabc000 + number // 100,),
        "owner": owner,
        "imageId": "emi-00000001",
        "image": {"id": "emi-00000001", "kind": "machine", "location": "/images/root.img",
                  "digest": None},
        "kernel": {"id": "eki-00000002", "kind": "kernel", "location": "/images/vmlinuz",
                   "digest": None},
        "ramdisk": None,
        "vmType": copy.deepcopy(vmType),
        "keyName": "mykey",
        "keyData": "ssh-rsa AAAA test",
        "userData": "",
        "launchIndex": number % 100,
        "network": {"owner": owner, "group": group},
    }


def runSpec(number, vmType=SMALL, owner="alice", group="default"):
    """A valid ICluster RunSpec for instance ``number``."""
    return RunSpec.fromDict(runSpecData(number, vmType, owner, group))


def nodeSpecData(number, vmType=SMALL, mac="d2:0d:00:00:00:01", bridge="br0"):
    """A run spec as the CC hands it to a node (MAC and bridge added), as plain data."""
    spec = runSpecData(number, vmType)
    spec["network"] = dict(spec["network"], bridge=bridge, mtu=None, macAddress=mac,
                           privateIp="10.0.0.%d" % (number % 250 + 2,),
                           publicIp="10.0.0.%d" % (number % 250 + 2,))
    return spec


def nodeSpec(number, vmType=SMALL, mac="d2:0d:00:00:00:01", bridge="br0"):
    """A RunSpec as the CC hands it to a node (MAC and bridge added)."""
    return RunSpec.fromDict(nodeSpecData(number, vmType, mac, bridge))


def result(deferred):
    """The result of a Deferred that has already fired; fails if it has not."""
    box = []
    deferred.addBoth(box.append)
    if not box:
        raise AssertionError("the Deferred has not fired")
    if hasattr(box[0], "raiseException"):
        box[0].raiseException()
    return box[0]


def liveInstances(node):
    """Ids of the instances a FakeNode holds that are not terminated (those linger, listed)."""
    return sorted(i for i, instance in node.instances.items()
                  if instance["state"] != "terminated")
