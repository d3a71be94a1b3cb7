"""A bucket's lifecycle configuration: S3's XML <-> validated rules, and their dates.

``parseConfiguration`` reads a LifecycleConfiguration document once, checks
it as S3 does (MalformedXML / InvalidArgument / InvalidRequest), and gives
``Rule`` records; those are what the store keeps (as JSON) and what the
expiration pass (eucad.walrus.expiration) acts on.  ``toXml`` renders them
back for GetBucketLifecycleConfiguration.

Walrus expires (Expiration Days/Date/ExpiredObjectDeleteMarker,
NoncurrentVersionExpiration, AbortIncompleteMultipartUpload); it has one
storage class, so transitions are NotImplemented.  A filter may name object
tags (``Filter/Tag``, or ``Tag`` elements in ``Filter/And``): a rule with
tags applies to an object or version whose tag set holds every one of them;
delete markers and incomplete uploads have no tags, so, as in S3, a rule
with tags cannot remove lone delete markers or abort uploads (InvalidRequest).
"""

import calendar
import dataclasses
import datetime
from typing import Optional

from eucad.walrus import s3xml, tagging
from eucad.walrus.errors import S3Error

DAY = 86400
MAX_RULES = 1000

_UNSUPPORTED_ACTIONS = ("Transition", "NoncurrentVersionTransition")


@dataclasses.dataclass(frozen=True)
class Rule:
    """One lifecycle rule; every duration in days, ``date`` in seconds since the epoch."""

    id: str
    enabled: bool
    prefix: str = ""
    sizeGreaterThan: Optional[int] = None
    sizeLessThan: Optional[int] = None
    #: How the filter was written, to render it back alike: "filter", "and", "legacy".
    filterForm: str = "filter"
    #: ((key, value), ...) an object's tags must all hold for the rule to apply.
    tags: tuple = ()
    expirationDays: Optional[int] = None
    expirationDate: Optional[float] = None
    expiredObjectDeleteMarker: bool = False
    noncurrentDays: Optional[int] = None
    newerNoncurrentVersions: Optional[int] = None
    abortDays: Optional[int] = None

    def toDict(self):
        return dataclasses.asdict(self)

    @classmethod
    def fromDict(cls, values):
        values = dict(values)
        # JSON keeps the tag pairs as lists (and rules stored before tags had none).
        values["tags"] = tuple(tuple(pair) for pair in values.get("tags") or ())
        return cls(**values)

    def matchesTags(self, tags):
        """Whether a tag set ({key: value}, or None for none) holds every tag of the filter."""
        if not self.tags:
            return True
        tags = tags or {}
        return all(key in tags and tags[key] == value for key, value in self.tags)

    def matchesSize(self, size):
        if self.sizeGreaterThan is not None and not size > self.sizeGreaterThan:
            return False
        if self.sizeLessThan is not None and not size < self.sizeLessThan:
            return False
        return True


def midnightBefore(when):
    """The last midnight UTC at or before ``when`` (seconds since the epoch)."""
    return when - when % DAY


def agedCutoff(now, days):
    """
    The latest time a thing may have started and be ``days`` old by ``now``
    in S3's reckoning: its age is counted to the next midnight UTC after
    start + days, so it is due once ``start + days*DAY <= the last midnight``.
    """
    return midnightBefore(now) - days * DAY


# -- reading the XML ---------------------------------------------------------------
def _invalid(message):
    return S3Error("InvalidArgument", message)


def _positiveInt(element, name, zeroAllowed=False):
    text = s3xml.childText(element, name)
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        raise S3Error("MalformedXML")
    if value < 0 or (value == 0 and not zeroAllowed):
        raise _invalid("'%s' for %s must be a positive integer" % (value, name))
    return value


def _date(text):
    """An ISO 8601 midnight UTC, as S3 requires of Expiration/Date."""
    text = text.strip()
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid("'Date' must be in ISO 8601 format")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    parsed = parsed.astimezone(datetime.timezone.utc)
    if (parsed.hour, parsed.minute, parsed.second, parsed.microsecond) != (0, 0, 0, 0):
        raise _invalid("'Date' must be at midnight GMT")
    return float(calendar.timegm(parsed.timetuple()))


def _filterTags(element):
    """The ((key, value), ...) of the Tag elements of a filter, checked as object tags are."""
    pairs = []
    for tag in s3xml.children(element, "Tag"):
        key = s3xml.childText(tag, "Key")
        value = s3xml.childText(tag, "Value")
        if key is None or value is None:
            raise S3Error("MalformedXML")
        pairs.append((key, value))
    if len({key for key, _ in pairs}) != len(pairs):
        raise S3Error("InvalidRequest", "Duplicate Tag Keys are not allowed.")
    return tuple(tagging.validate(pairs, len(pairs)).items())


def _filter(rule):
    """(prefix, size greater than, size less than, form, tags) of a rule's filter."""
    legacy = s3xml.childText(rule, "Prefix")
    filters = s3xml.children(rule, "Filter")
    if legacy is not None and filters:
        raise S3Error("MalformedXML")
    if not filters:
        if legacy is None:
            raise S3Error("MalformedXML")
        return legacy, None, None, "legacy", ()
    element = filters[0]
    ands = s3xml.children(element, "And")
    form = "filter"
    if ands:
        if len(list(element)) != 1:
            raise S3Error("MalformedXML")
        element, form = ands[0], "and"
    present = [s3xml.localName(child) for child in element]
    if form == "filter" and len(present) > 1:
        raise S3Error("MalformedXML")
    for name in present:
        if name not in ("Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan"):
            raise S3Error("MalformedXML")
        if name != "Tag" and present.count(name) > 1:
            raise S3Error("MalformedXML")
    tags = _filterTags(element)
    prefix = s3xml.childText(element, "Prefix", "") or ""
    greater = _positiveInt(element, "ObjectSizeGreaterThan", zeroAllowed=True)
    less = _positiveInt(element, "ObjectSizeLessThan")
    if greater is not None and less is not None and less <= greater:
        raise _invalid("ObjectSizeLessThan must be greater than ObjectSizeGreaterThan")
    return prefix, greater, less, form, tags


def _rule(element):
    for name in _UNSUPPORTED_ACTIONS:
        if s3xml.children(element, name):
            raise S3Error("NotImplemented", "Lifecycle %s is not implemented by Walrus (it "
                          "has one storage class)." % (name,))
    ruleId = (s3xml.childText(element, "ID", "") or "").strip()
    if len(ruleId) > 255:
        raise _invalid("ID length should not exceed allowed limit of 255")
    status = (s3xml.childText(element, "Status", "") or "").strip()
    if status not in ("Enabled", "Disabled"):
        raise S3Error("MalformedXML")
    prefix, greater, less, form, tags = _filter(element)
    values = dict(id=ruleId, enabled=status == "Enabled", prefix=prefix,
                  sizeGreaterThan=greater, sizeLessThan=less, filterForm=form, tags=tags)
    expirations = s3xml.children(element, "Expiration")
    if expirations:
        expiration = expirations[0]
        days = _positiveInt(expiration, "Days")
        dateText = s3xml.childText(expiration, "Date")
        marker = s3xml.childText(expiration, "ExpiredObjectDeleteMarker")
        given = [days is not None, dateText is not None, marker is not None]
        if sum(given) != 1:
            raise S3Error("MalformedXML")
        values["expirationDays"] = days
        if dateText is not None:
            values["expirationDate"] = _date(dateText)
        if marker is not None:
            if marker.strip() not in ("true", "false"):
                raise S3Error("MalformedXML")
            values["expiredObjectDeleteMarker"] = marker.strip() == "true"
    noncurrent = s3xml.children(element, "NoncurrentVersionExpiration")
    if noncurrent:
        values["noncurrentDays"] = _positiveInt(noncurrent[0], "NoncurrentDays")
        values["newerNoncurrentVersions"] = _positiveInt(noncurrent[0],
                                                         "NewerNoncurrentVersions")
        if values["noncurrentDays"] is None:
            raise S3Error("MalformedXML")
    aborts = s3xml.children(element, "AbortIncompleteMultipartUpload")
    if aborts:
        values["abortDays"] = _positiveInt(aborts[0], "DaysAfterInitiation")
        if values["abortDays"] is None:
            raise S3Error("MalformedXML")
    rule = Rule(**values)
    if not (expirations or noncurrent or aborts):
        raise _invalid("At least one action needs to be specified in a rule")
    if tags and rule.expiredObjectDeleteMarker:
        raise S3Error("InvalidRequest", "ExpiredObjectDeleteMarker cannot be specified with "
                      "Tags: delete markers have no tags.")
    if tags and aborts:
        raise S3Error("InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified "
                      "with Tags: incomplete uploads have no tags.")
    return rule


def parseConfiguration(body):
    """The rules of a LifecycleConfiguration document (bytes)."""
    root = s3xml.parseXml(body)
    if s3xml.localName(root) != "LifecycleConfiguration":
        raise S3Error("MalformedXML")
    elements = s3xml.children(root, "Rule")
    if not elements or len(elements) > MAX_RULES:
        raise S3Error("MalformedXML")
    rules = [_rule(element) for element in elements]
    ids = [rule.id for rule in rules if rule.id]
    if len(ids) != len(set(ids)):
        raise _invalid("Rule ID must be unique. Found same ID for more than one rule")
    return rules


# -- writing it back -----------------------------------------------------------------
def _isoDate(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%S.000Z")


def toXml(rules):
    """The LifecycleConfiguration element of ``rules``."""
    root = s3xml.document("LifecycleConfiguration")
    for rule in rules:
        element = s3xml.add(root, "Rule")
        if rule.id:
            s3xml.add(element, "ID", rule.id)
        if rule.filterForm == "legacy":
            s3xml.add(element, "Prefix", rule.prefix)
        else:
            where = s3xml.add(element, "Filter")
            if rule.filterForm == "and":
                where = s3xml.add(where, "And")
            if rule.prefix or rule.filterForm == "filter" and rule.sizeGreaterThan is None \
                    and rule.sizeLessThan is None and not rule.tags:
                s3xml.add(where, "Prefix", rule.prefix)
            for key, value in rule.tags:
                tag = s3xml.add(where, "Tag")
                s3xml.add(tag, "Key", key)
                s3xml.add(tag, "Value", value)
            if rule.sizeGreaterThan is not None:
                s3xml.add(where, "ObjectSizeGreaterThan", str(rule.sizeGreaterThan))
            if rule.sizeLessThan is not None:
                s3xml.add(where, "ObjectSizeLessThan", str(rule.sizeLessThan))
        s3xml.add(element, "Status", "Enabled" if rule.enabled else "Disabled")
        if rule.expirationDays is not None or rule.expirationDate is not None \
                or rule.expiredObjectDeleteMarker:
            expiration = s3xml.add(element, "Expiration")
            if rule.expirationDays is not None:
                s3xml.add(expiration, "Days", str(rule.expirationDays))
            elif rule.expirationDate is not None:
                s3xml.add(expiration, "Date", _isoDate(rule.expirationDate))
            else:
                s3xml.add(expiration, "ExpiredObjectDeleteMarker", "true")
        if rule.noncurrentDays is not None:
            noncurrent = s3xml.add(element, "NoncurrentVersionExpiration")
            s3xml.add(noncurrent, "NoncurrentDays", str(rule.noncurrentDays))
            if rule.newerNoncurrentVersions is not None:
                s3xml.add(noncurrent, "NewerNoncurrentVersions",
                          str(rule.newerNoncurrentVersions))
        if rule.abortDays is not None:
            abort = s3xml.add(element, "AbortIncompleteMultipartUpload")
            s3xml.add(abort, "DaysAfterInitiation", str(rule.abortDays))
    return root
