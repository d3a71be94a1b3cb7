"""What the system's service manager and log rotation get: units and logrotate config."""

import configparser
import os
import shutil
import subprocess

from twisted.trial import unittest

from eucad.common.logfiles import openPrivateLog

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNITS = os.path.join(PROJECT, "etc", "systemd")
LOGROTATE = os.path.join(PROJECT, "etc", "logrotate.d", "eucalyptus")


class UnitTests(unittest.TestCase):

    def test_everyDaemonIsANotifyUnit(self):
        """Each daemon's unit is Type=notify, runs its own plugin in the foreground,
        and keeps its files private."""
        for plugin in ("eucalyptus-clc", "eucalyptus-walrus", "eucalyptus-cc",
                       "eucalyptus-nc"):
            unit = configparser.ConfigParser(interpolation=None, strict=False)
            unit.read(os.path.join(UNITS, plugin + ".service"))
            service = unit["Service"]
            self.assertEqual(service["Type"], "notify", plugin)
            self.assertEqual(service["NotifyAccess"], "main", plugin)
            self.assertIn("--nodaemon", service["ExecStart"].split(), plugin)
            self.assertIn(plugin, service["ExecStart"].split(), plugin)
            self.assertEqual(service["UMask"], "0077", plugin)


class LogRotationTests(unittest.TestCase):

    def test_logrotateRotatesAnOpenLog(self):
        """Real logrotate, with the shipped rules aimed at a test prefix, rotates a
        log a daemon holds open: old lines in a 0600 copy, new lines in the live file."""
        # tools/install-deps installs logrotate.
        logrotate = shutil.which("logrotate") or "/usr/sbin/logrotate"
        prefix = os.path.abspath(self.mktemp())
        logs = os.path.join(prefix, "var", "log", "eucalyptus")
        log = openPrivateLog(os.path.join(logs, "cc.log"))
        self.addCleanup(log.close)
        log.write("before rotation\n")
        with open(LOGROTATE) as f:
            rules = f.read().replace("/var/log/eucalyptus/", logs + "/")
        config = os.path.join(prefix, "logrotate.conf")
        with open(config, "w") as f:
            f.write(rules)
        os.chmod(config, 0o644)
        result = subprocess.run([logrotate, "-f", "-s", os.path.join(prefix, "state"),
                                 config], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        log.write("after rotation\n")
        with open(os.path.join(logs, "cc.log.1")) as f:
            self.assertEqual(f.read(), "before rotation\n")
        self.assertEqual(os.stat(os.path.join(logs, "cc.log.1")).st_mode & 0o777, 0o600)
        with open(os.path.join(logs, "cc.log")) as f:
            self.assertEqual(f.read(), "after rotation\n")
