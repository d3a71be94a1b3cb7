"""The one place EC2 XML is made, for answers and for errors.

Operations return plain data shaped like their answer: a dict becomes child
elements in order, a list becomes ``<item>`` elements (EC2's list wrapper),
booleans become ``true``/``false``, ``None`` leaves the element out.  Errors
are ``CloudError`` exceptions; their code decides the HTTP status here.
"""

import re
import time
from xml.sax.saxutils import escape

from lxml import etree

from eucad.clc.api.versions import namespaceFor

#: HTTP status of each EC2 error code; unlisted codes keep the status they
#: were raised with (400 unless said otherwise).
STATUS_BY_CODE = {
    "AuthFailure": 401,
    "SignatureDoesNotMatch": 403,
    "UnauthorizedOperation": 403,
    "OptInRequired": 403,
    "IncompleteSignature": 400,
    "MissingAuthenticationToken": 401,
    "RequestExpired": 400,
    "InvalidAction": 400,
    "MissingAction": 400,
    "MissingParameter": 400,
    "InvalidParameterValue": 400,
    "InvalidParameterCombination": 400,
    "NoSuchVersion": 400,
    "InvalidInstanceID.NotFound": 400,
    "InvalidInstanceID.Malformed": 400,
    "InvalidAMIID.NotFound": 400,
    "InvalidAMIID.Malformed": 400,
    "InvalidKeyPair.NotFound": 400,
    "InvalidGroup.NotFound": 400,
    "DryRunOperation": 412,
    "InsufficientInstanceCapacity": 500,
    "InternalError": 500,
    "Unavailable": 503,
    "ServiceUnavailable": 503,
}


def statusFor(error):
    return STATUS_BY_CODE.get(error.code, getattr(error, "status", 400) or 400)


def isoTime(epoch):
    """EC2's timestamp format, ``2009-01-04T23:13:30.000Z``."""
    seconds = int(epoch)
    millis = int(round((epoch - seconds) * 1000)) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%03dZ" % (millis,)


#: Characters XML 1.0 cannot carry, not even escaped (its ``Char`` production).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xmlSafe(text):
    """
    ``text`` with every character XML 1.0 does not allow replaced by U+FFFD.

    Messages echo what clients sent (a ``Version`` of ``%01`` is refused
    before authentication), and lxml refuses to write such characters, so
    every text this module writes passes through here.
    """
    if text.isascii() and text.isprintable():
        return text
    return _NOT_XML_CHAR.sub("\ufffd", text)


def _text(value):
    if type(value) is str:
        return xmlSafe(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return xmlSafe(str(value))


#: Element names operations may use: ours, never a client's text.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


#: Element names already checked (they come from the code, so few).
_CHECKED_NAMES = set()


def _checkName(name):
    if name not in _CHECKED_NAMES:
        if not _NAME.match(name):
            raise ValueError("not an element name: %r" % (name,))
        _CHECKED_NAMES.add(name)


class Fragment(str):
    """
    One element already written by ``fragment``: ``_write`` copies it as it
    is, in place of the element of the name it was written for.
    """


def fragment(name, value):
    """``<name>value</name>`` written now, to go where an element ``name`` goes."""
    _checkName(name)
    parts = []
    _write(parts, name, value)
    return Fragment("".join(parts))


class FragmentCache:
    """
    Fragments by a key naming everything they show, at most ``2 * size``.

    Clients poll their describes, and between two polls most items are
    unchanged: an item whose key is known is copied instead of written
    again.  The key is the content, so nothing needs invalidating; two
    generations of dicts bound the memory without an LRU's bookkeeping per
    hit (an entry used in the last ``size`` new writes stays).  Used on the
    reactor thread only.
    """

    def __init__(self, size):
        self.size = size
        self._recent, self._older = {}, {}

    def __len__(self):
        return len(self._recent) + len(self._older)

    def get(self, key, name, make):
        """The fragment of ``key``, written from ``make()`` as ``name`` if unknown."""
        written = self._recent.get(key)
        if written is None:
            written = self._older.get(key)
            if written is None:
                written = fragment(name, make())
            if len(self._recent) >= self.size:
                self._older, self._recent = self._recent, {}
            self._recent[key] = written
        return written


def _write(parts, name, value):
    """
    Append ``<name>value</name>`` to ``parts``.

    Answers are written as text, not built as an element tree: a
    DescribeInstances of thousands of instances is tens of thousands of
    elements, and building them one by one cost more than everything else
    in the request.  Texts are escaped here; names are checked once each.
    """
    if type(value) is Fragment:
        parts.append(value)
    elif isinstance(value, dict):
        parts.append("<%s>" % (name,))
        for childName, child in value.items():
            if child is not None:
                _checkName(childName)
                _write(parts, childName, child)
        parts.append("</%s>" % (name,))
    elif isinstance(value, (list, tuple)):
        parts.append("<%s>" % (name,))
        for child in value:
            if child is not None:
                _write(parts, "item", child)
        parts.append("</%s>" % (name,))
    else:
        parts.append("<%s>%s</%s>" % (name, escape(_text(value)), name))


def renderResponse(action, version, requestId, data):
    """``<ActionResponse xmlns=...><requestId/>...data...</ActionResponse>`` bytes."""
    ns = namespaceFor(action, version)
    _checkName(action)
    parts = ["<?xml version='1.0' encoding='UTF-8'?>\n",
             '<%sResponse xmlns="%s">' % (action, escape(ns, {'"': "&quot;"})),
             "<requestId>%s</requestId>" % (escape(xmlSafe(requestId)),)]
    if isinstance(data, dict):
        for name, child in data.items():
            if child is not None:
                _checkName(name)
                _write(parts, name, child)
    elif isinstance(data, (list, tuple)):
        for child in data:
            if child is not None:
                _write(parts, "item", child)
    elif data is not None:
        parts.append(escape(_text(data)))
    parts.append("</%sResponse>" % (action,))
    return "".join(parts).encode("utf-8")


def renderError(error, requestId):
    """``(status, body)`` of an EC2 error answer."""
    root = etree.Element("Response")
    errors = etree.SubElement(root, "Errors")
    item = etree.SubElement(errors, "Error")
    etree.SubElement(item, "Code").text = xmlSafe(str(error.code))
    etree.SubElement(item, "Message").text = xmlSafe(str(error.message or ""))
    etree.SubElement(root, "RequestID").text = xmlSafe(requestId)
    return statusFor(error), etree.tostring(root, xml_declaration=True,
                                            encoding="UTF-8")


def renderInternalError(requestId):
    """
    ``(500, body)`` of an InternalError, written without lxml: the answer of
    last resort when making any other answer failed.  ``requestId`` is
    ours (a UUID), so only its XML-special characters need escaping.
    """
    safe = escape(xmlSafe(requestId))
    body = ('<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Errors><Error>'
            '<Code>InternalError</Code><Message>An internal error occurred</Message>'
            '</Error></Errors><RequestID>%s</RequestID></Response>' % (safe,))
    return 500, body.encode("utf-8")
