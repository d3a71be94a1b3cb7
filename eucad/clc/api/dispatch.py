"""``Action`` -> the one function that performs it.

Each API area is a module with functions ``f(call)`` returning plain data
(or a Deferred of it) shaped like the answer's XML; this table is the only
place that knows which action lives where.  Later areas (key pairs, groups,
addresses) add their lines here.
"""

from twisted.internet import defer

from eucad.clc.api import (addresses, groups, images, instances, instancetypes,
                           keypairs, params, tags, zones)
from eucad.common.errors import CloudError

ACTIONS = {
    "RunInstances": instances.runInstances,
    "DescribeInstances": instances.describeInstances,
    "TerminateInstances": instances.terminateInstances,
    "RebootInstances": instances.rebootInstances,
    "GetConsoleOutput": instances.getConsoleOutput,
    "DescribeAvailabilityZones": zones.describeAvailabilityZones,
    "DescribeRegions": zones.describeRegions,
    "DescribeImages": images.describeImages,
    "DescribeInstanceTypes": instancetypes.describeInstanceTypes,
    "CreateKeyPair": keypairs.createKeyPair,
    "ImportKeyPair": keypairs.importKeyPair,
    "DeleteKeyPair": keypairs.deleteKeyPair,
    "DescribeKeyPairs": keypairs.describeKeyPairs,
    "CreateSecurityGroup": groups.createSecurityGroup,
    "DeleteSecurityGroup": groups.deleteSecurityGroup,
    "DescribeSecurityGroups": groups.describeSecurityGroups,
    "AuthorizeSecurityGroupIngress": groups.authorizeSecurityGroupIngress,
    "RevokeSecurityGroupIngress": groups.revokeSecurityGroupIngress,
    "AllocateAddress": addresses.allocateAddress,
    "ReleaseAddress": addresses.releaseAddress,
    "AssociateAddress": addresses.associateAddress,
    "DisassociateAddress": addresses.disassociateAddress,
    "DescribeAddresses": addresses.describeAddresses,
    "CreateTags": tags.createTags,
    "DeleteTags": tags.deleteTags,
    "DescribeTags": tags.describeTags,
    "RegisterImage": images.registerImage,
    "DeregisterImage": images.deregisterImage,
    "DescribeImageAttribute": images.describeImageAttribute,
    "ModifyImageAttribute": images.modifyImageAttribute,
    "ResetImageAttribute": images.resetImageAttribute,
}


class ApiCall:
    """
    One authenticated request as an operation sees it.

    @ivar cloud: the ``eucad.clc.cloud.Cloud`` (db, clusters, clock).
    @ivar caller: the ``auth.Caller``.
    @ivar params: ``{name: value}`` of the request.
    """

    def __init__(self, cloud, caller, action, version, requestId, params):
        self.cloud = cloud
        self.caller = caller
        self.action = action
        self.version = version
        self.requestId = requestId
        self.params = params


def findAction(action):
    if not action:
        raise CloudError("MissingAction", "The request must contain the parameter Action")
    operation = ACTIONS.get(action)
    if operation is None:
        raise CloudError("InvalidAction",
                         "The action %s is not valid for this web service." % (action,))
    return operation


def dispatch(call):
    """A Deferred of the operation's data (failing with CloudError on refusal)."""
    try:
        operation = findAction(call.action)
        if params.boolean(call.params, "DryRun"):
            # Authentication passed and nothing here is restricted further.
            raise CloudError("DryRunOperation",
                             "Request would have succeeded, but DryRun flag is set.",
                             412)
    except CloudError as e:
        return defer.fail(e)
    return defer.maybeDeferred(operation, call)
