"""CreateSecurityGroup, DeleteSecurityGroup, DescribeSecurityGroups,
AuthorizeSecurityGroupIngress and RevokeSecurityGroupIngress.

Rules arrive in two shapes: the 2008-era flat parameters (``IpProtocol``,
``FromPort``, ``ToPort``, ``CidrIp``, ``SourceSecurityGroupName``,
``SourceSecurityGroupOwnerId``) and ``IpPermissions.N.*``; both become the
same rule dicts for ``eucad.clc.groupstore``.  Every committed change is
published on ``cloud.networkChanges`` for the clusters.
"""

import ipaddress

from twisted.internet import defer

from eucad.clc import groupstore, tagstore
from eucad.clc.api import filters, params
from eucad.clc.netchanges import GroupRulesChanged
from eucad.common.errors import CloudError

VERBOSE = "verbose"

GROUP_FILTERS = (
    "group-name", "group-id", "description", "owner-id", "ip-permission.protocol",
    "ip-permission.from-port", "ip-permission.to-port", "ip-permission.cidr",
    "ip-permission.group-name", "ip-permission.group-id", "ip-permission.user-id")

#: Protocol numbers clients may send instead of names.
_PROTOCOL_NAMES = {"6": groupstore.TCP, "17": groupstore.UDP, "1": groupstore.ICMP,
                   "all": groupstore.ALL}


def _protocol(raw):
    protocol = _PROTOCOL_NAMES.get(raw.lower(), raw.lower())
    if protocol not in groupstore.PROTOCOLS:
        raise CloudError("InvalidParameterValue",
                         "Invalid value '%s' for IP protocol. Unknown protocol."
                         % (raw,))
    return protocol


def _port(raw, name, low, high):
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise CloudError("InvalidParameterValue", "Invalid value '%s' for %s" % (raw, name))
    if not low <= value <= high:
        raise CloudError("InvalidParameterValue",
                         "Invalid value '%s' for %s: between %d and %d" % (
                             raw, name, low, high))
    return value


def _ports(protocol, fromRaw, toRaw):
    """``(from, to)``: a port range, an ICMP type and code, or -1 for all."""
    if protocol == groupstore.ALL:
        return -1, -1
    if protocol == groupstore.ICMP:
        icmpType = -1 if fromRaw in (None, "") else _port(fromRaw, "icmp type", -1, 255)
        icmpCode = -1 if toRaw in (None, "") else _port(toRaw, "icmp code", -1, 255)
        if icmpType == -1 and icmpCode != -1:
            raise CloudError("InvalidParameterValue",
                             "An ICMP code needs an ICMP type")
        return icmpType, icmpCode
    if fromRaw in (None, "") or toRaw in (None, ""):
        raise CloudError("MissingParameter",
                         "%s rules need FromPort and ToPort" % (protocol,))
    fromPort = _port(fromRaw, "FromPort", 0, 65535)
    toPort = _port(toRaw, "ToPort", 0, 65535)
    if fromPort > toPort:
        raise CloudError("InvalidParameterValue",
                         "FromPort (%d) is larger than ToPort (%d)" % (fromPort, toPort))
    return fromPort, toPort


def _cidr(raw):
    try:
        network = ipaddress.IPv4Network(raw, strict=False)
    except ValueError:
        raise CloudError("InvalidParameterValue",
                         "Invalid IPv4 CIDR '%s'" % (raw,))
    return str(network)


def _source(groupName, groupId, userId):
    return {"sourceGroup": groupName or None, "sourceGroupId": groupId or None,
            "sourceOwner": userId or None}


def _rulesOf(protocol, fromPort, toPort, cidrs, sources):
    rules = [{"protocol": protocol, "fromPort": fromPort, "toPort": toPort,
              "cidr": cidr} for cidr in cidrs]
    rules += [dict(source, protocol=protocol, fromPort=fromPort, toPort=toPort,
                   cidr=None) for source in sources]
    return rules


def _oldFormRules(p):
    """The flat parameters of API versions before IpPermissions."""
    sourceName = params.optional(p, "SourceSecurityGroupName")
    sourceOwner = params.optional(p, "SourceSecurityGroupOwnerId")
    rawProtocol = params.optional(p, "IpProtocol")
    if rawProtocol is None:
        if not sourceName:
            return []
        # "Allow everything from that group", as the old API meant it.
        source = _source(sourceName, None, sourceOwner)
        return (_rulesOf(groupstore.TCP, 0, 65535, [], [source])
                + _rulesOf(groupstore.UDP, 0, 65535, [], [source])
                + _rulesOf(groupstore.ICMP, -1, -1, [], [source]))
    protocol = _protocol(rawProtocol)
    fromPort, toPort = _ports(protocol, p.get("FromPort"), p.get("ToPort"))
    cidrs = [_cidr(params.optional(p, "CidrIp"))] if params.optional(p, "CidrIp") else []
    sources = [_source(sourceName, None, sourceOwner)] if sourceName else []
    if not cidrs and not sources:
        cidrs = ["0.0.0.0/0"]
    return _rulesOf(protocol, fromPort, toPort, cidrs, sources)


def _indexes(p, prefix):
    """The N of every ``prefix.N.*`` parameter, in order."""
    found = set()
    start = prefix + "."
    for name in p:
        if name.startswith(start):
            index = name[len(start):].split(".", 1)[0]
            if index.isdigit():
                found.add(int(index))
    return sorted(found)


def _permissionRules(p):
    """``IpPermissions.N.*`` as rule dicts."""
    rules = []
    for n in _indexes(p, "IpPermissions"):
        base = "IpPermissions.%d." % (n,)
        protocol = _protocol(params.required(p, base + "IpProtocol"))
        fromPort, toPort = _ports(protocol, p.get(base + "FromPort"),
                                  p.get(base + "ToPort"))
        cidrs = [_cidr(p[base + "IpRanges.%d.CidrIp" % (m,)])
                 for m in _indexes(p, base + "IpRanges")
                 if p.get(base + "IpRanges.%d.CidrIp" % (m,))]
        sources = []
        for m in _indexes(p, base + "Groups"):
            group = base + "Groups.%d." % (m,)
            name, groupId = p.get(group + "GroupName"), p.get(group + "GroupId")
            if not name and not groupId:
                raise CloudError("MissingParameter",
                                 "%sGroupName or GroupId is required" % (group,))
            sources.append(_source(name, groupId, p.get(group + "UserId")))
        if not cidrs and not sources:
            raise CloudError("MissingParameter",
                             "%s needs IpRanges or Groups" % (base.rstrip("."),))
        rules += _rulesOf(protocol, fromPort, toPort, cidrs, sources)
    return rules


def rulesFrom(p):
    rules = _permissionRules(p) + _oldFormRules(p)
    if not rules:
        raise CloudError("MissingParameter",
                         "The request must contain IpPermissions or IpProtocol")
    return rules


def _target(p):
    """``(name, groupId)`` of the group a request names."""
    groupId = params.optional(p, "GroupId")
    name = None if groupId else params.required(p, "GroupName")
    return name, groupId


def _changed(record, deleted=False):
    return GroupRulesChanged(record["owner"], record["name"], record["id"],
                             record["rules"], deleted)


@defer.inlineCallbacks
def createSecurityGroup(call):
    p = call.params
    record = yield call.cloud.db.run(
        groupstore.createGroup, call.caller.name, params.required(p, "GroupName"),
        params.required(p, "GroupDescription"), call.cloud.now())
    call.cloud.networkChanges.publish([_changed(record)])
    return {"return": True, "groupId": record["id"]}


def _deleteWithTags(session, owner, isAdmin, name, groupId):
    record = groupstore.deleteGroup(session, owner, isAdmin, name, groupId)
    tagstore.forgetResource(session, record["id"])
    return record


@defer.inlineCallbacks
def deleteSecurityGroup(call):
    name, groupId = _target(call.params)
    record = yield call.cloud.db.run(_deleteWithTags, call.caller.name,
                                     call.caller.isAdmin, name, groupId)
    call.cloud.networkChanges.publish([_changed(record, deleted=True)])
    return {"return": True}


@defer.inlineCallbacks
def _changeRules(call, operation):
    name, groupId = _target(call.params)
    rules = rulesFrom(call.params)
    record = yield call.cloud.db.run(operation, call.caller.name, call.caller.isAdmin,
                                     rules, name, groupId)
    call.cloud.networkChanges.publish([_changed(record)])
    return {"return": True}


def authorizeSecurityGroupIngress(call):
    return _changeRules(call, groupstore.authorize)


def revokeSecurityGroupIngress(call):
    return _changeRules(call, groupstore.revoke)


def permissionItems(rules, groupIds):
    """Rules grouped as EC2's ``ipPermissions`` (one item per protocol and ports)."""
    permissions = {}
    for rule in rules:
        key = (rule["protocol"], rule["fromPort"], rule["toPort"])
        item = permissions.setdefault(key, {
            "ipProtocol": rule["protocol"], "fromPort": rule["fromPort"],
            "toPort": rule["toPort"], "groups": [], "ipRanges": []})
        if rule["cidr"]:
            item["ipRanges"].append({"cidrIp": rule["cidr"]})
        else:
            item["groups"].append({
                "userId": rule["sourceOwner"], "groupName": rule["sourceGroup"],
                "groupId": groupIds.get((rule["sourceOwner"], rule["sourceGroup"]))})
    return list(permissions.values())


def groupItem(record, groupIds, tags):
    return {"ownerId": record["owner"], "groupId": record["id"],
            "groupName": record["name"], "groupDescription": record["description"],
            "ipPermissions": permissionItems(record["rules"], groupIds),
            "ipPermissionsEgress": [], "tagSet": filters.tagSet(tags)}


def filterFields(record):
    rules = record["rules"]
    return {
        "group-name": record["name"], "group-id": record["id"],
        "description": record["description"], "owner-id": record["owner"],
        "ip-permission.protocol": [r["protocol"] for r in rules],
        "ip-permission.from-port": [r["fromPort"] for r in rules],
        "ip-permission.to-port": [r["toPort"] for r in rules],
        "ip-permission.cidr": [r["cidr"] for r in rules if r["cidr"]],
        "ip-permission.group-name": [r["sourceGroup"] for r in rules
                                     if r["sourceGroup"]],
        "ip-permission.user-id": [r["sourceOwner"] for r in rules
                                  if r["sourceOwner"]],
    }


def _describe(session, owner, seeAll, names, groupIds):
    records = groupstore.listGroups(session, owner, seeAll, names, groupIds)
    sources = {(r["sourceOwner"], r["sourceGroup"]) for record in records
               for r in record["rules"] if r["sourceGroup"]}
    sourceIds = groupstore.groupIdsByName(session, sources)
    tags = tagstore.tagsOf(session, [(record["owner"], record["id"])
                                     for record in records])
    return records, sourceIds, tags


@defer.inlineCallbacks
def describeSecurityGroups(call):
    p = call.params
    names = params.listOf(p, "GroupName")
    seeAll = call.caller.isAdmin and VERBOSE in names
    names = [name for name in names if name != VERBOSE]
    groupIds = params.listOf(p, "GroupId")
    filterList = filters.parse(p, GROUP_FILTERS)
    records, sourceIds, tags = yield call.cloud.db.run(
        _describe, call.caller.name, seeAll, names, groupIds)
    items = []
    for record in records:
        recordTags = tags.get(record["id"], {})
        fields = filterFields(record)
        fields["ip-permission.group-id"] = [
            sourceIds[(r["sourceOwner"], r["sourceGroup"])] for r in record["rules"]
            if (r["sourceOwner"], r["sourceGroup"]) in sourceIds]
        if filters.matches(filterList, fields, recordTags):
            items.append(groupItem(record, sourceIds, recordTags))
    return {"securityGroupInfo": items}
