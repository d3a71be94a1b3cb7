"""pollUntil: the one bounded wait of the command-line tools."""

from twisted.trial import unittest

from eucad.common.polling import PollTimeout, pollUntil


class PollUntilTests(unittest.TestCase):

    def test_returnsTheFirstTrueValue(self):
        """The wait ends with the check's first true answer."""
        answers = iter([None, 0, "ready"])
        self.assertEqual(pollUntil("ready", lambda: next(answers), 5, 0), "ready")

    def test_timeoutNamesWhatAndLastError(self):
        """A check that never succeeds times out, naming what and the last tolerated error."""
        def check():
            raise ConnectionRefusedError("not listening")
        error = self.assertRaises(PollTimeout, pollUntil, "port 1", check, 0.05, 0.01,
                                  (ConnectionRefusedError,))
        self.assertIn("port 1", str(error))
        self.assertIn("not listening", str(error))

    def test_otherErrorsEndTheWait(self):
        """An error not listed as tolerated ends the wait at once."""
        def check():
            raise KeyError("broken")
        self.assertRaises(KeyError, pollUntil, "x", check, 5, 0, (OSError,))
