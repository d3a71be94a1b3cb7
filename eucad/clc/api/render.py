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
    return _NOT_XML_CHAR.sub("\ufffd", text)


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return xmlSafe(str(value))


def _fill(element, value, tag):
    """Put ``value`` under ``element`` (children named with ``tag``'s namespace)."""
    if isinstance(value, dict):
        for name, child in value.items():
            if child is not None:
                _fill(etree.SubElement(element, tag(name)), child, tag)
    elif isinstance(value, (list, tuple)):
        for child in value:
            if child is not None:
                _fill(etree.SubElement(element, tag("item")), child, tag)
    else:
        element.text = _text(value)


def renderResponse(action, version, requestId, data):
    """``<ActionResponse xmlns=...><requestId/>...data...</ActionResponse>`` bytes."""
    ns = namespaceFor(action, version)

    def tag(name):
        return "{%s}%s" % (ns, name)
    root = etree.Element(tag(action + "Response"), nsmap={None: ns})
    etree.SubElement(root, tag("requestId")).text = xmlSafe(requestId)
    _fill(root, data, tag)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


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
