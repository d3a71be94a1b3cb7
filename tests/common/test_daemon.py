"""What every daemon shares: its log file and the ``--debug`` switch."""

import os

from twisted.logger import Logger
from twisted.trial import unittest

from eucad.cc.tap import Options as CcOptions
from eucad.frontend.tap import Options as ClcOptions
from eucad.common import daemon
from eucad.nc.tap import Options as NcOptions
from eucad.walrus.tap import Options as WalrusOptions

log = Logger()


class DebugSwitchTests(unittest.TestCase):

    def setUp(self):
        self.prefix = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.prefix, "etc", "eucalyptus"))
        with open(os.path.join(self.prefix, "etc", "eucalyptus", "eucalyptus.conf"),
                  "w") as f:
            f.write('LOGLEVEL="INFO"\n')

    def logged(self, argv, options=CcOptions):
        """What one info and one debug event leave in the daemon's log file."""
        parsed = options()
        parsed.parseOptions(["--prefix", self.prefix] + argv)
        root = daemon.makeDaemonService(parsed, "cc.log")
        root.startService()
        try:
            log.info("an info line")
            log.debug("a debug line")
        finally:
            root.stopService()
        with open(os.path.join(self.prefix, "var", "log", "eucalyptus", "cc.log")) as f:
            return f.read()

    def test_levelFromConfWithoutSwitch(self):
        """Without --debug the daemon logs at the conf's LOGLEVEL (INFO here)."""
        text = self.logged([])
        self.assertIn("an info line", text)
        self.assertNotIn("a debug line", text)

    def test_debugSwitchRaisesTheLevel(self):
        """--debug logs debug events although LOGLEVEL says INFO."""
        text = self.logged(["--debug"])
        self.assertIn("a debug line", text)

    def test_everyDaemonTakesTheSwitch(self):
        """Each daemon's options accept --debug and log at DEBUG with it."""
        for options in (ClcOptions, WalrusOptions, CcOptions, NcOptions):
            parsed = options()
            parsed.parseOptions(["--prefix", self.prefix, "--debug"])
            self.assertEqual(daemon.logLevel(parsed), "DEBUG", options)
            parsed = options()
            parsed.parseOptions(["--prefix", self.prefix])
            self.assertEqual(daemon.logLevel(parsed), "INFO", options)
