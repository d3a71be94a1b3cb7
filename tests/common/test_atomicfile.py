"""Atomic file replacement: permissions from the first byte, no leftovers."""

import os

from twisted.trial import unittest

from eucad.common.atomicfile import writeAtomically


class WriteAtomicallyTests(unittest.TestCase):

    def test_replacesWithModeAndNoTemporaries(self):
        """The new content replaces the old, with the asked mode, and no temp file stays."""
        directory = self.mktemp()
        path = os.path.join(directory, "key.pem")
        writeAtomically(path, b"old", 0o644)
        writeAtomically(path, "new", 0o600)
        self.assertEqual(open(path).read(), "new")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        self.assertEqual(os.listdir(directory), ["key.pem"])

    def test_failureKeepsOldFile(self):
        """A write that fails leaves the old file whole and removes its temporary."""
        directory = self.mktemp()
        path = os.path.join(directory, "state.json")
        writeAtomically(path, "{}")

        import unittest.mock as mock
        with mock.patch("os.fsync", side_effect=OSError("disk gone")):
            self.assertRaises(OSError, writeAtomically, path, b"partial")
        self.assertEqual(open(path).read(), "{}")
        self.assertEqual(os.listdir(directory), ["state.json"])
