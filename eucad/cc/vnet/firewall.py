"""Applies the rendered ruleset: one ``iptables-restore --noflush`` per event.

The MANAGED modes call ``apply(state)`` after each change (an instance's
group network appears or goes, a rule is authorized or revoked, an address
is associated).  The whole state is rendered (``ruleset.chainRules``), the
chains whose rules differ from what is in force are fed to a single
``iptables-restore --noflush`` through the process runner -- a change of any
size costs one process and lands in one transaction per table, and an
authorize rewrites one group's chain, not the cloud's -- and chains of groups
that went away are deleted in the same batch.  An event that changes no
rule runs nothing.  Applies are queued: they never overlap, and each diffs
against what the one before it left.  ``apply(state, full=True)`` rewrites
every chain (a resynchronisation).

``start`` is the guide's start-up: flush ``filter`` and ``nat``, load the
admin's ``iptables-preload`` if there is one, then the hooks and the current
state.  A CC that restarts while instances run ``resume``s instead: nothing
is flushed, and its first apply rewrites eucad's chains in one batch.
"""

from twisted.internet import defer
from twisted.logger import Logger

from eucad.cc.vnet.ruleset import (
    FORWARD_CHAIN, appliedChains, chainRules, renderChanges, renderHooks, renderRuleset)

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
        #: {(table, chain): rules} in force after the last successful apply
        self.applied = {}
        self._lock = defer.DeferredLock()

    @property
    def chains(self):
        """The group chains in force."""
        return {chain for table, chain in (self.applied or {})
                if table == "filter" and chain != FORWARD_CHAIN}

    def _restore(self, text, noflush=True):
        argv = [RESTORE, "--noflush"] if noflush else [RESTORE]
        return self.runner.run(argv, stdin=text.encode("utf-8"), timeout=self.timeout)

    def start(self, state):
        """Flush, preload, hooks, then ``state``: the CC's start."""
        return self._lock.run(self._start, state)

    @defer.inlineCallbacks
    def _start(self, state):
        preload = self.preload() if callable(self.preload) else self.preload
        yield self._restore(FLUSH + (preload or ""), noflush=False)
        self.applied = {}
        yield self._restore(renderHooks())
        yield self._apply(state, full=True)

    def resume(self):
        """
        Take over the rules a previous CC left in force, without touching
        them (a restart while instances run): the hooks are there, and the
        first ``apply`` rewrites every eucad chain in one batch.
        """
        self.applied = None

    def apply(self, state, full=False):
        """Make the rules match ``state`` in one batch; fires when it is in force."""
        return self._lock.run(self._apply, state, full)

    @defer.inlineCallbacks
    def _apply(self, state, full=False):
        if full or self.applied is None:
            text = renderRuleset(state, staleChains=self.chains if self.applied else ())
            now = appliedChains(chainRules(state))
            log.info("rewriting every eucad chain: {groups} group(s), {addresses} "
                     "public address(es)", groups=len(state.groups),
                     addresses=len(state.associations))
        else:
            text, now = renderChanges(state, self.applied)
        if text:
            log.debug("iptables-restore --noflush:\n{text}", text=text)
            yield self._restore(text)
        self.applied = now
