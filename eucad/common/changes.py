"""Long polling over the tier links: state changes travel up without waiting
for the next poll.

A tier that reports instances upwards (the NC to its CC, the CC to the CLC)
keeps a ``ChangeFeed``: a generation number it bumps whenever what it would
report changes.  Its ``waitForChange(generation, timeout)`` (see
``eucad.common.interfaces``) answers as soon as the feed's generation differs
from the caller's, or after the timeout.  The caller runs one ``ChangeWatch``
per peer: a bounded loop of such calls that, on each new generation, asks
for a prompt poll through a ``SerialPoll``, which never runs two polls of the
same thing at once and never loses a change seen during a poll.  The regular
polls stay as the safety net; this only makes them come sooner.

Only plain data crosses the links, so this fits the PB facades unchanged.
"""

import math
import secrets

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

from eucad.common.errors import CloudError

log = Logger()

#: Longest wait a peer grants, whatever the caller asks: a hung call must
#: end while the caller's own timeout has not yet given up on it.
MAX_WAIT_SECONDS = 60.0


def _startingGeneration():
    # Random, so that a restarted peer never answers the generation its
    # previous life had reached: the caller then sees a change and polls.
    return secrets.randbelow(2 ** 31)


def checkWaitArguments(generation, timeout):
    """
    Check the arguments of a ``waitForChange`` call.

    @return: the timeout as a float, capped at ``MAX_WAIT_SECONDS``.
    @raise CloudError: ``InvalidParameterValue`` for a generation that is not
        None or an int, or a timeout that is not a finite number >= 0.
    """
    if generation is not None and (not isinstance(generation, int)
                                   or isinstance(generation, bool)):
        raise CloudError("InvalidParameterValue",
                         "generation must be an integer or None", 400)
    if (not isinstance(timeout, (int, float)) or isinstance(timeout, bool)
            or not math.isfinite(timeout) or timeout < 0):
        raise CloudError("InvalidParameterValue",
                         "timeout must be a number of seconds >= 0", 400)
    return min(float(timeout), MAX_WAIT_SECONDS)


class ChangeFeed:
    """
    A generation counter that callers can wait on.

    @param clock: the IReactorTime for timeouts and wake-ups; None means the
        global reactor, looked up only when a wait needs a timer, so that an
        object nobody waits on never schedules anything.
    @param start: the first generation (tests); random by default.
    @ivar generation: the current generation; bumped by ``changed``.
    """

    def __init__(self, clock=None, start=None):
        self._clock = clock
        self.generation = _startingGeneration() if start is None else start
        self._waiters = []
        self._wakeCall = None

    @property
    def clock(self):
        if self._clock is None:
            from twisted.internet import reactor
            self._clock = reactor
        return self._clock

    @property
    def waiting(self):
        """How many waits are outstanding."""
        return len(self._waiters)

    def changed(self):
        """
        Something a waiter would see has changed.  Waiters are woken in the
        next reactor turn, so a burst of changes made in one turn wakes them
        once, with the generation the burst ended on.
        """
        self.generation += 1
        if self._waiters and self._wakeCall is None:
            self._wakeCall = self.clock.callLater(0, self._wake)

    def wait(self, generation, timeout):
        """
        @param generation: the generation the caller knows, or None.
        @param timeout: seconds to wait at most for a change.
        @return: a Deferred firing with the current generation: at once when
            it differs from ``generation``, else after the next ``changed``
            or after ``timeout`` seconds.  Cancelling it drops the wait and
            its timer.
        """
        if generation != self.generation:
            return defer.succeed(self.generation)
        waiter = _Waiter(self)
        self._waiters.append(waiter)
        waiter.timer = self.clock.callLater(timeout, self._timedOut, waiter)
        return waiter.deferred

    def release(self):
        """
        End every wait now with the current generation (the owner stops):
        nothing is left scheduled afterwards.
        """
        if self._wakeCall is not None and self._wakeCall.active():
            self._wakeCall.cancel()
        self._wakeCall = None
        self._wake()

    def _wake(self):
        self._wakeCall = None
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.fire(self.generation)

    def _timedOut(self, waiter):
        waiter.timer = None
        self._drop(waiter)
        waiter.fire(self.generation)

    def _drop(self, waiter):
        if waiter in self._waiters:
            self._waiters.remove(waiter)


class _Waiter:
    """One outstanding ``ChangeFeed.wait``: its Deferred and its timer."""

    def __init__(self, feed):
        self.feed = feed
        self.timer = None
        self.deferred = defer.Deferred(self._cancelled)

    def fire(self, generation):
        self._stopTimer()
        if not self.deferred.called:
            self.deferred.callback(generation)

    def _cancelled(self, deferred):
        self._stopTimer()
        self.feed._drop(self)

    def _stopTimer(self):
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None


class SerialPoll:
    """
    Runs a poll of one thing (a cluster, a cluster's nodes) at most once at
    a time.

    ``join`` is for the regular rounds: it starts a poll, or waits for the
    one running.  ``soon`` is for a change just heard of: the poll it waits
    for begins after the call, so it is sure to see the change; while a poll
    runs, any number of ``soon`` calls add exactly one poll after it.

    @param poll: a callable returning a Deferred (or a value); its failures
        are logged and end as None, so a follower is never left hanging.
    """

    def __init__(self, poll, name="poll"):
        self._poll = poll
        self._name = name
        self._running = None
        self._followUp = None
        self.stopped = False

    @property
    def running(self):
        """Whether a poll is under way."""
        return self._running is not None

    def join(self):
        """A Deferred firing with the result of the poll running or started now."""
        return self._follow(self._running or self._start())

    def soon(self):
        """A Deferred firing with the result of a poll that begins after this call."""
        if self._running is None:
            return self._follow(self._start())
        if self._followUp is None:
            self._followUp = defer.Deferred()
        return self._follow(self._followUp)

    def whenIdle(self):
        """A Deferred firing once no poll runs and none is due after it."""
        if self._running is None:
            return defer.succeed(None)
        pending = self._followUp or self._running
        return self._follow(pending).addCallback(lambda _: self.whenIdle())

    def stop(self):
        """Start no more polls; a follow-up still due fires with None."""
        self.stopped = True

    @staticmethod
    def _follow(source):
        mine = defer.Deferred()

        def relay(result):
            mine.callback(result)
            return result
        source.addCallback(relay)
        return mine

    def _start(self):
        # self._running is set before the poll is called, so that a poll that
        # asks for another one while it runs gets a follow-up, not a twin.
        running = self._running = defer.Deferred()
        outcome = defer.maybeDeferred(self._poll)
        outcome.addErrback(lambda f: log.failure("{name} failed", f, name=self._name))
        outcome.addCallback(self._ended, running)
        return running

    def _ended(self, result, running):
        self._running = None
        followUp, self._followUp = self._followUp, None
        if followUp is not None:
            if self.stopped:
                followUp.callback(None)
            else:
                self._start().addCallback(lambda r: (followUp.callback(r), r)[1])
        running.callback(result)


class ChangeWatch:
    """
    The long-poll loop a caller keeps on one peer.

    It calls ``waitFor(generation, waitSeconds)``; each answer whose
    ``generation`` differs from the last one known (the first answer always
    does) calls ``onChange()``, then the next wait is sent.  A failed call (the
    link is down, the peer does not answer within ``callTimeout``, the peer
    lacks the method) is retried after ``retryDelay`` seconds, keeping the
    last generation so that what changed meanwhile is still noticed.  Calls
    are never closer than ``minGap`` seconds, and an unchanged answer that
    comes back early (a peer that does not really wait) is followed after
    ``retryDelay``: a misbehaving peer cannot make this spin.

    @param name: the peer, for the log.
    @param waitFor: ``waitForChange`` of the peer's facade.
    @param onChange: called with no arguments on every new generation.
    @param clock: IReactorTime.
    """

    def __init__(self, name, waitFor, onChange, clock, retryDelay=2.0,
                 waitSeconds=25.0, callTimeout=35.0, minGap=0.1):
        self.name = name
        self.waitFor = waitFor
        self.onChange = onChange
        self.clock = clock
        self.retryDelay = float(retryDelay)
        self.waitSeconds = float(waitSeconds)
        self.callTimeout = float(callTimeout)
        self.minGap = float(minGap)
        self.generation = None
        self.failing = False
        self.started = False
        self._call = None
        self._timer = None
        self._sentAt = None

    def start(self):
        """Send the first wait."""
        if self.started:
            return
        self.started = True
        self._send()

    def stop(self):
        """Cancel the outstanding call or the pending retry; nothing follows."""
        self.started = False
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        call, self._call = self._call, None
        if call is not None:
            call.cancel()

    def _later(self, seconds):
        self._timer = self.clock.callLater(seconds, self._send)

    def _send(self):
        self._timer = None
        if not self.started:
            return
        self._sentAt = self.clock.seconds()
        call = defer.maybeDeferred(self.waitFor, self.generation, self.waitSeconds)
        call.addTimeout(self.callTimeout, self.clock)
        self._call = call
        call.addCallbacks(self._answered, self._failed, callbackArgs=(call,),
                          errbackArgs=(call,))

    def _answered(self, answer, call):
        if call is not self._call or not self.started:
            return
        self._call = None
        generation = getattr(answer, "generation", None)
        if not isinstance(generation, int) or isinstance(generation, bool):
            self._failed(None, call, "an answer without a generation: %r" % (
                type(answer).__name__,))
            return
        if self.failing:
            log.info("watching {name} for changes again", name=self.name)
            self.failing = False
        elapsed = self.clock.seconds() - self._sentAt
        if generation != self.generation:
            self.generation = generation
            try:
                self.onChange()
            except Exception:
                log.failure("reacting to a change of {name} failed", name=self.name)
            if not self.started:
                # onChange stopped the watch: schedule nothing more.
                return
            self._later(max(0.0, self.minGap - elapsed))
        elif elapsed < self.waitSeconds / 2:
            self._later(max(self.retryDelay, self.minGap - elapsed))
        else:
            self._later(max(0.0, self.minGap - elapsed))

    def _failed(self, failure, call, reason=None):
        if call is self._call:
            self._call = None
        if not self.started:
            return None
        if not self.failing:
            self.failing = True
            log.info("cannot watch {name} for changes ({reason}); retrying every"
                     " {delay} s", name=self.name, delay=self.retryDelay,
                     reason=reason or failure.getErrorMessage())
        self._later(self.retryDelay)
        return None


class WatchSet(Service):
    """
    One ``ChangeWatch`` per peer, started and stopped with the service: the
    CC watches its nodes, the CLC its clusters.  Subclasses name the peers.

    @param retryDelay: seconds before watching a peer again after a failed call.
    """

    def __init__(self, clock, retryDelay, waitSeconds=25.0, callTimeout=35.0):
        self.clock = clock
        self.retryDelay = retryDelay
        self.waitSeconds = waitSeconds
        self.callTimeout = callTimeout
        self.watches = {}

    def peers(self):
        """``(key, label for the log, waitFor, onChange)`` for every peer."""
        raise NotImplementedError()

    def startService(self):
        Service.startService(self)
        for key, label, waitFor, onChange in self.peers():
            self._watch(key, label, waitFor, onChange)

    def _watch(self, key, label, waitFor, onChange):
        watch = ChangeWatch(label, waitFor, onChange, self.clock,
                            retryDelay=self.retryDelay, waitSeconds=self.waitSeconds,
                            callTimeout=self.callTimeout)
        self.watches[key] = watch
        watch.start()

    def refresh(self):
        """Watch the peers that came since the start; stop watching those gone."""
        if not self.running:
            return
        current = {peer[0]: peer for peer in self.peers()}
        for key in set(self.watches) - set(current):
            self.watches.pop(key).stop()
        for key, peer in current.items():
            if key not in self.watches:
                self._watch(*peer)

    def stopService(self):
        Service.stopService(self)
        watches, self.watches = self.watches, {}
        for watch in watches.values():
            watch.stop()
