"""Access control lists: canned ACLs, grant headers, grant XML, and the check.

An ACL is kept as JSON, ``{"owner": name, "grants": [{"grantee": {...},
"permission": "READ"}]}`` where a grantee is ``{"type": "CanonicalUser",
"id": name}`` or ``{"type": "Group", "uri": ...}``.  A user's canonical id is
its eucad user name, which is also its display name.  The owner of a resource
may always read and write its ACL (as in S3), and eucad admins pass every
check: the cloud reads users' image bundles through the same store.
"""

from eucad.walrus import s3xml
from eucad.walrus.errors import S3Error

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = (ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY)

READ, WRITE, READ_ACP, WRITE_ACP, FULL_CONTROL = (
    "READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL")
PERMISSIONS = (READ, WRITE, READ_ACP, WRITE_ACP, FULL_CONTROL)

CANNED = ("private", "public-read", "public-read-write", "authenticated-read",
          "aws-exec-read", "bucket-owner-read", "bucket-owner-full-control",
          "log-delivery-write")

GRANT_HEADERS = {
    "x-amz-grant-read": READ,
    "x-amz-grant-write": WRITE,
    "x-amz-grant-read-acp": READ_ACP,
    "x-amz-grant-write-acp": WRITE_ACP,
    "x-amz-grant-full-control": FULL_CONTROL,
}


def user(name):
    return {"type": "CanonicalUser", "id": name}


def group(uri):
    return {"type": "Group", "uri": uri}


def grant(grantee, permission):
    return {"grantee": grantee, "permission": permission}


def canned(name, owner, bucketOwner=None):
    """
    The ACL a canned name stands for.  ``aws-exec-read`` lets the cloud read
    the object, which in eucad is the admins' implicit right, so it adds no
    grant; the bucket-owner ones name ``bucketOwner``.
    """
    if name not in CANNED:
        raise S3Error("InvalidArgument", "Unknown canned ACL %r" % (name,),
                      ArgumentName="x-amz-acl", ArgumentValue=name)
    grants = [grant(user(owner), FULL_CONTROL)]
    if name == "public-read":
        grants.append(grant(group(ALL_USERS), READ))
    elif name == "public-read-write":
        grants += [grant(group(ALL_USERS), READ), grant(group(ALL_USERS), WRITE)]
    elif name == "authenticated-read":
        grants.append(grant(group(AUTHENTICATED_USERS), READ))
    elif name == "log-delivery-write":
        grants += [grant(group(LOG_DELIVERY), WRITE), grant(group(LOG_DELIVERY), READ_ACP)]
    elif name in ("bucket-owner-read", "bucket-owner-full-control"):
        if bucketOwner and bucketOwner != owner:
            grants.append(grant(user(bucketOwner), READ if name == "bucket-owner-read"
                                else FULL_CONTROL))
    return {"owner": owner, "grants": grants}


def _parseGranteeList(text, headerName):
    """``id="a", uri="http://..."`` -> grantees."""
    grantees = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        kind, sep, value = item.partition("=")
        value = value.strip().strip('"')
        kind = kind.strip().lower()
        if not sep or not value:
            raise S3Error("InvalidArgument", "Bad grant %r" % (item,),
                          ArgumentName=headerName)
        if kind == "id":
            grantees.append(user(value))
        elif kind == "uri":
            if value not in GROUPS:
                raise S3Error("InvalidArgument", "Unknown group %r" % (value,),
                              ArgumentName=headerName)
            grantees.append(group(value))
        elif kind == "emailaddress":
            raise S3Error("UnresolvableGrantByEmailAddress", EmailAddress=value)
        else:
            raise S3Error("InvalidArgument", "Bad grantee type %r" % (kind,),
                          ArgumentName=headerName)
    return grantees


def fromHeaders(headers, owner, bucketOwner=None, default="private"):
    """
    The ACL a request asks for with ``x-amz-acl`` or ``x-amz-grant-*``
    (``headers`` maps lower-case names to value lists), else the default.
    """
    cannedName = (headers.get("x-amz-acl") or [None])[0]
    grantHeaders = [(name, values) for name, values in headers.items()
                    if name in GRANT_HEADERS]
    if cannedName and grantHeaders:
        raise S3Error("InvalidRequest",
                      "Specifying both Canned ACLs and Header Grants is not allowed")
    if grantHeaders:
        grants = []
        for name, values in sorted(grantHeaders):
            for grantee in _parseGranteeList(",".join(values), name):
                grants.append(grant(grantee, GRANT_HEADERS[name]))
        return {"owner": owner, "grants": grants}
    return canned(cannedName.strip() if cannedName else default, owner, bucketOwner)


def fromXml(body):
    """
    Parse an AccessControlPolicy document: (owner id or None, grants).  The
    caller checks that CanonicalUser grantees exist.
    """
    root = s3xml.parseXml(body, code="MalformedACLError")
    if s3xml.localName(root) != "AccessControlPolicy":
        raise S3Error("MalformedACLError")
    ownerElements = s3xml.children(root, "Owner")
    owner = s3xml.childText(ownerElements[0], "ID") if ownerElements else None
    lists = s3xml.children(root, "AccessControlList")
    if not lists:
        raise S3Error("MalformedACLError")
    grants = []
    for element in s3xml.children(lists[0], "Grant"):
        granteeElements = s3xml.children(element, "Grantee")
        permission = s3xml.childText(element, "Permission")
        if not granteeElements or permission not in PERMISSIONS:
            raise S3Error("MalformedACLError")
        grantee = granteeElements[0]
        kind = grantee.get("{%s}type" % (s3xml.XSI_NS,)) or grantee.get("type") or ""
        uid = s3xml.childText(grantee, "ID")
        uri = s3xml.childText(grantee, "URI")
        email = s3xml.childText(grantee, "EmailAddress")
        if uid is not None or kind == "CanonicalUser":
            uid = (uid or "").strip()
            if not uid:
                raise S3Error("MalformedACLError")
            grants.append(grant(user(uid), permission))
        elif uri is not None or kind == "Group":
            uri = (uri or "").strip()
            if uri not in GROUPS:
                raise S3Error("InvalidArgument", "Invalid group uri", ArgumentName="Group/URI",
                              ArgumentValue=uri)
            grants.append(grant(group(uri), permission))
        elif email is not None:
            raise S3Error("UnresolvableGrantByEmailAddress", EmailAddress=email.strip())
        else:
            raise S3Error("MalformedACLError")
    return owner, grants


def toXml(acl):
    """The AccessControlPolicy document of ``acl`` (bytes)."""
    root = s3xml.document("AccessControlPolicy")
    owner = s3xml.add(root, "Owner")
    s3xml.add(owner, "ID", acl["owner"])
    s3xml.add(owner, "DisplayName", acl["owner"])
    grantList = s3xml.add(root, "AccessControlList")
    for item in acl["grants"]:
        element = s3xml.add(grantList, "Grant")
        grantee = s3xml.add(element, "Grantee")
        grantee.set("{%s}type" % (s3xml.XSI_NS,), item["grantee"]["type"])
        if item["grantee"]["type"] == "CanonicalUser":
            s3xml.add(grantee, "ID", item["grantee"]["id"])
            s3xml.add(grantee, "DisplayName", item["grantee"]["id"])
        else:
            s3xml.add(grantee, "URI", item["grantee"]["uri"])
        s3xml.add(element, "Permission", item["permission"])
    return s3xml.serialize(root)


def allows(acl, principal, permission):
    """
    Whether ``principal`` (a User row, or None for anonymous) holds
    ``permission`` on a resource with ``acl``.
    """
    if principal is not None and principal.isAdmin:
        return True
    name = principal.name if principal is not None else None
    if name is not None and name == acl.get("owner") and permission in (READ_ACP, WRITE_ACP):
        return True
    for item in acl.get("grants", ()):
        if item["permission"] not in (permission, FULL_CONTROL):
            continue
        grantee = item["grantee"]
        if grantee["type"] == "CanonicalUser":
            if name is not None and grantee.get("id") == name:
                return True
        elif grantee.get("uri") == ALL_USERS:
            return True
        elif grantee.get("uri") == AUTHENTICATED_USERS and name is not None:
            return True
    return False
