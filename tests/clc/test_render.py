"""The one XML renderer: answers, list wrappers, namespaces and error documents."""

from lxml import etree
from twisted.trial import unittest

from eucad.clc.api import render, versions
from eucad.common.errors import CloudError


class RenderResponseTests(unittest.TestCase):

    def parse(self, data, action="DescribeThings", version="2009-11-30"):
        return etree.fromstring(render.renderResponse(action, version, "req-1", data))

    def test_rootAndNamespace(self):
        """The root is <ActionResponse> in the request version's namespace, with requestId."""
        root = self.parse({})
        ns = "http://ec2.amazonaws.com/doc/2009-11-30/"
        self.assertEqual(root.tag, "{%s}DescribeThingsResponse" % (ns,))
        self.assertEqual(root.findtext("{%s}requestId" % (ns,)), "req-1")

    def test_listsBecomeItems(self):
        """A list becomes <item> children, dicts nested elements, scalars text."""
        root = self.parse({"thingSet": [{"id": "a", "count": 3}, {"id": "b", "count": 0}]})
        ns = {"e": versions.namespace("2009-11-30")}
        self.assertEqual(root.xpath("e:thingSet/e:item/e:id/text()", namespaces=ns),
                         ["a", "b"])
        self.assertEqual(root.xpath("e:thingSet/e:item/e:count/text()", namespaces=ns),
                         ["3", "0"])

    def test_booleansAndNone(self):
        """Booleans render as true/false; None leaves the element out; [] stays empty."""
        root = self.parse({"isPublic": True, "other": False, "missing": None,
                           "emptySet": []})
        ns = {"e": versions.namespace("2009-11-30")}
        self.assertEqual(root.xpath("e:isPublic/text()", namespaces=ns), ["true"])
        self.assertEqual(root.xpath("e:other/text()", namespaces=ns), ["false"])
        self.assertEqual(root.xpath("e:missing", namespaces=ns), [])
        self.assertEqual(len(root.xpath("e:emptySet", namespaces=ns)), 1)

    def test_controlCharactersInData(self):
        """Answer text with characters XML 1.0 forbids renders with U+FFFD in their place."""
        root = self.parse({"name": "a\x07b", "keep": "\u00e9\U0001f600"})
        ns = {"e": versions.namespace("2009-11-30")}
        self.assertEqual(root.xpath("e:name/text()", namespaces=ns), ["a\ufffdb"])
        self.assertEqual(root.xpath("e:keep/text()", namespaces=ns), ["\u00e9\U0001f600"])

    def test_isoTime(self):
        """Times are EC2's ISO 8601 with milliseconds and Z."""
        self.assertEqual(render.isoTime(1231110810.25), "2009-01-04T23:13:30.250Z")


class RenderErrorTests(unittest.TestCase):

    def test_document(self):
        """Errors are <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/>."""
        status, body = render.renderError(CloudError("InvalidAction", "no such"), "r-9")
        root = etree.fromstring(body)
        self.assertEqual(root.tag, "Response")
        self.assertEqual(root.findtext("Errors/Error/Code"), "InvalidAction")
        self.assertEqual(root.findtext("Errors/Error/Message"), "no such")
        self.assertEqual(root.findtext("RequestID"), "r-9")
        self.assertEqual(status, 400)

    def test_statuses(self):
        """Each code's HTTP status comes from one table."""
        cases = {"AuthFailure": 401, "SignatureDoesNotMatch": 403,
                 "MissingParameter": 400, "InvalidParameterValue": 400,
                 "InvalidInstanceID.NotFound": 400, "InvalidAMIID.NotFound": 400,
                 "InsufficientInstanceCapacity": 500, "Unavailable": 503}
        for code, status in cases.items():
            self.assertEqual(render.renderError(CloudError(code, ""), "x")[0], status, code)

    def test_controlCharactersReplaced(self):
        """A message echoing control characters still renders, each one replaced by U+FFFD."""
        error = CloudError("NoSuchVersion", "version (\x01\x00\x1b) \ud800 tab\tok")
        status, body = render.renderError(error, "r\x02")
        root = etree.fromstring(body)
        self.assertEqual(root.findtext("Errors/Error/Message"),
                         "version (\ufffd\ufffd\ufffd) \ufffd tab\tok")
        self.assertEqual(root.findtext("RequestID"), "r\ufffd")
        self.assertEqual(status, 400)

    def test_internalErrorOfLastResort(self):
        """The fallback InternalError document is a 500 with the EC2 error shape."""
        status, body = render.renderInternalError("r-<1>")
        root = etree.fromstring(body)
        self.assertEqual(status, 500)
        self.assertEqual(root.findtext("Errors/Error/Code"), "InternalError")
        self.assertEqual(root.findtext("RequestID"), "r-<1>")

    def test_unlistedCodeKeepsItsStatus(self):
        """A code not in the table keeps the status it was raised with."""
        self.assertEqual(render.statusFor(CloudError("Odd.Code", "", 409)), 409)


class VersionTests(unittest.TestCase):

    def test_range(self):
        """Versions from 2008-12-01 to 2016-11-15 are accepted, the newest by default."""
        self.assertEqual(versions.checkVersion("2008-12-01"), "2008-12-01")
        self.assertEqual(versions.checkVersion("2016-11-15"), "2016-11-15")
        self.assertEqual(versions.checkVersion(None), "2016-11-15")

    def test_outOfRange(self):
        """Versions outside the range, or not dates, are NoSuchVersion."""
        for bad in ("2007-01-01", "2030-01-01", "latest"):
            error = self.assertRaises(CloudError, versions.checkVersion, bad)
            self.assertEqual(error.code, "NoSuchVersion")


class FragmentTests(unittest.TestCase):

    def test_fragmentWritesAsTheValueWould(self):
        """A fragment in place of a value gives the same answer, byte for byte."""
        item = {"id": "i-1", "name": "a<b&c", "tags": [{"key": "k"}]}
        plain = render.renderResponse("DescribeThings", "2009-11-30", "r",
                                      {"thingSet": [item]})
        written = render.renderResponse("DescribeThings", "2009-11-30", "r",
                                        {"thingSet": [render.fragment("item", item)]})
        self.assertEqual(written, plain)
        self.assertIn(b"a&lt;b&amp;c", written)

    def test_cacheWritesEachContentOnce(self):
        """A known key is copied without calling its maker; a new key is written."""
        cache = render.FragmentCache(10)
        made = []

        def maker(value):
            def make():
                made.append(value)
                return {"v": value}
            return make

        first = cache.get(("a",), "item", maker("a"))
        again = cache.get(("a",), "item", maker("a"))
        other = cache.get(("b",), "item", maker("b"))
        self.assertEqual(made, ["a", "b"])
        self.assertIs(again, first)
        self.assertEqual((first, other), ("<item><v>a</v></item>", "<item><v>b</v></item>"))

    def test_cacheIsBounded(self):
        """At most two generations of ``size`` entries are kept; recent ones survive."""
        cache = render.FragmentCache(3)
        for n in range(20):
            cache.get((n,), "item", lambda n=n: {"v": n})
        self.assertLessEqual(len(cache), 6)
        for n in (17, 18, 19):
            self.assertEqual(cache.get((n,), "item", lambda: self.fail("rewritten")),
                             "<item><v>%d</v></item>" % (n,))
