"""The metadata service bound inside a network namespace the test makes.

Requests come from addresses of that namespace (a client run there with
``ip netns exec``), as VMs' requests arrive at their router; the daemon's
reactor (this test's) never leaves its own namespace.
"""

import os
import socket
import subprocess
import sys

from twisted.internet import defer, reactor, threads
from twisted.trial import unittest

from eucad.clc.metadata.namespace import NamespaceError, listeningSocketIn
from eucad.clc.metadata.service import makeMetadataServer
from eucad.common.config import EucaConf
from eucad.common.db import Database
from tests.clc.metadata.fixtures import addImage, addInstance
from tests.lab import realenv

SERVER, VM, STRANGER = "10.55.0.1", "10.55.0.2", "10.55.0.3"

#: A raw HTTP/1.1 GET from a chosen source address, printing status and body.
CLIENT = (
    "import socket, sys\n"
    "s = socket.create_connection((sys.argv[1], 80), timeout=10, source_address=(sys.argv[2], 0))\n"
    "s.sendall(b'GET ' + sys.argv[3].encode() + b' HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n"
    "data = b''\n"
    "while True:\n"
    "    chunk = s.recv(65536)\n"
    "    if not chunk:\n"
    "        break\n"
    "    data += chunk\n"
    "head, _, body = data.partition(b'\\r\\n\\r\\n')\n"
    "print(head.split()[1].decode())\n"
    "sys.stdout.write(body.decode())\n")


class NamespaceTests(unittest.TestCase):
    """METADATA_NETNS: the port lives in the namespace, not in the daemon's own network."""

    def setUp(self):
        realenv.skipUnlessReal("ip")
        self.ns = realenv.uniqueName("md")
        subprocess.run(["ip", "netns", "add", self.ns], check=True, timeout=30)
        self.addCleanup(subprocess.run, ["ip", "netns", "delete", self.ns], timeout=30)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True, timeout=30)
        for address in (SERVER, VM, STRANGER):
            subprocess.run(["ip", "-n", self.ns, "addr", "add", address + "/32", "dev", "lo"],
                           check=True, timeout=30)
        self.db = Database("sqlite:///" + os.path.abspath(self.mktemp()) + ".db", reactor=reactor)
        self.db.startService()
        self.addCleanup(self.db.stopService)
        addImage(self.db)

    def get(self, source, path):
        """(status, body) of GET ``path`` sent from ``source`` inside the namespace."""
        def run():
            result = subprocess.run(["ip", "netns", "exec", self.ns, sys.executable, "-c", CLIENT,
                                     SERVER, source, path],
                                    capture_output=True, text=True, timeout=60)
            self.assertEqual(result.returncode, 0, result.stderr)
            status, _, body = result.stdout.partition("\n")
            return int(status), body
        return threads.deferToThread(run)

    @defer.inlineCallbacks
    def test_servesInsideTheNamespace(self):
        """Each namespace address is told its own instance; a stranger gets 404."""
        instanceId = addInstance(self.db, VM, userData=b"#!/bin/sh\necho hi\n")
        conf = EucaConf(self.mktemp())
        for key, value in (("METADATA_NETNS", self.ns), ("METADATA_LISTEN", SERVER),
                           ("METADATA_PORT", "80")):
            conf.set(key, value)
        server = makeMetadataServer(conf, self.db, reactor=reactor)
        server.startService()
        self.addCleanup(server.stopService)
        answer = yield self.get(VM, "/latest/meta-data/instance-id")
        self.assertEqual(answer, (200, instanceId))
        answer = yield self.get(VM, "/latest/user-data")
        self.assertEqual(answer, (200, "#!/bin/sh\necho hi\n"))
        answer = yield self.get(STRANGER, "/latest/meta-data/instance-id")
        self.assertEqual(answer[0], 404)

    def test_missingNamespace(self):
        """A namespace that does not exist is a clear error, not a socket in the wrong place."""
        error = self.assertRaises(NamespaceError, listeningSocketIn,
                                  self.ns + "-gone", SERVER, 80)
        self.assertIn("no network namespace", str(error))
        self.assertRaises(NamespaceError, listeningSocketIn, "../etc", SERVER, 80)

    def test_addressOfTheNamespaceOnly(self):
        """An address that exists only in the namespace cannot be bound outside it: the bind really happens there."""
        sock = listeningSocketIn(self.ns, SERVER, 0)
        sock.close()
        outside = socket.socket()
        self.addCleanup(outside.close)
        self.assertRaises(OSError, outside.bind, (SERVER, 0))
