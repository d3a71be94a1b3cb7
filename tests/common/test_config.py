"""eucalyptus.conf reading and writing keeps what the admin wrote."""

import os

from twisted.trial import unittest

from eucad.common.config import DEFAULTS, EucaConf

SAMPLE = """# front end
EUCALYPTUS="/opt/eucalyptus"

# nodes of this cluster
NODES="n1 n2"   # two for now
export VNET_MODE='STATIC'
VNET_MACMAP="AA:DD:11:CE:FF:ED=192.168.1.3 AA:DD:CE:FF:EE:01=192.168.1.4"
"""


class EucaConfTests(unittest.TestCase):

    def write(self, text):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_readsShellValues(self):
        """Quoted, exported and commented values read as the shell would."""
        conf = EucaConf.load(self.write(SAMPLE))
        self.assertEqual(conf.get("EUCALYPTUS"), "/opt/eucalyptus")
        self.assertEqual(conf.getList("NODES"), ["n1", "n2"])
        self.assertEqual(conf.get("VNET_MODE"), "STATIC")
        self.assertEqual(len(conf.get("VNET_MACMAP").split()), 2)

    def test_defaultsForMissingKeys(self):
        """A key not in the file reads as its documented default."""
        conf = EucaConf.load(self.write(SAMPLE))
        self.assertEqual(conf.get("CC_PORT"), DEFAULTS["CC_PORT"])
        self.assertEqual(conf.getInt("NC_PORT"), 8775)

    def test_setKeepsCommentsAndOrder(self):
        """Setting keys rewrites only their lines and appends new keys at the end."""
        path = self.write(SAMPLE)
        conf = EucaConf.load(path)
        conf.set("NODES", "n1 n2 n3")
        conf.set("CC_PORT", "9774")
        conf.save()
        lines = open(path).read().splitlines()
        original = SAMPLE.splitlines()
        self.assertEqual(lines[:4], original[:4])
        self.assertEqual(lines[4], 'NODES="n1 n2 n3"')
        self.assertEqual(lines[5:7], original[5:7])
        self.assertEqual(lines[-1], 'CC_PORT="9774"')
        self.assertEqual(EucaConf.load(path).get("NODES"), "n1 n2 n3")

    def test_quotingRoundTrips(self):
        """Values with quotes, dollars and backslashes survive a save and load."""
        path = self.write("")
        conf = EucaConf.load(path)
        tricky = 'a "b" $HOME \\x `y`'
        conf.set("VNET_DNS", tricky)
        conf.save()
        self.assertEqual(EucaConf.load(path).get("VNET_DNS"), tricky)

    def test_missingFileIsEmpty(self):
        """A missing file is an empty configuration, saved with its directories."""
        path = os.path.join(self.mktemp(), "etc", "eucalyptus.conf")
        conf = EucaConf.load(path)
        self.assertEqual(conf.items(), {})
        conf.set("ENABLE_NC", "Y")
        conf.save()
        self.assertTrue(EucaConf.load(path).getBool("ENABLE_NC"))

    def test_templateDocumentsEveryKey(self):
        """The shipped eucalyptus.conf assigns every key the code has a default for."""
        here = os.path.dirname(os.path.abspath(__file__))
        template = os.path.join(here, "..", "..", "etc", "eucalyptus", "eucalyptus.conf")
        self.assertEqual(set(EucaConf.load(template).items()), set(DEFAULTS))
