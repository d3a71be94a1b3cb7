"""Applies the rendered ruleset: one ``iptables-restore --noflush`` per event.

The MANAGED modes call ``apply(state)`` after each change (an instance's
group network appears or goes, a rule is authorized or revoked, an address
is associated); the whole ruleset is rendered (``ruleset.renderRuleset``) and
fed to a single ``iptables-restore --noflush`` through the process runner,
so a change of any size costs one process and lands in one transaction.
Applies are queued: they never overlap, and each sees the chains the one
before it left, so chains of groups that went away are deleted.

``start`` is the guide's start-up: flush ``filter`` and ``nat``, load the
admin's ``iptables-preload`` if there is one, then the hooks and the current
state.
"""

from twisted.internet import defer
from twisted.logger import Logger

from eucad.cc.vnet.ruleset import renderHooks, renderRuleset

log = Logger()

RESTORE = "iptables-restore"
#: Input that empties both tables eucad uses (iptables-restore without --noflush).
FLUSH = "*filter\nCOMMIT\n*nat\nCOMMIT\n"


class Firewall:
    """
    The front end's iptables, driven through ``runner`` (a ProcessRunner).

    @ivar chains: the group chains the last successful apply left.
    """

    def __init__(self, runner, preload=None, timeout=60):
        self.runner = runner
        self.preload = preload
        self.timeout = timeout
        self.chains = set()
        self._lock = defer.DeferredLock()

    def _restore(self, text, noflush=True):
        argv = [RESTORE, "--noflush"] if noflush else [RESTORE]
        return self.runner.run(argv, stdin=text.encode("utf-8"), timeout=self.timeout)

    def start(self, state):
        """Flush, preload, hooks, then ``state``: the CC's start."""
        return self._lock.run(self._start, state)

    @defer.inlineCallbacks
    def _start(self, state):
        yield self._restore(FLUSH + (self.preload or ""), noflush=False)
        self.chains = set()
        yield self._restore(renderHooks())
        yield self._apply(state)

    def apply(self, state):
        """Make the rules match ``state`` in one batch; fires when it is in force."""
        return self._lock.run(self._apply, state)

    @defer.inlineCallbacks
    def _apply(self, state):
        yield self._restore(renderRuleset(state, staleChains=self.chains))
        self.chains = state.chains()
