"""The CC's state file: atomic JSON, merged writes, refusal of unknown files."""

import json
import os

from twisted.internet import defer
from twisted.trial import unittest

from eucad.cc.state import StateFile, writeAtomically


class ManualThreads:
    """A runInThread whose jobs run only when the test says so."""

    def __init__(self):
        self.jobs = []

    def __call__(self, f, *args):
        d = defer.Deferred()
        self.jobs.append((d, f, args))
        return d

    def runOne(self):
        d, f, args = self.jobs.pop(0)
        try:
            result = f(*args)
        except Exception as e:
            d.errback(e)
        else:
            d.callback(result)


class StateFileTests(unittest.TestCase):

    def setUp(self):
        self.path = os.path.join(os.path.abspath(self.mktemp()), "cc", "state.json")
        self.threads = ManualThreads()
        self.state = StateFile(self.path, runInThread=self.threads)

    def test_missingFileIsNone(self):
        """Before the first save there is no state."""
        self.assertIsNone(self.state.load())

    def test_roundTrip(self):
        """What is saved is loaded back, with its version."""
        d = self.state.save({"instances": {"i-00000001": {"phase": "running"}}})
        self.threads.runOne()
        self.successResultOf(d)
        self.assertEqual(self.state.load(), {"version": 1, "instances": {
            "i-00000001": {"phase": "running"}}})

    def test_writesMerge(self):
        """Saves during a write become one later write of the newest document."""
        first = self.state.save({"n": 1})
        second = self.state.save({"n": 2})
        third = self.state.save({"n": 3})
        self.assertEqual(len(self.threads.jobs), 1)
        self.threads.runOne()
        self.successResultOf(first)
        self.assertNoResult(second)
        self.assertEqual(len(self.threads.jobs), 1)
        self.threads.runOne()
        self.successResultOf(second)
        self.successResultOf(third)
        self.assertEqual(self.state.load()["n"], 3)
        self.assertEqual(self.threads.jobs, [])

    def test_whenIdle(self):
        """whenIdle fires once the last queued write is done."""
        self.successResultOf(self.state.whenIdle())
        self.state.save({"n": 1})
        self.state.save({"n": 2})
        idle = self.state.whenIdle()
        self.threads.runOne()
        self.assertNoResult(idle)
        self.threads.runOne()
        self.successResultOf(idle)

    def test_writeFailureReported(self):
        """A failed write fails the savers' Deferreds and is logged."""
        os.makedirs(os.path.dirname(self.path))
        os.makedirs(self.path)  # a directory where the file should go
        d = self.state.save({"n": 1})
        self.threads.runOne()
        self.failureResultOf(d, OSError)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.assertEqual([n for n in os.listdir(os.path.dirname(self.path))
                          if n != "state.json"], [])

    def test_foreignFileRefused(self):
        """A file of another version or shape is refused rather than overwritten."""
        os.makedirs(os.path.dirname(self.path))
        for content in ({"version": 99}, ["not", "a", "dict"]):
            with open(self.path, "w") as f:
                json.dump(content, f)
            self.assertRaises(ValueError, self.state.load)

    def test_writeAtomicallyReplaces(self):
        """writeAtomically replaces the file and leaves nothing else in the directory."""
        os.makedirs(os.path.dirname(self.path))
        writeAtomically(self.path, b"old")
        writeAtomically(self.path, b"new")
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), b"new")
        self.assertEqual(os.listdir(os.path.dirname(self.path)), ["state.json"])
