"""Reading request XML safely and writing S3's response documents.

Request bodies (CreateBucketConfiguration, Delete, CompleteMultipartUpload,
AccessControlPolicy) come from anyone who can reach the port, so they are
parsed by lxml with entity expansion, DTD loading and network access all off,
and only up to a size limit: a billion-laughs or external-entity body is a
``MalformedXML`` and nothing else.  Responses are built with lxml too, in the
S3 namespace, so escaping is never done by hand.
"""

import re

from lxml import etree

from eucad.walrus.errors import S3Error

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

#: Large enough for DeleteObjects of 1000 long keys or 10000 parts.
MAX_XML_BYTES = 2 * 1024 * 1024

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True,
                          load_dtd=False, dtd_validation=False,
                          huge_tree=False, remove_comments=True,
                          remove_pis=True)


def parseXml(body, code="MalformedXML", limit=MAX_XML_BYTES):
    """
    The root element of ``body`` (bytes), or S3Error(``code``).

    A document with a DOCTYPE is refused outright: S3 bodies never need one,
    and refusing it closes the entity-expansion door whatever lxml does.
    """
    if len(body) > limit:
        raise S3Error("MaxMessageLengthExceeded" if code == "MalformedXML" else code,
                      "The XML body is larger than %d bytes." % (limit,))
    if not body.strip():
        raise S3Error(code)
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        raise S3Error(code)
    if root is None or root.getroottree().docinfo.doctype:
        raise S3Error(code)
    return root


def localName(element):
    """The tag of ``element`` without its namespace."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def children(element, name):
    """Child elements named ``name`` in any (or no) namespace."""
    return [c for c in element if localName(c) == name]


def childText(element, name, default=None):
    """The text of the first child named ``name``, or ``default``."""
    found = children(element, name)
    if not found:
        return default
    return found[0].text or ""


def document(rootName):
    """A new response root element in the S3 namespace."""
    return etree.Element("{%s}%s" % (S3_NS, rootName), nsmap={None: S3_NS})


def add(parent, name, text=None):
    """Append ``<name>text</name>`` to ``parent`` and return the child."""
    child = etree.SubElement(parent, "{%s}%s" % (S3_NS, name))
    if text is not None:
        child.text = text if isinstance(text, str) else str(text)
    return child


def serialize(root):
    """The bytes of a response document, with its XML declaration."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class RepeatedElement:
    """
    Many elements of one shape (a listing's 1000 ``Contents``), serialized
    fast: one lxml element is built, its texts are set for each entry and it
    is serialized alone.  lxml still does all the escaping; building 1000
    fresh subtrees cost 7 us an entry and this 2.5 (measured).

    ``shape`` lists the children: a name, or (name, [grandchild names]);
    ``render`` takes one text per leaf, in order.  The elements carry no
    namespace of their own: ``serializeWith`` places them inside a document
    whose root declares S3's as the default, which is where S3's listings
    have them.  One instance serves one thread (make one per response).
    """

    def __init__(self, name, shape):
        self.element = etree.Element(name)
        self.slots = []
        for child in shape:
            if isinstance(child, tuple):
                childName, grandchildren = child
                parent = etree.SubElement(self.element, childName)
                self.slots.extend(etree.SubElement(parent, name) for name in grandchildren)
            else:
                self.slots.append(etree.SubElement(self.element, child))

    def render(self, texts):
        """The bytes of one element with ``texts`` in its leaves."""
        for slot, text in zip(self.slots, texts):
            slot.text = text
        return etree.tostring(self.element, encoding="UTF-8")


#: What XML 1.0 text cannot hold (lxml refuses it): control characters,
#: surrogates, U+FFFE and U+FFFF.
_NOT_XML_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: XML text that needs no escaping: no markup character, no carriage
#: return, nothing XML refuses (most keys; one test instead of five).
_PLAIN_TEXT = re.compile("[\t\n\x20-%'-;=?-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


#: ``isPlainText(text)`` is true when ``text`` goes into XML as it is.
isPlainText = _PLAIN_TEXT.fullmatch


def escapeText(text):
    """
    ``text`` as XML character data, exactly as lxml writes it (``&``,
    ``<``, ``>`` and carriage returns escaped, quotes left alone), or None
    if lxml would refuse it: a listing's thousand keys are written this
    way (eucad.walrus.bucket) and the rare refused one through lxml,
    which then raises as it always did.
    """
    if isPlainText(text):
        return text
    if _NOT_XML_TEXT.search(text):
        return None
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


_TAIL_MARK = "WalrusTailMark"


def serializeWith(root, tail):
    """
    The bytes of ``root``'s document with ``tail`` (serialized elements,
    bytes) appended inside the root after its children.  Text lxml escapes
    never contains ``<``, so the marker element is found unambiguously.
    """
    marker = etree.SubElement(root, "{%s}%s" % (S3_NS, _TAIL_MARK))
    try:
        text = serialize(root)
    finally:
        root.remove(marker)
    return text.replace(("<%s/>" % _TAIL_MARK).encode("ascii"), tail, 1)
