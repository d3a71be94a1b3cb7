"""Bucket policies: the JSON policy language, checked when stored and evaluated per request.

A policy is ``{"Version", "Id", "Statement": [...]}``; a statement has an
``Effect`` (Allow or Deny), a ``Principal`` or ``NotPrincipal`` (``"*"``,
or ``{"AWS": [...]}`` / ``{"CanonicalUser": [...]}``), an ``Action`` or
``NotAction`` (``s3:...`` with ``*`` and ``?``, case-insensitive), a
``Resource`` or ``NotResource`` (``arn:aws:s3:::bucket`` and
``arn:aws:s3:::bucket/key`` patterns, within the policy's own bucket) and
an optional ``Condition``.  Anything else, or a document that is not JSON,
is ``MalformedPolicy`` with the reason.  In a 2012-10-17 policy, Resources
and string conditions may hold policy variables (``${aws:username}``...).

Principals are named as this cloud names its users: the user name (which is
also its canonical id), its 12-digit account number,
``arn:aws:iam::ACCOUNT:root`` or ``arn:aws:iam::ACCOUNT:user/NAME``.

``Policy.evaluate(request)`` answers ``DENY`` when a Deny statement
applies, else ``ALLOW`` when an Allow does, else None (the ACLs decide):
S3's order, where an explicit deny wins over any allow.  Where the request
is evaluated and what it then may do is eucad.walrus.policygate.
"""

import datetime
import ipaddress
import json
import re

from eucad.walrus.errors import S3Error

MAX_POLICY_BYTES = 20 * 1024
VERSIONS = ("2012-10-17", "2008-10-17")
DENY, ALLOW = "Deny", "Allow"
ARN_PREFIX = "arn:aws:s3:::"

#: The S3 actions a policy may name without a wildcard.
ACTIONS = frozenset(name.lower() for name in """
s3:AbortMultipartUpload s3:CreateBucket s3:DeleteBucket s3:DeleteBucketPolicy
s3:DeleteObject s3:DeleteObjectTagging s3:DeleteObjectVersion
s3:DeleteObjectVersionTagging s3:GetAccelerateConfiguration s3:GetBucketAcl
s3:GetBucketCORS s3:GetBucketLocation s3:GetBucketLogging s3:GetBucketNotification
s3:GetBucketObjectLockConfiguration s3:GetBucketOwnershipControls s3:GetBucketPolicy
s3:GetBucketPolicyStatus s3:GetBucketPublicAccessBlock s3:GetBucketRequestPayment
s3:GetBucketTagging s3:GetBucketVersioning s3:GetBucketWebsite
s3:GetEncryptionConfiguration s3:GetLifecycleConfiguration s3:GetObject
s3:GetObjectAcl s3:GetObjectAttributes s3:GetObjectLegalHold s3:GetObjectRetention
s3:GetObjectTagging s3:GetObjectVersion s3:GetObjectVersionAcl
s3:GetObjectVersionAttributes s3:GetObjectVersionTagging s3:GetReplicationConfiguration
s3:ListAllMyBuckets s3:ListBucket s3:ListBucketMultipartUploads s3:ListBucketVersions
s3:ListMultipartUploadParts s3:PutAccelerateConfiguration s3:PutBucketAcl
s3:PutBucketCORS s3:PutBucketLogging s3:PutBucketNotification
s3:PutBucketObjectLockConfiguration s3:PutBucketOwnershipControls s3:PutBucketPolicy
s3:PutBucketPublicAccessBlock s3:PutBucketRequestPayment s3:PutBucketTagging
s3:PutBucketVersioning s3:PutBucketWebsite s3:PutEncryptionConfiguration
s3:PutLifecycleConfiguration s3:PutObject s3:PutObjectAcl s3:PutObjectLegalHold
s3:PutObjectRetention s3:PutObjectTagging s3:PutObjectVersionAcl
s3:PutObjectVersionTagging s3:PutReplicationConfiguration s3:RestoreObject
""".split())

_STRING = ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase",
           "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike")
_NUMERIC = ("NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
            "NumericGreaterThan", "NumericGreaterThanEquals")
_DATE = ("DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals",
         "DateGreaterThan", "DateGreaterThanEquals")
_OTHER = ("Bool", "IpAddress", "NotIpAddress", "ArnEquals", "ArnNotEquals", "ArnLike",
          "ArnNotLike", "BinaryEquals", "Null")
OPERATORS = frozenset(_STRING + _NUMERIC + _DATE + _OTHER)
_NEGATED = frozenset(("StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike",
                      "NumericNotEquals", "DateNotEquals", "NotIpAddress", "ArnNotEquals",
                      "ArnNotLike"))
_KEY_PATTERN = re.compile(r"^(aws|s3):[A-Za-z0-9_\-/.:]+$")


def malformed(reason):
    return S3Error("MalformedPolicy", reason)


def _globText(pattern):
    return "".join(".*" if char == "*" else "." if char == "?" else re.escape(char)
                   for char in pattern)


def _glob(pattern, ignoreCase=False):
    """A compiled regular expression for an IAM pattern (``*`` and ``?``)."""
    return re.compile("^" + _globText(pattern) + "$",
                      re.DOTALL | (re.IGNORECASE if ignoreCase else 0))


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LITERAL_VARIABLES = {"*": "*", "?": "?", "$": "$"}


class Template:
    """
    A Resource or condition value with policy variables (``${aws:username}``,
    any context key; ``${*}``, ``${?}``, ``${$}`` for those characters),
    filled in per request; a variable the request has no value for makes it
    match nothing.  The variables' values are literal, never wildcards.
    """

    def __init__(self, text, wildcards):
        self.text = text
        self.wildcards = wildcards
        self.pieces = _VARIABLE.split(text)  # literal, name, literal, name, ...

    def fill(self, context):
        """The regular expression (wildcards) or text of this value, or None."""
        parts = []
        for index, piece in enumerate(self.pieces):
            if index % 2 == 0:
                parts.append(_globText(piece) if self.wildcards else piece)
                continue
            if piece in _LITERAL_VARIABLES:
                value = _LITERAL_VARIABLES[piece]
            else:
                values = context.get(piece.lower())
                if not values:
                    return None
                value = values[0]
            parts.append(re.escape(value) if self.wildcards else value)
        if self.wildcards:
            return re.compile("^" + "".join(parts) + "$", re.DOTALL)
        return "".join(parts)


def _strings(value, field):
    """A policy field that may be one string or a list of them."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise malformed("%s must be a string or a non-empty list of strings" % (field,))


def principalNames(user):
    """Every name a policy may give ``user`` (a User row) as an AWS principal."""
    account = getattr(user, "accountNumber", None) or ""
    names = {user.name}
    if account:
        names |= {account, "arn:aws:iam::%s:root" % (account,),
                  "arn:aws:iam::%s:user/%s" % (account, user.name)}
    return names


class Principals:
    """A Principal or NotPrincipal: everyone, or named users (AWS / CanonicalUser)."""

    def __init__(self, value):
        self.everyone = False
        self.names = set()
        if value == "*":
            self.everyone = True
            return
        if not isinstance(value, dict) or not value:
            raise malformed("Invalid principal in policy")
        for kind, names in value.items():
            if kind not in ("AWS", "CanonicalUser"):
                raise malformed("Invalid principal in policy")
            for name in _strings(names, "Principal"):
                if name == "*" and kind == "AWS":
                    self.everyone = True
                elif not name or "*" in name:
                    raise malformed("Invalid principal in policy")
                else:
                    self.names.add(name)

    def matches(self, user):
        if self.everyone:
            return True
        return user is not None and not self.names.isdisjoint(principalNames(user))


class Patterns:
    """Action or Resource patterns; Resources may hold policy variables (``variables``)."""

    def __init__(self, values, ignoreCase, variables=False):
        self.texts = values
        self.expressions = [_glob(v, ignoreCase) for v in values
                            if not (variables and "${" in v)]
        self.templates = [Template(v, True) for v in values if variables and "${" in v]

    def matches(self, text, context=None):
        if any(expression.match(text) for expression in self.expressions):
            return True
        for template in self.templates:
            expression = template.fill(context or {})
            if expression is not None and expression.match(text):
                return True
        return False


def _checkAction(action):
    lowered = action.lower()
    if lowered == "*" or (lowered.startswith("s3:") and ("*" in lowered or "?" in lowered)):
        return
    if lowered not in ACTIONS:
        raise malformed("Policy has invalid action")


def _checkResource(resource, bucketName):
    if resource == "*":
        return
    if not resource.startswith(ARN_PREFIX):
        raise malformed("Policy has invalid resource")
    bucketPart = resource[len(ARN_PREFIX):].split("/", 1)[0]
    if not _glob(bucketPart).match(bucketName):
        raise malformed("Policy has invalid resource")


class Condition:
    """One operator test on one context key, with the policy's values."""

    def __init__(self, operator, key, values, variables=False):
        self.variables = variables
        self.qualifier = None
        name = operator
        if ":" in name:
            self.qualifier, name = name.split(":", 1)
            if self.qualifier not in ("ForAnyValue", "ForAllValues"):
                raise malformed("Invalid Condition type : %s" % (operator,))
        self.ifExists = name.endswith("IfExists") and name != "IfExists"
        if self.ifExists:
            name = name[:-len("IfExists")]
        if name not in OPERATORS:
            raise malformed("Invalid Condition type : %s" % (operator,))
        if not _KEY_PATTERN.match(key):
            raise malformed("Policy has an invalid condition key")
        self.operator = name
        self.key = key.lower()
        if not isinstance(values, list):
            values = [values]
        if not values or not all(isinstance(v, (str, int, float, bool)) for v in values):
            raise malformed("Invalid Condition value for %s" % (key,))
        self.values = [self._prepare(v) for v in values]

    def _prepare(self, value):
        op = self.operator
        text = str(value).lower() if isinstance(value, bool) else str(value)
        try:
            if op in _NUMERIC:
                return float(text)
            if op in _DATE:
                return _date(text)
            if op in ("IpAddress", "NotIpAddress"):
                return ipaddress.ip_network(text, strict=False)
            if op in ("Bool", "Null"):
                if text.lower() not in ("true", "false"):
                    raise ValueError(text)
                return text.lower() == "true"
        except ValueError:
            raise malformed("Invalid Condition value for %s: %s" % (self.key, text))
        wildcards = op in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike")
        if self.variables and "${" in text and (op in _STRING or op.startswith("Arn")):
            return Template(text, wildcards)
        if wildcards:
            return _glob(text)
        return text

    def _one(self, requestValue, policyValue):
        """The operator's positive test of one request value against one policy value."""
        op = self.operator
        if op in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals",
                  "BinaryEquals"):
            return requestValue == policyValue
        if op in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
            return requestValue.lower() == policyValue.lower()
        if op in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
            return policyValue.match(requestValue) is not None
        if op == "Bool":
            return requestValue.lower() == ("true" if policyValue else "false")
        if op in ("IpAddress", "NotIpAddress"):
            try:
                return ipaddress.ip_address(requestValue) in policyValue
            except ValueError:
                return False
        try:
            if op in _NUMERIC:
                left = float(requestValue)
            else:
                left = _date(requestValue)
        except ValueError:
            return False
        comparison = op[len("Numeric"):] if op in _NUMERIC else op[len("Date"):]
        return {"Equals": left == policyValue, "NotEquals": left == policyValue,
                "LessThan": left < policyValue, "LessThanEquals": left <= policyValue,
                "GreaterThan": left > policyValue,
                "GreaterThanEquals": left >= policyValue}[comparison]

    def holds(self, context):
        present = context.get(self.key)
        if self.operator == "Null":
            return (present is None) == self.values[0]
        if present is None:
            return self.ifExists or self.operator in _NEGATED
        negated = self.operator in _NEGATED

        values = self.values
        if any(isinstance(v, Template) for v in values):
            values = [v.fill(context) if isinstance(v, Template) else v for v in values]
            values = [v for v in values if v is not None]

        def matchesAny(value):
            return any(self._one(value, policyValue) for policyValue in values)
        if self.qualifier == "ForAllValues":
            result = all(matchesAny(v) for v in present)
        else:
            result = any(matchesAny(v) for v in present)
        return not result if negated else result


def _date(text):
    """Seconds since the epoch of an ISO 8601 date or an epoch number."""
    try:
        return float(text)
    except ValueError:
        pass
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


STATEMENT_FIELDS = frozenset(("Sid", "Effect", "Principal", "NotPrincipal", "Action",
                              "NotAction", "Resource", "NotResource", "Condition"))


def _exactlyOne(statement, name):
    here = [n for n in (name, "Not" + name) if n in statement]
    if len(here) != 1:
        raise malformed("Missing required field %s" % (name,) if not here else
                        "Statement has both %s and Not%s" % (name, name))
    return here[0]


class Statement:
    def __init__(self, statement, bucketName, variables=True):
        if not isinstance(statement, dict):
            raise malformed("Statement must be an object")
        unknown = set(statement) - STATEMENT_FIELDS
        if unknown:
            raise malformed("Unknown field %s" % (sorted(unknown)[0],))
        self.sid = statement.get("Sid")
        if self.sid is not None and not isinstance(self.sid, str):
            raise malformed("Statement Sid must be a string")
        self.effect = statement.get("Effect")
        if self.effect not in (ALLOW, DENY):
            raise malformed("Invalid effect: %s" % (self.effect,))
        field = _exactlyOne(statement, "Principal")
        self.notPrincipal = field == "NotPrincipal"
        self.principals = Principals(statement[field])
        field = _exactlyOne(statement, "Action")
        self.notAction = field == "NotAction"
        actions = _strings(statement[field], field)
        for action in actions:
            _checkAction(action)
        self.actions = Patterns(actions, True)
        field = _exactlyOne(statement, "Resource")
        self.notResource = field == "NotResource"
        resources = _strings(statement[field], field)
        for resource in resources:
            _checkResource(resource, bucketName)
        self.resources = Patterns(resources, False, variables)
        self.conditions = []
        conditions = statement.get("Condition", {})
        if not isinstance(conditions, dict):
            raise malformed("Condition must be an object")
        for operator, tests in conditions.items():
            if not isinstance(tests, dict) or not tests:
                raise malformed("Invalid Condition block for %s" % (operator,))
            for key, values in tests.items():
                self.conditions.append(Condition(operator, key, values, variables))

    def applies(self, request):
        if self.principals.matches(request.user) == self.notPrincipal:
            return False
        if self.actions.matches(request.action) == self.notAction:
            return False
        if self.resources.matches(request.resource, request.context) == self.notResource:
            return False
        return all(condition.holds(request.context) for condition in self.conditions)


class PolicyRequest:
    """
    What a policy is asked about: ``user`` (a User row or None), the
    ``action`` (``s3:GetObject``), the ``resource`` ARN, and the
    ``context`` {lower-case key: [values as text]}.
    """

    __slots__ = ("user", "action", "resource", "context")

    def __init__(self, user, action, resource, context):
        self.user = user
        self.action = action
        self.resource = resource
        self.context = context


class Policy:
    def __init__(self, text, statements):
        self.text = text
        self.statements = statements
        #: Every condition key the policy tests (lower case): what a request must be told.
        self.conditionKeys = frozenset(condition.key for statement in statements
                                       for condition in statement.conditions)

    @classmethod
    def parse(cls, text, bucketName):
        """A Policy from the owner's document (str), or MalformedPolicy."""
        if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
            raise malformed("Policies must be smaller than %d bytes" % (MAX_POLICY_BYTES,))
        if not text.lstrip().startswith("{"):
            raise malformed("Policies must be valid JSON and the first byte must be '{'")
        try:
            document = json.loads(text)
        except ValueError:
            raise malformed("Policies must be valid JSON and the first byte must be '{'")
        unknown = set(document) - {"Version", "Id", "Statement"}
        if unknown:
            raise malformed("Unknown field %s" % (sorted(unknown)[0],))
        version = document.get("Version")
        if version is not None and version not in VERSIONS:
            raise malformed("The policy must contain a valid version string")
        statements = document.get("Statement")
        if isinstance(statements, dict):
            statements = [statements]
        if not isinstance(statements, list) or not statements:
            raise malformed("Missing required field Statement")
        # Policy variables are a 2012-10-17 feature; older policies mean "${" literally.
        variables = version == "2012-10-17"
        return cls(text, [Statement(s, bucketName, variables) for s in statements])

    def evaluate(self, request):
        """DENY, ALLOW or None (no statement applies)."""
        allowed = False
        for statement in self.statements:
            if statement.applies(request):
                if statement.effect == DENY:
                    return DENY
                allowed = True
        return ALLOW if allowed else None

    def isPublic(self):
        """
        Whether an Allow statement applies to everyone without conditions
        (GetBucketPolicyStatus; S3 also calls some conditional grants public,
        Walrus counts only the unconditional ones).
        """
        return any(s.effect == ALLOW and s.principals.everyone and not s.notPrincipal
                   and not s.conditions for s in self.statements)
