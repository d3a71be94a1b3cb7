"""One host[:port] parser for NODES and CLUSTERS."""

from twisted.trial import unittest

from eucad.common.hostport import formatHostPort, parseHostPort


class ParseHostPortTests(unittest.TestCase):

    def test_forms(self):
        """Names, IPv4, bracketed and bare IPv6, with and without a port."""
        cases = {"node3": ("node3", 8775), "10.0.0.2:9000": ("10.0.0.2", 9000),
                 "[fd00::2]:9001": ("fd00::2", 9001), "[fd00::3]": ("fd00::3", 8775),
                 "fd00::4": ("fd00::4", 8775), "Node-3:5": ("Node-3", 5)}
        for text, expected in cases.items():
            self.assertEqual(parseHostPort(text, 8775), expected, text)

    def test_refused(self):
        """Bad ports, empty hosts and what URLs allow but hosts do not are errors."""
        for text in ["a:http", "a:70000", "a:0", "a:", ":80", "", "[x", "u@h:1", "h/p",
                     "h:1?x"]:
            self.assertRaises(ValueError, parseHostPort, text, 8775)

    def test_format(self):
        """IPv6 hosts get brackets when a port follows."""
        self.assertEqual(formatHostPort("10.0.0.2", 8775), "10.0.0.2:8775")
        self.assertEqual(formatHostPort("fd00::2", 8775), "[fd00::2]:8775")
