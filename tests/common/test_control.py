"""eucad-ctl (and the init script): the daemons eucalyptus.conf enables, by PID file."""

import os
import socket
import subprocess
import time

from twisted.internet import threads
from twisted.trial import unittest

from eucad.common import control, euca_conf
from eucad.common.config import Layout
from tests.commandline import run


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ControlTests(unittest.TestCase):

    timeout = 120

    def setUp(self):
        self.prefix = os.path.abspath(self.mktemp())
        self.port = freePort()
        code, _, err = run(euca_conf.main, [
            "-d", self.prefix, "-walrus", "Y", "-cloud", "N",
            "WALRUS_PORT=%d" % self.port, "WALRUS_LISTEN=127.0.0.1", "--setup"])
        self.assertEqual(code, 0, err)
        self.addCleanup(lambda: [d.stop() for d in control.daemonsFor(self.prefix, False)])

    def test_onlyEnabledComponents(self):
        """The enabled components are the daemons eucad-ctl starts, in order."""
        names = [d.name for d in control.daemonsFor(self.prefix)]
        self.assertEqual(names, ["walrus"])
        self.assertEqual([d.name for d in control.daemonsFor(self.prefix, False)],
                         ["walrus", "clc", "cc", "nc"])

    def test_startStatusStop(self):
        """start runs the enabled daemon until it listens; stop ends it by its PID."""
        def scenario():
            code, out, err = run(control.main, ["start", "--prefix", self.prefix])
            self.assertEqual(code, 0, err)
            self.assertIn("started eucalyptus-walrus", out)
            daemon = control.daemonsFor(self.prefix)[0]
            pid = daemon.pid()
            self.assertIsNotNone(pid)
            # twistd's own log is created 0600 (it would follow our umask).
            self.assertEqual(os.stat(daemon.twistdLog).st_mode & 0o777, 0o600)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", self.port), 1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                self.fail("walrus never listened")
            code, out, _ = run(control.main, ["status", "--prefix", self.prefix])
            self.assertEqual(code, 0)
            self.assertIn("running (pid %d)" % pid, out)
            # A second start leaves the running daemon alone.
            run(control.main, ["start", "--prefix", self.prefix])
            self.assertEqual(daemon.pid(), pid)
            code, out, _ = run(control.main, ["stop", "--prefix", self.prefix])
            self.assertEqual(code, 0)
            self.assertIsNone(daemon.pid())
            code, _, _ = run(control.main, ["status", "--prefix", self.prefix])
            self.assertEqual(code, 3)
        return threads.deferToThread(scenario)

    def test_initScriptCallsControl(self):
        """The guide's etc/init.d/eucalyptus status works against an install root."""
        script = os.path.join(os.path.dirname(__file__), "..", "..", "etc", "init.d",
                              "eucalyptus")
        env = dict(os.environ, EUCALYPTUS=self.prefix,
                   PATH=os.path.dirname(control.twistdPath()) + ":" + os.environ["PATH"])
        result = subprocess.run([script, "status"], env=env, stdout=subprocess.PIPE,
                                text=True)
        self.assertEqual(result.returncode, 3)
        self.assertIn("eucalyptus-walrus  stopped", result.stdout)
        bad = subprocess.run([script, "bogus"], env=env, stderr=subprocess.PIPE, text=True)
        self.assertEqual(bad.returncode, 2)

    def test_initScriptRestart(self):
        """etc/init.d/eucalyptus start, restart, stop: restart replaces the daemon
        with a new process that serves again."""
        script = os.path.join(os.path.dirname(__file__), "..", "..", "etc", "init.d",
                              "eucalyptus")
        env = dict(os.environ, EUCALYPTUS=self.prefix,
                   PATH=os.path.dirname(control.twistdPath()) + ":" + os.environ["PATH"])
        daemon = control.daemonsFor(self.prefix)[0]

        def serves():
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", self.port), 1).close()
                    return True
                except OSError:
                    time.sleep(0.1)
            return False

        def scenario():
            started = subprocess.run([script, "start"], env=env, capture_output=True,
                                     text=True)
            self.assertEqual(started.returncode, 0, started.stderr)
            first = daemon.pid()
            self.assertTrue(serves())
            restarted = subprocess.run([script, "restart"], env=env, capture_output=True,
                                       text=True)
            self.assertEqual(restarted.returncode, 0, restarted.stderr)
            self.assertIn("stopped eucalyptus-walrus", restarted.stdout)
            self.assertIn("started eucalyptus-walrus", restarted.stdout)
            second = daemon.pid()
            self.assertNotIn(second, (None, first))
            self.assertTrue(serves())
            stopped = subprocess.run([script, "stop"], env=env, capture_output=True,
                                     text=True)
            self.assertEqual(stopped.returncode, 0, stopped.stderr)
            self.assertIsNone(daemon.pid())
        return threads.deferToThread(scenario)

    def test_foreignPidIsNeverSignalled(self):
        """A PID file naming some other process is not this daemon's."""
        daemon = control.daemonsFor(self.prefix)[0]
        os.makedirs(os.path.dirname(daemon.pidFile), exist_ok=True)
        with open(daemon.pidFile, "w") as f:
            f.write(str(os.getpid()))
        self.assertIsNone(daemon.pid())
        self.assertFalse(daemon.stop())

    def test_nothingEnabledFailsClearly(self):
        """With no component enabled, start says so with exit status 2."""
        run(euca_conf.main, ["-walrus", "N", Layout(self.prefix).conf])
        code, _, err = run(control.main, ["start", "--prefix", self.prefix])
        self.assertEqual(code, 2)
        self.assertIn("nothing is enabled", err)


class SharedPortControlTests(unittest.TestCase):
    """-cloud Y -walrus Y with WALRUS_PORT equal to CLOUD_PORT: one daemon serves both."""

    timeout = 120

    def setUp(self):
        self.prefix = os.path.abspath(self.mktemp())
        self.port = freePort()
        code, _, err = run(euca_conf.main, [
            "-d", self.prefix, "-walrus", "Y", "-cloud", "Y",
            "CLOUD_PORT=%d" % self.port, "WALRUS_PORT=%d" % self.port, "WEB_PORT=0", "WALRUS_IMAGE_PORT=0",
            "CLOUD_LISTEN=127.0.0.1", "WALRUS_LISTEN=127.0.0.1", "METADATA_PORT=0",
            "METADATA_LISTEN=127.0.0.1", "--setup"])
        self.assertEqual(code, 0, err)
        self.addCleanup(lambda: [d.stop() for d in control.daemonsFor(self.prefix, False)])

    def test_noSeparateWalrus(self):
        """Only eucalyptus-clc is started; every daemon is still known for stop and status."""
        self.assertEqual([d.name for d in control.daemonsFor(self.prefix)], ["clc"])
        self.assertEqual([d.name for d in control.daemonsFor(self.prefix, False)],
                         ["walrus", "clc", "cc", "nc"])

    def test_separatePortsStartBoth(self):
        """With WALRUS_PORT apart, Walrus is its own daemon again, started first."""
        run(euca_conf.main, ["WALRUS_PORT=%d" % (self.port + 6), Layout(self.prefix).conf])
        self.assertEqual([d.name for d in control.daemonsFor(self.prefix)], ["walrus", "clc"])

    def test_startStatusStop(self):
        """start runs eucalyptus-clc alone, which answers S3 on the port; status shows Walrus served by it."""
        def scenario():
            code, out, err = run(control.main, ["start", "--prefix", self.prefix])
            self.assertEqual(code, 0, err)
            self.assertEqual(out.split(), ["started", "eucalyptus-clc"])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), 1) as s:
                        # An anonymous S3 request for a missing bucket: Walrus's answer.
                        s.sendall(b"GET /nobucket/k HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  b"Connection: close\r\n\r\n")
                        answer = b""
                        while True:
                            data = s.recv(65536)
                            if not data:
                                break
                            answer += data
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                self.fail("eucalyptus-clc never listened")
            self.assertTrue(answer.startswith(b"HTTP/1.1 404"), answer[:200])
            self.assertIn(b"<Code>NoSuchBucket</Code>", answer)
            code, out, _ = run(control.main, ["status", "--prefix", self.prefix])
            self.assertEqual(code, 0, out)
            self.assertIn("eucalyptus-walrus  served by eucalyptus-clc", out)
            self.assertIn("eucalyptus-clc     running (pid", out)
            code, out, _ = run(control.main, ["stop", "--prefix", self.prefix])
            self.assertEqual((code, out.split()), (0, ["stopped", "eucalyptus-clc"]))
            code, out, _ = run(control.main, ["status", "--prefix", self.prefix])
            self.assertEqual(code, 3)
            self.assertIn("eucalyptus-walrus  served by eucalyptus-clc", out)
        return threads.deferToThread(scenario)
