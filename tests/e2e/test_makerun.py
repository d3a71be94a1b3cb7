"""``make run`` (``eucad-allinone up``) starts its instance with a key pair and user data.

The all-in-one is brought up with its ``main``, as ``make run`` does, on
one node.  Its output must say how to log into the instance; that line,
run as printed (with a command appended, as one does with ssh), must log
in with the admin's key.  The private key is in the run directory, 0600;
the guest shows the key's public half and what the user-data script
printed in its /status.json.  ``down`` then leaves nothing behind.
"""

import json
import os
import stat
import subprocess

from twisted.internet import threads
from twisted.trial import unittest

from tests.commandline import run
from tests.e2e.test_sidebyside import _missing, namespaces
from tests.listening import patchEnv


def printed(out):
    """The ssh command make run printed (after "log in:")."""
    line = [entry for entry in out.splitlines() if entry.strip().startswith("log in:")]
    return line[0].split("log in:", 1)[1].strip() if line else ""


class MakeRunTests(unittest.TestCase):

    timeout = 900

    def setUp(self):
        reason = _missing()
        if reason:
            raise unittest.SkipTest(reason)
        from eucad.lab import allinone
        self.allinone = allinone
        home = os.path.abspath(self.mktemp())
        os.makedirs(home)
        patchEnv(self, "HOME", home)
        self.dir = os.path.abspath(self.mktemp())
        self.name = "mr%d" % (os.getpid() % 1000,)
        self.port = allinone.freeBasePort()
        self.addCleanup(lambda: threads.deferToThread(
            run, self.allinone.main, ["down", "--dir", self.dir]))

    def scenario(self):
        """Blocking: up with the instance, log in as printed, read the guest's status, down."""
        from eucad.lab import firstinstance
        code, out, err = run(self.allinone.main, [
            "up", "--dir", self.dir, "--name", self.name, "--port", str(self.port),
            "--subnet", "10.88.0.0/24", "--nodes", "1"])
        if code != 0:
            return code, out, err, None, None, None, None
        login = subprocess.run(printed(out) + " 'cat /run/instance-id; echo; cat /www/status.json'",
                               shell=True, capture_output=True, text=True, timeout=120,
                               stdin=subprocess.DEVNULL)
        key = firstinstance.keyPath(self.dir)
        public = subprocess.run(["ssh-keygen", "-y", "-f", key], capture_output=True,
                                text=True).stdout.strip()
        mode = stat.S_IMODE(os.stat(key).st_mode)
        # make run again on the running cloud: the same instance and key.
        again = run(self.allinone.main, ["up", "--dir", self.dir])
        againPublic = subprocess.run(["ssh-keygen", "-y", "-f", key], capture_output=True,
                                     text=True).stdout.strip()
        down = run(self.allinone.main, ["down", "--dir", self.dir])
        return (code, out, err, login, (public, mode), (again, againPublic),
                (down[0], namespaces(self.name)))

    def test_instanceWithKeyAndUserData(self):
        """make run prints an ssh command that logs into its instance with the admin's 0600 key;
        the guest received that key and ran the user-data script."""
        d = threads.deferToThread(self.scenario)

        def check(result):
            code, out, err, login, key, again, down = result
            self.assertEqual(code, 0, err[-3000:])
            self.assertEqual(login.returncode, 0, login.stderr[-2000:])
            instanceId, _, statusText = login.stdout.partition("\n")
            self.assertRegex(instanceId, r"^i-[0-9a-f]{8}$")
            self.assertIn(instanceId, out)
            status = json.loads(statusText)
            public, mode = key
            self.assertEqual(mode, 0o600)
            self.assertEqual(status["publicKey"].split()[:2], public.split()[:2])
            self.assertIn("eucad make run: user data ran on " + instanceId,
                          status["userDataOutput"])
            (againCode, againOut, againErr), againPublic = again
            self.assertEqual(againCode, 0, againErr[-3000:])
            self.assertIn("%s at" % (instanceId,), againOut)
            self.assertIn(printed(out), againOut)
            self.assertEqual(againPublic, public)
            self.assertEqual(down, (0, []))
        return d.addCallback(check)
