"""What the NC requires of a run spec beyond its own checks.

A ``RunSpec`` checked its fields when it was made (or unpacked from the
link, ``eucad.common.records``); the node only adds what a spec must carry
by the time it reaches a node: the MAC address the CC chose, and a bridge
(``VNET_BRIDGE`` when the CC names none).  Called by ``eucad.nc.node``.
"""

from eucad.common import ids
from eucad.common.errors import CloudError
from eucad.common.records import RunSpec, invalid


def checkInstanceId(instanceId):
    """``instanceId`` if it is an instance id, else InvalidInstanceID.Malformed."""
    if not ids.isInstanceId(instanceId):
        raise CloudError("InvalidInstanceID.Malformed",
                         "Invalid id: %r" % (instanceId,))
    return instanceId


def placedSpec(spec, defaultBridge):
    """
    ``spec`` as the node runs it: with a MAC address, and its bridge named.

    @raise CloudError: InvalidParameterValue when ``spec`` is no RunSpec or
        has no MAC address.
    """
    if not isinstance(spec, RunSpec):
        raise invalid("spec", "must be a RunSpec")
    if spec.network.macAddress is None:
        raise invalid("network.macAddress", "the cluster chose none")
    if spec.network.bridge is None:
        spec = spec.withNetwork(bridge=defaultBridge)
    return spec
