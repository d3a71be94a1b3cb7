"""``make run``'s ~/.euca/eucarc: every credential variable, and the venv's bin on PATH."""

import os
import stat
import sys

from twisted.trial import unittest

from eucad.common import euca_conf
from eucad.lab import allinone
from tests.commandline import run
from tests.common.test_useradmin import EUCARC_NAMES, sourced


class UserEucarcTests(unittest.TestCase):

    def test_allVariablesAndPath(self):
        """~/.euca/eucarc names every variable, its files exist, and aws is on PATH."""
        cloud = allinone.openCloud(os.path.abspath(self.mktemp()), port=9873,
                                   log=lambda *a: None)
        code, _, err = run(euca_conf.main, ["-d", cloud.frontEnd, "--setup"])
        self.assertEqual(code, 0, err)
        creds = cloud.credentials(os.path.join(cloud.runDir, "creds"))
        home = os.path.abspath(self.mktemp())
        path = allinone.writeUserEucarc(creds, home=home, runDir=cloud.runDir)
        self.assertEqual(path, os.path.join(home, ".euca", "eucarc"))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode), 0o700)
        values = sourced(path, EUCARC_NAMES + ("PATH",))
        for name in EUCARC_NAMES:
            self.assertTrue(values[name], name)
        for name in ("EC2_CERT", "EC2_PRIVATE_KEY", "EUCALYPTUS_CERT"):
            self.assertTrue(os.path.isfile(values[name]), name)
        self.assertEqual((values["EC2_ACCESS_KEY"], values["EC2_SECRET_KEY"]),
                         (creds["EC2_ACCESS_KEY"], creds["EC2_SECRET_KEY"]))
        venvBin = os.path.dirname(sys.executable)
        self.assertEqual(values["PATH"].split(":")[0], venvBin)
        self.assertTrue(os.path.exists(os.path.join(venvBin, "aws")))
        with open(path) as f:
            self.assertIn(allinone.EUCARC_CLOUD_LINE + cloud.runDir + "\n", f.read())
