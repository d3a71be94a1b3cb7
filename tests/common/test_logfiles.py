"""Every eucad log file is 0600 from its first byte, whatever the umask."""

import os
import stat

from twisted.internet import defer
from twisted.trial import unittest

from eucad.common.daemon import LoggingService
from eucad.common.logfiles import ensurePrivateFile, openPrivateLog
from eucad.common.process import ProcessRunner


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class PrivateLogTests(unittest.TestCase):

    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        old = os.umask(0o022)
        self.addCleanup(os.umask, old)

    def test_newFileAndDirectory(self):
        """A new log is 0600 in a new 0700 directory, though the umask would allow 0644."""
        path = os.path.join(self.root, "var", "log", "eucalyptus", "x.log")
        with openPrivateLog(path) as f:
            f.write("line\n")
        self.assertEqual(mode(path), 0o600)
        self.assertEqual(mode(os.path.dirname(path)), 0o700)

    def test_existingFileNarrowed(self):
        """A log left readable by others (an older install) is narrowed to 0600 and kept."""
        os.makedirs(self.root)
        path = os.path.join(self.root, "old.log")
        with open(path, "w") as f:
            f.write("before\n")
        os.chmod(path, 0o644)
        ensurePrivateFile(path)
        self.assertEqual(mode(path), 0o600)
        with open(path) as f:
            self.assertEqual(f.read(), "before\n")

    def test_daemonLog(self):
        """The daemon's LoggingService writes its file 0600."""
        path = os.path.join(self.root, "cloud-output.log")
        service = LoggingService(path)
        service.startService()
        service.stopService()
        self.assertEqual(mode(path), 0o600)

    @defer.inlineCallbacks
    def test_commandErrorLog(self):
        """The error log of external commands (httpd-cc_error_log) is 0600."""
        path = os.path.join(self.root, "httpd-cc_error_log")
        runner = ProcessRunner(errorLog=path)
        yield runner.run(["sh", "-c", "echo oops >&2; exit 3"], check=False)
        runner.close()
        self.assertEqual(mode(path), 0o600)
        with open(path, "rb") as f:
            self.assertIn(b"oops", f.read())
