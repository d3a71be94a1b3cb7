"""The operations of the two links between tiers: CLC -> CC and CC -> NC.

Every tier above talks to the tier below only through these interfaces: the
facades of ``eucad.common.links`` (``ClusterLink``, ``NodeLink``) provide them
over Perspective Broker, the tiers themselves (``ClusterController``,
``NodeController``) provide them in process, and so do the in-memory fakes of
``eucad.testing``; a conformance test holds all of them to these signatures.

What crosses a link is a record of ``eucad.common.records`` (``RunSpec``,
``InstanceReport``, ``NodeResources``, ``ClusterResources``), checked when it
is made and again when PB unpacks it, the network policy records of
``eucad.common.netpolicy``, or plain data (ids, numbers, small
dicts of them).  Errors cross as ``eucad.common.errors.CloudError`` with an
EC2 error code.

A change (the answer of ``waitForChange``) is a ``Change`` (the peer's
generation and its ``InstanceReport``s); what a terminate did is a
``Termination``; a console's tail is a ``ConsoleOutput``.  Instance states are pending, running, shutting-down and
terminated.
"""

from zope.interface import Interface


class ICluster(Interface):
    """What the CLC asks of a cluster controller (one per availability zone)."""

    def describeResources():
        """
        Capacity of the cluster.

        @return: Deferred firing with a ``ClusterResources``: per VM type a
            ``VmTypeRoom`` whose ``max``/``free`` count how many instances of
            that type the cluster's up nodes could hold in all / still hold,
            and a ``NodeStatus`` per node.
        """

    def runInstances(specs):
        """
        Place and start instances, all or none.

        @param specs: a non-empty list of ``RunSpec`` whose network names
            the owner and group (the cluster places the rest).
        @return: Deferred firing with the list of ``InstanceReport`` (state
            ``pending``, with ``node``, ``macAddress`` and ``privateIp``), or
            failing with CloudError("InsufficientInstanceCapacity") when the
            nodes lack room for all of them (nothing is started then).
        """

    def describeInstances():
        """
        @return: Deferred firing with the list of ``InstanceReport`` the
            cluster knows, including recently terminated ones.
        """

    def terminateInstances(instanceIds):
        """
        Stop instances and release everything they hold (domain, disks, DHCP
        entry, addresses).  Unknown ids are reported as terminated.

        @return: Deferred firing with a ``Termination`` per id.
        """

    def waitForChange(generation, timeout):
        """
        Long poll: wait until the instances this cluster reports change.

        @param generation: the generation of the caller's last answer, or
            None the first time.
        @param timeout: seconds to wait at most (a number >= 0); the cluster
            caps it (at 60 seconds).
        @return: Deferred firing with a ``Change`` as soon as the
            cluster's generation differs from ``generation`` (at once if it
            already does), or after at most ``timeout`` seconds with the
            unchanged generation; failing with
            CloudError("InvalidParameterValue") for bad arguments.
        """

    def rebootInstances(instanceIds):
        """
        Reboot instances: each domain restarts in place, its disks kept.

        @param instanceIds: a non-empty list of instance ids.
        @return: Deferred firing with the ``InstanceReport`` of each (in the
            order asked), or failing with
            CloudError("InvalidInstanceID.NotFound") when the cluster holds
            one of them nowhere alive (then nothing is rebooted) or
            CloudError("IncorrectInstanceState") when one is not running.
        """

    def getConsoleOutput(instanceId):
        """
        @return: Deferred firing with the instance's ``ConsoleOutput``;
            failing with CloudError("InvalidInstanceID.NotFound") when the
            cluster holds no such live instance.
        """

    def applyNetworkPolicy(policy):
        """
        Enforce the cloud's network policy: the whole of it, every time.

        @param policy: an ``eucad.common.netpolicy.NetworkPolicy``: every
            security group with its ingress rules and the public-address
            associations of this cluster's instances.  The CLC sends it after
            every change and again when the link comes back, so a cluster
            that restarted or missed a change converges; the cluster diffs it
            against what it enforces and applies the difference at once (in
            MANAGED modes one ``iptables-restore --noflush`` batch).  Modes
            without security groups accept it and change nothing.
        @return: Deferred firing (with None) once the policy is in force;
            failing with CloudError("InvalidParameterValue") for anything
            but a NetworkPolicy.
        """

    def applyClusterSettings(settings):
        """
        Put the cloud-wide settings the administrator chose in force.

        @param settings: an ``eucad.common.clustersettings.ClusterSettings``
            (the name servers the cluster's VMs get; empty: the cluster's
            own VNET_DNS).  The CLC sends it when a setting changes and
            again whenever the link connects, so a cluster keeps nothing
            across its own restart; modes that serve DHCP rewrite dhcpd's
            configuration and reload it.
        @return: Deferred firing (with None) once the settings are in force;
            failing with CloudError("InvalidParameterValue") for anything
            but a ClusterSettings.
        """


class INode(Interface):
    """What a cluster controller asks of a node controller (one per host)."""

    def describeResource():
        """
        @return: Deferred firing with a ``NodeResources``.
        """

    def runInstance(spec):
        """
        Start one instance.

        @param spec: the ``RunSpec`` the CLC made, its network completed by
            the CC (``macAddress``, addresses, ``bridge``, ``mtu``).
        @return: Deferred firing with the ``InstanceReport`` (state
            ``pending``).
        """

    def describeInstances():
        """
        @return: Deferred firing with the list of ``InstanceReport`` on this
            node.
        """

    def terminateInstance(instanceId):
        """
        Destroy the domain and remove the instance's files.  Idempotent.

        @return: Deferred firing with a ``Termination``.
        """

    def waitForChange(generation, timeout):
        """
        Long poll: wait until the instances on this node change (a state, a
        new or a forgotten instance).

        @param generation: the generation of the caller's last answer, or
            None the first time.
        @param timeout: seconds to wait at most (a number >= 0); the node
            caps it (at 60 seconds).
        @return: Deferred firing with a ``Change`` as soon as the
            node's generation differs from ``generation`` (at once if it
            already does), or after at most ``timeout`` seconds with the
            unchanged generation; failing with
            CloudError("InvalidParameterValue") for bad arguments.
        """

    def rebootInstance(instanceId):
        """
        Restart the instance's domain in place (the same domain, its disks
        kept; the guest need not cooperate).

        @return: Deferred firing with the ``InstanceReport``; failing with
            CloudError("InvalidInstanceID.NotFound") for an instance the node
            does not hold alive, CloudError("IncorrectInstanceState") for one
            still launching or shutting down.
        """

    def getConsoleOutput(instanceId):
        """
        The last 64 KiB of the instance's serial console.

        @return: Deferred firing with a ``ConsoleOutput``; failing with
            CloudError("InvalidInstanceID.NotFound") for an instance the node
            does not hold alive.
        """

    def setFloodPeers(floodPeers):
        """
        Replicate the broadcast of each VXLAN group network to exactly the
        peers the CC names (MANAGED mode on VXLAN; other modes accept it and
        change nothing).

        @param floodPeers: a ``FloodPeers``: VNI -> the front end and the
            other nodes running that group.  VNIs the node does not carry
            are ignored (their peers come with the launch that makes them).
        @return: Deferred firing with None once applied; failing with
            CloudError("InvalidParameterValue") for anything but a FloodPeers.
        """
