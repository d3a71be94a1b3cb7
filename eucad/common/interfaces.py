"""The operations of the two links between tiers: CLC -> CC and CC -> NC.

Every tier above talks to the tier below only through these interfaces, never
through ``callRemote`` directly: ``eucad.common.pblink`` turns an object that
provides one of them into a Perspective Broker root (server side) and gives the
caller a facade that provides the same interface (client side).  Tests use the
in-memory fakes, which a conformance test holds to the same signatures.

What crosses a link is plain data only (dicts, lists, str, int, float, bool,
None), so that it survives PB's serialisation and stays readable in logs.
Errors cross as ``eucad.common.errors.CloudError`` with an EC2 error code.

Shapes used below
-----------------
vmtype
    ``{"name": "m1.small", "cpu": 1, "ram": 128, "disk": 10}`` (ram in MiB,
    disk in GiB).
image
    ``{"id": "emi-12345678", "kind": "machine"|"kernel"|"ramdisk",
    "location": str, "digest": str|None}``; ``location`` is a local path
    for images placed by the lab, later a Walrus manifest URL.
instance (as reported upwards)
    ``{"instanceId", "reservationId", "owner", "imageId", "kernelId",
    "ramdiskId", "vmType" (name), "state", "macAddress", "privateIp",
    "publicIp", "node", "launchTime" (epoch seconds), "launchIndex",
    "keyName", "reason"}``; ``state`` is one of pending, running,
    shutting-down, terminated.
"""

from zope.interface import Interface


class ICluster(Interface):
    """What the CLC asks of a cluster controller (one per availability zone)."""

    def describeResources():
        """
        Capacity of the cluster.

        @return: Deferred firing with ``{"vmtypes": [vmtype + {"max": int,
            "free": int}], "nodes": [{"host": str, "port": int, "state":
            "up"|"down", "cpu", "ram", "disk", "freeCpu", "freeRam",
            "freeDisk"}]}`` where ``max``/``free`` count how many instances of
            that type the cluster's nodes could hold in all / still hold.
        """

    def runInstances(specs):
        """
        Place and start instances, all or none.

        @param specs: list of ``{"instanceId", "reservationId", "owner",
            "imageId", "image": image, "kernel": image|None, "ramdisk":
            image|None, "vmType": vmtype, "keyName", "keyData", "userData"
            (base64 str), "launchIndex", "network": {"owner", "group"}}``.
        @return: Deferred firing with the list of instance dicts (state
            ``pending``, with ``node``, ``macAddress`` and ``privateIp``), or
            failing with CloudError("InsufficientInstanceCapacity") when the
            nodes lack room for all of them (nothing is started then).
        """

    def describeInstances():
        """
        @return: Deferred firing with the list of instance dicts the cluster
            knows, including recently terminated ones.
        """

    def terminateInstances(instanceIds):
        """
        Stop instances and release everything they hold (domain, disks, DHCP
        entry, addresses).  Unknown ids are reported as terminated.

        @return: Deferred firing with ``[{"instanceId", "previousState",
            "state"}]``.
        """

    def waitForChange(generation, timeout):
        """
        Long poll: wait until the instances this cluster reports change.

        @param generation: the generation of the caller's last answer, or
            None the first time.
        @param timeout: seconds to wait at most (a number >= 0); the cluster
            caps it (at 60 seconds).
        @return: Deferred firing with a change (see above) as soon as the
            cluster's generation differs from ``generation`` (at once if it
            already does), or after at most ``timeout`` seconds with the
            unchanged generation; failing with
            CloudError("InvalidParameterValue") for bad arguments.
        """


class INode(Interface):
    """What a cluster controller asks of a node controller (one per host)."""

    def describeResource():
        """
        @return: Deferred firing with ``{"cpu": int, "ram": int (MiB),
            "disk": int (GiB), "freeCpu", "freeRam", "freeDisk",
            "hypervisor": "kvm"|"qemu"}``.
        """

    def runInstance(spec):
        """
        Start one instance.

        @param spec: the CC's run spec (see ICluster.runInstances) plus
            ``"macAddress"`` and ``"network": {"bridge": str, "mtu": int|None,
            ...}`` chosen by the CC.
        @return: Deferred firing with the instance dict (state ``pending``).
        """

    def describeInstances():
        """
        @return: Deferred firing with the list of instance dicts on this node.
        """

    def terminateInstance(instanceId):
        """
        Destroy the domain and remove the instance's files.  Idempotent.

        @return: Deferred firing with ``{"instanceId", "previousState",
            "state"}``.
        """

    def waitForChange(generation, timeout):
        """
        Long poll: wait until the instances on this node change (a state, a
        new or a forgotten instance).

        @param generation: the generation of the caller's last answer, or
            None the first time.
        @param timeout: seconds to wait at most (a number >= 0); the node
            caps it (at 60 seconds).
        @return: Deferred firing with a change (see above) as soon as the
            node's generation differs from ``generation`` (at once if it
            already does), or after at most ``timeout`` seconds with the
            unchanged generation; failing with
            CloudError("InvalidParameterValue") for bad arguments.
        """
