"""The long-polling pieces on a task.Clock: ChangeFeed, SerialPoll, ChangeWatch."""

from twisted.internet import defer, task
from twisted.trial import unittest

from eucad.common.changes import (MAX_WAIT_SECONDS, ChangeFeed, ChangeWatch, SerialPoll,
                                  checkWaitArguments)
from eucad.common.errors import CloudError
from eucad.common.records import Change


class ChangeFeedTests(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        self.feed = ChangeFeed(self.clock, start=100)

    def test_differentGenerationAnswersAtOnce(self):
        """A caller whose generation is not the current one (or None) gets the current one at once."""
        self.assertEqual(self.successResultOf(self.feed.wait(99, 10)), 100)
        self.assertEqual(self.successResultOf(self.feed.wait(None, 10)), 100)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_randomStart(self):
        """Without a start, two feeds (two lives of a peer) almost surely begin apart."""
        starts = {ChangeFeed(self.clock).generation for _ in range(20)}
        self.assertGreater(len(starts), 1)
        self.assertTrue(all(isinstance(s, int) and s >= 0 for s in starts))

    def test_changeWakesWaiterNextTurn(self):
        """changed() bumps the generation and wakes a waiter in the next reactor turn."""
        d = self.feed.wait(100, 10)
        self.feed.changed()
        self.assertEqual(self.feed.generation, 101)
        self.assertNoResult(d)
        self.clock.advance(0)
        self.assertEqual(self.successResultOf(d), 101)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_burstCoalesces(self):
        """Changes made in one turn wake every waiter once, with the last generation."""
        first, second = self.feed.wait(100, 10), self.feed.wait(100, 10)
        for _ in range(5):
            self.feed.changed()
        self.assertEqual(len(self.clock.getDelayedCalls()), 3)
        self.clock.advance(0)
        self.assertEqual((self.successResultOf(first), self.successResultOf(second)),
                         (105, 105))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_changeWithoutWaitersSchedulesNothing(self):
        """A feed nobody waits on never touches the clock."""
        feed = ChangeFeed(clock=None, start=1)
        feed.changed()
        self.assertEqual((feed.generation, feed._clock), (2, None))

    def test_timeoutAnswersUnchanged(self):
        """Without a change the wait ends after its timeout with the same generation."""
        d = self.feed.wait(100, 10)
        self.clock.advance(9.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.assertEqual(self.successResultOf(d), 100)
        self.assertEqual((self.clock.getDelayedCalls(), self.feed.waiting), ([], 0))

    def test_cancelDropsWaitAndTimer(self):
        """Cancelling a wait removes it and its timer."""
        d = self.feed.wait(100, 10)
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertEqual((self.clock.getDelayedCalls(), self.feed.waiting), ([], 0))
        self.feed.changed()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_releaseEndsEveryWait(self):
        """release() answers every waiter now and leaves nothing scheduled."""
        d = self.feed.wait(100, 10)
        self.feed.changed()
        self.feed.release()
        self.assertEqual(self.successResultOf(d), 101)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class CheckWaitArgumentsTests(unittest.TestCase):

    def test_valid(self):
        """None or an int generation and a number of seconds pass; the timeout is capped."""
        self.assertEqual(checkWaitArguments(None, 25), 25.0)
        self.assertEqual(checkWaitArguments(7, 0.5), 0.5)
        self.assertEqual(checkWaitArguments(7, 3600), MAX_WAIT_SECONDS)

    def test_invalid(self):
        """Other generations and negative, infinite or non-numeric timeouts are refused."""
        for generation, timeout in (("1", 1), (True, 1), (1.5, 1), (1, -1),
                                    (1, float("inf")), (1, float("nan")), (1, "5"),
                                    (1, None), (1, False)):
            error = self.assertRaises(CloudError, checkWaitArguments, generation, timeout)
            self.assertEqual(error.code, "InvalidParameterValue", (generation, timeout))


class SerialPollTests(unittest.TestCase):

    def setUp(self):
        self.started = []
        self.serial = SerialPoll(self.poll)

    def poll(self):
        d = defer.Deferred()
        self.started.append(d)
        return d

    def test_joinSharesTheRunningPoll(self):
        """join() while a poll runs waits for it instead of starting another."""
        first, second = self.serial.join(), self.serial.join()
        self.assertEqual(len(self.started), 1)
        self.started[0].callback("done")
        self.assertEqual((self.successResultOf(first), self.successResultOf(second)),
                         ("done", "done"))
        self.assertFalse(self.serial.running)

    def test_soonDuringAPollRunsExactlyOneMore(self):
        """soon() calls during a poll add one poll after it, which they all wait for."""
        first = self.serial.soon()
        laters = [self.serial.soon() for _ in range(3)]
        self.assertEqual(len(self.started), 1)
        self.started[0].callback("old")
        self.assertEqual(self.successResultOf(first), "old")
        self.assertEqual(len(self.started), 2)
        for d in laters:
            self.assertNoResult(d)
        self.started[1].callback("new")
        self.assertEqual([self.successResultOf(d) for d in laters], ["new"] * 3)
        self.assertEqual(len(self.started), 2)

    def test_synchronousPoll(self):
        """A poll that ends at once still answers its caller, and the next one starts anew."""
        calls = []
        serial = SerialPoll(lambda: calls.append(1) or len(calls))
        self.assertEqual(self.successResultOf(serial.soon()), 1)
        self.assertEqual(self.successResultOf(serial.join()), 2)

    def test_failureIsLoggedAndEndsAsNone(self):
        """A failing poll is logged and its followers get None."""
        d = self.serial.join()
        self.started[0].errback(RuntimeError("boom"))
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_stoppedSkipsTheFollowUp(self):
        """After stop() a follow-up that was due is not run; its waiters get None."""
        self.serial.soon()
        later = self.serial.soon()
        self.serial.stop()
        self.started[0].callback("x")
        self.assertIsNone(self.successResultOf(later))
        self.assertEqual(len(self.started), 1)

    def test_whenIdle(self):
        """whenIdle fires only after the running poll and its follow-up."""
        self.assertIsNone(self.successResultOf(self.serial.whenIdle()))
        self.serial.soon()
        self.serial.soon()
        idle = self.serial.whenIdle()
        self.started[0].callback(1)
        self.assertNoResult(idle)
        self.started[1].callback(2)
        self.successResultOf(idle)


class FakePeer:
    """A peer whose waitForChange answers are given by the test."""

    def __init__(self):
        self.calls = []

    def waitForChange(self, generation, timeout):
        d = defer.Deferred()
        self.calls.append((generation, timeout, d))
        return d


class ChangeWatchTests(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        self.peer = FakePeer()
        self.changes = 0
        self.watch = ChangeWatch("peer", self.peer.waitForChange, self.onChange, self.clock,
                                 retryDelay=2, waitSeconds=25, callTimeout=35)

    def onChange(self):
        self.changes += 1

    def answer(self, generation, after=0.0):
        self.clock.advance(after)
        self.peer.calls[-1][2].callback(Change(generation, []))

    def test_firstAnswerIsAChange(self):
        """The first call carries None; its answer counts as a change and the next call carries it."""
        self.watch.start()
        self.assertEqual(self.peer.calls[0][:2], (None, 25.0))
        self.answer(5)
        self.assertEqual(self.changes, 1)
        self.clock.advance(0.1)
        self.assertEqual(self.peer.calls[1][:2], (5, 25.0))

    def test_unchangedAnswerAfterTheWaitCallsAgain(self):
        """A wait that ended unchanged after its time is simply renewed, without onChange."""
        self.watch.start()
        self.answer(5)
        self.clock.advance(0.1)
        self.answer(5, after=25)
        self.clock.advance(0)
        self.assertEqual((self.changes, len(self.peer.calls)), (1, 3))

    def test_earlyUnchangedAnswerBacksOff(self):
        """A peer that answers unchanged at once is asked again only after retryDelay."""
        self.watch.start()
        self.answer(5)
        self.clock.advance(0.1)
        self.answer(5)
        self.clock.advance(1.9)
        self.assertEqual(len(self.peer.calls), 2)
        self.clock.advance(0.1)
        self.assertEqual(len(self.peer.calls), 3)

    def test_changesArePacedByMinGap(self):
        """Even a peer that changes all the time is called at most every minGap seconds."""
        self.watch.start()
        self.answer(1)
        self.clock.advance(0.05)
        self.assertEqual(len(self.peer.calls), 1)
        self.clock.advance(0.05)
        self.assertEqual(len(self.peer.calls), 2)
        self.answer(2, after=0.5)
        self.clock.advance(0)
        self.assertEqual((self.changes, len(self.peer.calls)), (2, 3))

    def test_errorRetriesWithTheLastGeneration(self):
        """A failed call is retried after retryDelay with the generation known before it."""
        self.watch.start()
        self.answer(5)
        self.clock.advance(0.1)
        self.peer.calls[-1][2].errback(CloudError("Unavailable", "down", 503))
        self.clock.advance(1.9)
        self.assertEqual(len(self.peer.calls), 2)
        self.clock.advance(0.1)
        self.assertEqual(self.peer.calls[2][:2], (5, 25.0))
        self.assertTrue(self.watch.failing)
        self.answer(6)
        self.assertEqual((self.changes, self.watch.failing), (2, False))

    def test_callTimeout(self):
        """A peer that never answers is given up on after callTimeout, then retried."""
        self.watch.start()
        self.clock.advance(35)
        self.assertTrue(self.watch.failing)
        self.assertEqual(len(self.peer.calls), 1)
        self.clock.advance(2)
        self.assertEqual(len(self.peer.calls), 2)

    def test_badAnswerCountsAsAnError(self):
        """An answer without an integer generation is an error, not a change."""
        self.watch.start()
        self.peer.calls[-1][2].callback({"generation": "5"})
        self.assertEqual((self.changes, self.watch.failing), (0, True))

    def test_missingMethodBacksOff(self):
        """A peer without waitForChange (an older daemon) is retried at the poll cadence."""
        def refuse(generation, timeout):
            raise CloudError("InvalidAction", "no operation waitForChange")
        watch = ChangeWatch("old", refuse, self.onChange, self.clock, retryDelay=2)
        watch.start()
        self.assertTrue(watch.failing)
        self.assertEqual([round(c.getTime(), 3) for c in self.clock.getDelayedCalls()], [2.0])
        watch.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopCancelsTheCall(self):
        """stop() cancels the outstanding call and its timeout; nothing follows."""
        self.watch.start()
        call = self.peer.calls[0][2]
        self.watch.stop()
        self.assertTrue(call.called)
        self.assertIsNone(self.successResultOf(call))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(self.watch.failing)

    def test_stopCancelsTheRetry(self):
        """stop() while waiting to retry cancels the retry."""
        self.watch.start()
        self.peer.calls[0][2].errback(CloudError("Unavailable", "down", 503))
        self.watch.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10)
        self.assertEqual(len(self.peer.calls), 1)

    def test_onChangeFailureDoesNotStopTheWatch(self):
        """An onChange that raises is logged and the watch goes on."""
        watch = ChangeWatch("peer", self.peer.waitForChange, lambda: 1 / 0, self.clock)
        watch.start()
        self.answer(3)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.clock.advance(0.1)
        self.assertEqual(len(self.peer.calls), 2)
        watch.stop()

    def test_onChangeThatStopsLeavesNothingScheduled(self):
        """A watch stopped by its own onChange schedules no further call."""
        watch = ChangeWatch("peer", self.peer.waitForChange, lambda: watch.stop(), self.clock)
        watch.start()
        self.answer(3)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.peer.calls), 1)
