"""The CLC package's own description stays in step with the API it serves."""

from twisted.trial import unittest

import eucad.clc
from eucad.clc.api.dispatch import ACTIONS


class PackageDocstringTests(unittest.TestCase):

    def test_everyActionLocated(self):
        """The package docstring names every dispatched Action and the function serving it."""
        doc = eucad.clc.__doc__ or ""
        for action, operation in ACTIONS.items():
            self.assertIn(action, doc)
            module = operation.__module__.replace("eucad.clc.", "")
            self.assertIn(module, doc, action)
