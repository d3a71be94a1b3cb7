"""eucad-ctl (and the init script): the daemons eucalyptus.conf enables, by PID file."""

import io
import os
import socket
import subprocess
import time
from contextlib import redirect_stderr, redirect_stdout

from twisted.internet import threads
from twisted.trial import unittest

from eucad.common import control, euca_conf
from eucad.common.config import Layout


def run(main, argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


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
