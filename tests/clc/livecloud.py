"""A real ``eucalyptus-clc`` daemon (Walrus on its port) for end-to-end tests.

The install is made as an admin makes one (``euca_conf --setup`` with the
ports and, for PostgreSQL, ``CLOUD_DB_URL``); the daemon is a real process
started with ``python -m twisted eucalyptus-clc`` and ended by its PID.  Its
one cluster, when a test asks for one, is a ``FakeCluster`` served over the
real mutually authenticated PB link from the test's own reactor, so that
RunInstances works and survives the CLC's restarts.
"""

import os
import signal
import socket
import subprocess
import sys
import time

from eucad.common import euca_conf, pblink, trust
from eucad.common.config import Layout
from eucad.common.links import ClusterRoot
from tests.commandline import run


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveCloud:
    """One front end: its prefix, its CLC process, its optional fake cluster."""

    def __init__(self, testcase, databaseUrl=None, cluster=None, extraSettings=()):
        self.testcase = testcase
        self.prefix = os.path.abspath(testcase.mktemp())
        self.layout = Layout(self.prefix)
        self.port = freePort()
        self.ccPort = freePort() if cluster is not None else None
        self.cluster = cluster
        self.process = None
        settings = ["-cloud", "Y", "-walrus", "Y", "CLOUD_HOST=127.0.0.1",
                    "CLOUD_LISTEN=127.0.0.1", "WALRUS_LISTEN=127.0.0.1",
                    "CLOUD_PORT=%d" % self.port, "WALRUS_PORT=%d" % self.port,
                    "METADATA_PORT=0", "METADATA_LISTEN=127.0.0.1",
                    "CLUSTER_POLL_SECONDS=0.5", "LOGLEVEL=INFO", "WEB_PORT=0",
                    "WALRUS_IMAGE_PORT=0"]
        settings.extend(extraSettings)
        if databaseUrl:
            settings.append("CLOUD_DB_URL=%s" % (databaseUrl,))
        if cluster is not None:
            settings.append("CLUSTERS=zone1@127.0.0.1:%d" % (self.ccPort,))
        code, _, err = self.euca_conf(*(settings + ["--setup"]))
        if code != 0:
            raise AssertionError("euca_conf --setup failed: %s" % (err,))
        testcase.addCleanup(self.kill)

    @property
    def ec2Url(self):
        return "http://127.0.0.1:%d/services/Eucalyptus" % (self.port,)

    @property
    def s3Url(self):
        return "http://127.0.0.1:%d/services/Walrus" % (self.port,)

    def euca_conf(self, *argv):
        """``(status, stdout, stderr)`` of euca_conf on this install (in-process)."""
        return run(euca_conf.main, ["-d", self.prefix] + list(argv) + [self.layout.conf])

    def serveCluster(self, reactor):
        """Serve the fake cluster on CC port over the real TLS link (reactor thread)."""
        server = pblink.LinkServer(
            ClusterRoot(self.cluster), port=self.ccPort, host="127.0.0.1",
            tlsOptions=trust.Credentials.load(self.layout, "cluster").serverOptions(
                acceptRole="cloud"),
            reactor=reactor)
        server.startService()
        self.testcase.addCleanup(server.stopService)
        # The CLC's long polls wait on the fake cluster's feed: end them.
        self.testcase.addCleanup(self.cluster.changes.release)
        return server

    def start(self, timeout=60):
        """Start the CLC and wait until its EC2 API answers (not 503) (blocking)."""
        log = open(os.path.join(self.prefix, "clc-%d.out" % time.time_ns()), "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "twisted", "eucalyptus-clc", "--prefix", self.prefix],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.prefix)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("the CLC exited with %s; see %s" % (
                    self.process.returncode, self.prefix))
            if self._serving():
                return
            time.sleep(0.1)
        raise AssertionError("the CLC did not serve within %d s" % (timeout,))

    def _serving(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"GET /services/Eucalyptus?Action=DescribeRegions HTTP/1.1\r\n"
                          b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
                status = s.recv(64)
        except OSError:
            return False
        # Unsigned: AuthFailure (401/403) once serving, 503 while recovering.
        return status.startswith(b"HTTP/1.1 4")

    def kill(self, sig=signal.SIGKILL):
        """Stop the CLC (SIGKILL by default: nothing gets to flush)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.process = None

    def clientEnv(self, home):
        """An environment with nothing of the machine's AWS configuration in it."""
        return {"HOME": home, "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
                "PATH": os.path.dirname(sys.executable) + ":" + os.environ["PATH"]}
