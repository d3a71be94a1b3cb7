"""eucad-lab from the command line: up, status, down (network only, for real)."""

import io
import json
import os
import sys

from twisted.internet import threads
from twisted.trial import unittest

from eucad.lab import cli
from tests.lab import realenv


class CliTests(unittest.TestCase):
    """The three commands against one two-node lab without libvirtd."""

    timeout = 120

    def setUp(self):
        realenv.skipUnlessReal("ip")
        self.name = realenv.uniqueName("cl")
        self.dir = os.path.abspath(self.mktemp())
        self.addCleanup(cli.main, ["down", "--quiet", "--dir", self.dir, "--name", self.name])

    def runCli(self, *args):
        out = io.StringIO()
        saved, sys.stdout = sys.stdout, out
        try:
            code = cli.main(list(args) + ["--quiet"])
        finally:
            sys.stdout = saved
        return code, out.getvalue()

    def test_upStatusDown(self):
        """up prints the description, status finds the lab by its dir, down removes it all."""
        def scenario():
            code, out = self.runCli("up", "--name", self.name, "--dir", self.dir, "--nodes", "2",
                                    "--subnet", "10.81.0.0/24", "--no-libvirt")
            self.assertEqual(code, 0)
            described = json.loads(out)
            self.assertEqual([n["address"] for n in described["nodes"]], ["10.81.0.2", "10.81.0.3"])
            self.assertEqual(len(realenv.labNamespaces(self.name)), 5)
            code, out = self.runCli("status", "--dir", self.dir)
            self.assertEqual(code, 0)
            self.assertTrue(json.loads(out)["up"])
            code, _ = self.runCli("down", "--dir", self.dir)
            self.assertEqual(code, 0)
            self.assertEqual(realenv.labNamespaces(self.name), [])
            self.assertFalse(os.path.exists(self.dir))
        return threads.deferToThread(scenario)

    def test_badSubnet(self):
        """A subnet too small for the nodes is an error exit, and nothing is created."""
        self.patch(sys, "stderr", io.StringIO())
        code, _ = self.runCli("up", "--name", self.name, "--dir", self.dir, "--nodes", "3",
                              "--subnet", "10.81.0.0/30", "--no-libvirt")
        self.assertEqual(code, 1)
        self.assertEqual(realenv.labNamespaces(self.name), [])


class NameMismatchTests(unittest.TestCase):
    """down and status act on the lab of --dir; another --name is refused."""

    def test_otherNameRefused(self):
        """down --name X for a directory holding lab Y exits 1 with one line, deleting nothing."""
        from eucad.lab.topology import STATE_FILE
        from tests.commandline import run
        if os.geteuid() != 0:
            raise unittest.SkipTest("eucad-lab runs as root")
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        with open(os.path.join(directory, STATE_FILE), "w") as f:
            json.dump({"parameters": {"name": "mine", "nodes": 1, "subnet": "10.90.0.0/24",
                                      "publicSubnet": "192.0.2.0/24", "withLibvirt": False},
                       "namespaces": [], "complete": False}, f)
        code, out, err = run(cli.main, ["down", "--dir", directory, "--name", "other",
                                        "--quiet"])
        self.assertEqual(code, 1)
        self.assertEqual(err.strip().splitlines(), [
            "eucad-lab down: %s holds lab 'mine', not 'other': give another --dir "
            "for another lab" % (directory,)])
        self.assertTrue(os.path.exists(os.path.join(directory, STATE_FILE)))
