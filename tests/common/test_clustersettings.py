"""The ClusterSettings record: what the CLC may tell every cluster, checked once."""

from twisted.trial import unittest

from eucad.common.clustersettings import ClusterSettings, parseDnsServers
from eucad.common.errors import CloudError


class ClusterSettingsTests(unittest.TestCase):

    def test_parseDnsServers(self):
        """Commas and spaces separate servers; repeats collapse; more than three or a non-address is refused."""
        self.assertEqual(parseDnsServers(" 192.0.2.53, 198.51.100.7 192.0.2.53 "),
                         ("192.0.2.53", "198.51.100.7"))
        self.assertEqual(parseDnsServers(""), ())
        for bad in ("dns.example.com", "192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4",
                    "0.0.0.0", "224.0.0.1", "192.0.2.1;", "::1"):
            self.assertRaises(ValueError, parseDnsServers, bad)

    def test_recordChecksItsField(self):
        """The record keeps a tuple of addresses and refuses anything else, from code or from a peer's dict."""
        self.assertEqual(ClusterSettings(dnsServers=["192.0.2.53"]).dnsServers, ("192.0.2.53",))
        self.assertEqual(ClusterSettings().dnsServers, ())
        for bad in ("192.0.2.53", ["192.0.2.53", "192.0.2.53"], ["x"], [53]):
            with self.assertRaises(CloudError) as caught:
                ClusterSettings.fromDict({"dnsServers": bad})
            self.assertEqual(caught.exception.code, "InvalidParameterValue")
        with self.assertRaises(CloudError):
            ClusterSettings.fromDict({"dnsServers": [], "other": 1})
        record = ClusterSettings(dnsServers=("192.0.2.53",))
        self.assertEqual(ClusterSettings.fromDict(record.toDict()), record)
