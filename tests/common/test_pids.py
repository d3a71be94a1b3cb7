"""pidAlive: live processes, zombies and the gone."""

import os
import subprocess

from twisted.trial import unittest

from eucad.common.pids import pidAlive


class PidAliveTests(unittest.TestCase):

    def test_selfIsAlive(self):
        """This very process is alive."""
        self.assertTrue(pidAlive(os.getpid()))

    def test_zombieAndReapedAreGone(self):
        """A child that exited is gone as a zombie and after it is reaped."""
        child = subprocess.Popen(["true"])
        for _ in range(200):
            with open("/proc/%d/stat" % child.pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            import time
            time.sleep(0.01)
        self.assertFalse(pidAlive(child.pid))
        child.wait()
        self.assertFalse(pidAlive(child.pid))
