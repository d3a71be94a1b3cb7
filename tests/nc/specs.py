"""Run specs as a CC sends them, for the NC tests."""


def runSpec(instanceId="i-00000001", machinePath="/images/machine.img", **changes):
    """A valid INode.runInstance spec; ``changes`` replace top-level fields."""
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
