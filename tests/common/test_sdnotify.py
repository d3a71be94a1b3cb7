"""systemd readiness: READY=1 reaches a real unix datagram socket once the daemon serves."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile

from twisted.application.service import Service
from twisted.internet.protocol import Factory
from twisted.trial import unittest

from eucad.common import sdnotify
from eucad.common.daemon import DaemonService
from eucad.common.listening import ListeningService
from tests.common.test_pblink import sharedKeys

#: Seconds a real twistd may take to start and report ready.
READY_TIMEOUT = 60


class NotifySocket:
    """A unix datagram socket standing in for systemd's notification socket."""

    def __init__(self, testcase, abstract=False):
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        testcase.addCleanup(self.socket.close)
        if abstract:
            name = "eucad-test-%d-%s" % (os.getpid(), os.urandom(4).hex())
            self.socket.bind("\0" + name)
            self.value = "@" + name
        else:
            # Unix socket paths are short (108 bytes): not under trial's tree.
            directory = tempfile.mkdtemp(prefix="eucad-notify-")
            testcase.addCleanup(shutil.rmtree, directory)
            path = os.path.join(directory, "notify")
            self.socket.bind(path)
            self.value = path
        self.environ = {"NOTIFY_SOCKET": self.value}

    def pending(self):
        """Every datagram waiting, without blocking."""
        messages = []
        self.socket.setblocking(False)
        while True:
            try:
                messages.append(self.socket.recv(4096).decode())
            except BlockingIOError:
                return messages

    def wait(self, timeout):
        """The next datagram, waiting at most ``timeout`` seconds."""
        self.socket.setblocking(True)
        self.socket.settimeout(timeout)
        return self.socket.recv(4096).decode()


class StartingReactor:
    """The part of a reactor DaemonService uses: calls queued until it runs."""

    def __init__(self):
        self.queued = []

    def callWhenRunning(self, f, *args):
        self.queued.append((f, args))

    def run(self):
        queued, self.queued = self.queued, []
        for f, args in queued:
            f(*args)


class FailingService(Service):
    """A child whose start fails, as a port already in use does."""

    def startService(self):
        raise OSError("address already in use")


class NotifyTests(unittest.TestCase):

    def test_noManagerNoMessage(self):
        """Without NOTIFY_SOCKET (not under systemd) nothing is sent."""
        self.assertFalse(sdnotify.notify("READY=1", {}))
        self.assertFalse(sdnotify.notify("READY=1", {"NOTIFY_SOCKET": "vsock:2:9"}))

    def test_pathSocket(self):
        """A path NOTIFY_SOCKET gets the state as one datagram."""
        listener = NotifySocket(self)
        self.assertTrue(sdnotify.notify("READY=1", listener.environ))
        self.assertEqual(listener.pending(), ["READY=1"])

    def test_abstractSocket(self):
        """An '@name' NOTIFY_SOCKET is the abstract-namespace socket of that name."""
        listener = NotifySocket(self, abstract=True)
        self.assertTrue(sdnotify.notify("READY=1", listener.environ))
        self.assertEqual(listener.pending(), ["READY=1"])

    def test_goneManagerIsNotFatal(self):
        """A socket nobody listens on any more makes notify return False, not raise."""
        path = os.path.abspath(self.mktemp())
        self.assertFalse(sdnotify.notify("READY=1", {"NOTIFY_SOCKET": path}))
        self.flushLoggedErrors()


class DaemonServiceTests(unittest.TestCase):

    def test_readyOnlyOnceChildrenServe(self):
        """READY=1 is sent once the children started (the port is bound) and the
        reactor runs."""
        listener = NotifySocket(self)
        reactor = StartingReactor()
        root = DaemonService(listener.environ, reactor)
        port = ListeningService("tcp:0:interface=127.0.0.1", Factory())
        port.setServiceParent(root)
        root.startService()
        self.addCleanup(root.stopService)
        self.assertEqual(listener.pending(), [])
        reactor.run()
        self.assertEqual(listener.pending(), ["READY=1\nSTATUS=serving"])
        with socket.create_connection(("127.0.0.1", port.port.getHost().port), 5):
            pass

    def test_failedStartSendsNothing(self):
        """A child that cannot start means no READY=1 (systemd sees the failure)."""
        listener = NotifySocket(self)
        reactor = StartingReactor()
        root = DaemonService(listener.environ, reactor)
        FailingService().setServiceParent(root)
        self.assertRaises(OSError, root.startService)
        reactor.run()
        self.assertEqual(listener.pending(), [])

    def test_stoppingIsReported(self):
        """Stopping tells the manager STOPPING=1."""
        listener = NotifySocket(self)
        reactor = StartingReactor()
        root = DaemonService(listener.environ, reactor)
        root.startService()
        reactor.run()
        self.assertEqual(len(listener.pending()), 1)
        root.stopService()
        self.assertEqual(listener.pending(), ["STOPPING=1"])


class TwistdReadinessTests(unittest.TestCase):

    def test_realDaemonNotifiesWhenItServes(self):
        """twistd eucalyptus-cc, started as systemd would, says READY=1 and then accepts."""
        prefix = os.path.abspath(self.mktemp())
        keys = os.path.join(prefix, "var", "lib", "eucalyptus", "keys")
        shutil.copytree(sharedKeys("main").keys, keys)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        os.makedirs(os.path.join(prefix, "etc", "eucalyptus"))
        with open(os.path.join(prefix, "etc", "eucalyptus", "eucalyptus.conf"), "w") as f:
            f.write('CC_PORT="%d"\nCC_LISTEN="127.0.0.1"\nNODES=""\nVNET_MODE="SYSTEM"\n'
                    % (port,))
        listener = NotifySocket(self)
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        process = subprocess.Popen(
            [twistd, "--nodaemon", "--pidfile=", "--logfile",
             os.path.join(prefix, "twistd.log"), "eucalyptus-cc", "--prefix", prefix],
            env=dict(os.environ, **listener.environ), cwd=prefix)
        self.addCleanup(process.wait)
        self.addCleanup(process.terminate)
        self.assertEqual(listener.wait(READY_TIMEOUT), "READY=1\nSTATUS=serving")
        with socket.create_connection(("127.0.0.1", port), 5):
            pass
        process.terminate()
        self.assertEqual(listener.wait(READY_TIMEOUT), "STOPPING=1")
