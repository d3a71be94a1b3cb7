"""Bounded waiting for command-line tools, benches and tests (never daemon code).

Daemons wait with Deferreds and clocks; tools that drive them from outside
(eucad-ctl, the all-in-one, benches, real-lab tests) poll a condition with a
deadline instead, and every such loop is this one.
"""

import time


class PollTimeout(Exception):
    """The condition did not come true in time; ``last`` is the last error seen."""

    def __init__(self, what, timeout, last=None):
        Exception.__init__(self, "timed out after %ss waiting for %s%s" % (
            timeout, what, " (%s)" % (last,) if last is not None else ""))
        self.last = last


def pollUntil(what, check, timeout, interval=0.1, tolerate=()):
    """
    Call ``check`` every ``interval`` seconds until it returns a true value,
    and return that value; raise PollTimeout after ``timeout`` seconds.
    Exceptions of the ``tolerate`` types count as "not yet" (the last one is
    reported in the timeout); any other exception ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = check()
            if value:
                return value
        except tolerate as e:
            last = e
        if time.monotonic() >= deadline:
            raise PollTimeout(what, timeout, last)
        time.sleep(interval)
