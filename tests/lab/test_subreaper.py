"""The subreaper, run for real on small shell commands."""

import os
import signal
import subprocess
import sys
import time

from twisted.trial import unittest

from eucad.lab import subreaper
from eucad.lab.libvirtd import SUBREAPER
from eucad.lab.ownedprocess import OwnedProcess, startTime


class SubreaperArgumentsTests(unittest.TestCase):
    """Its command line."""

    def test_parse(self):
        """--bind pairs and --grace come before --, the command after it."""
        self.assertEqual(
            subreaper.parseArguments(["--bind", "/a", "/b", "--grace", "2", "--", "ls", "-l"]),
            ([("/a", "/b")], 2.0, ["ls", "-l"]))

    def test_noCommand(self):
        """Without a command it refuses to start."""
        self.assertRaises(SystemExit, subreaper.parseArguments, ["--grace", "1"])


class SubreaperProcessTests(unittest.TestCase):
    """The subreaper as a real process."""

    def _runSubreaper(self, argv, timeout=20):
        return subprocess.run([sys.executable, SUBREAPER, "--grace", "2", "--"] + argv,
                              capture_output=True, text=True, timeout=timeout)

    def test_exitCodeAndOrphansEnded(self):
        """It exits with its child's code and ends a double-forked orphan the child left."""
        pidFile = os.path.abspath(self.mktemp())
        started = time.monotonic()
        result = self._runSubreaper(["sh", "-c", "(sleep 60 & echo $! > %s); exit 3" % (pidFile,)])
        elapsed = time.monotonic() - started
        with open(pidFile) as f:
            orphan = int(f.read())
        self.addCleanup(OwnedProcess(orphan, startTime(orphan)).signal, signal.SIGKILL)
        self.assertEqual(result.returncode, 3)
        self.assertFalse(os.path.exists("/proc/%d" % (orphan,)), "orphan %d still exists" % orphan)
        self.assertLess(elapsed, 5)

    def test_forwardsTerm(self):
        """SIGTERM sent to the subreaper reaches its child, and it exits 128+15."""
        process = subprocess.Popen([sys.executable, SUBREAPER, "--", "sleep", "60"])
        self.addCleanup(lambda: process.poll() is None and process.kill())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not subreaper.childrenOf(process.pid):
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        self.assertEqual(process.wait(timeout=10), 128 + signal.SIGTERM)

    def test_bindMount(self):
        """--bind shows a directory at another path to the command only."""
        if os.geteuid() != 0:
            raise unittest.SkipTest("bind mounts need root")
        source = os.path.abspath(self.mktemp())
        target = os.path.abspath(self.mktemp())
        os.makedirs(source)
        os.makedirs(target)
        with open(os.path.join(source, "hello"), "w") as f:
            f.write("from source\n")
        result = subprocess.run(
            ["unshare", "-m", "--propagation", "private", sys.executable, SUBREAPER,
             "--bind", source, target, "--", "cat", os.path.join(target, "hello")],
            capture_output=True, text=True, timeout=20)
        self.assertEqual((result.returncode, result.stdout), (0, "from source\n"), result.stderr)
        self.assertEqual(os.listdir(target), [])
