"""Putting idle nodes to sleep and waking them for new instances (POWERSAVE).

As in Eucalyptus 1.6's ``SCHEDPOLICY=POWERSAVE``: instances are packed on
the fewest nodes (``eucad.cc.placement``); a node that has run nothing for
``POWER_IDLETHRESH`` seconds is put to sleep with ``POWER_SLEEP_COMMAND``; a
sleeping node's capacity still counts, and when placement chooses it,
``POWER_WAKE_COMMAND`` wakes it (wake-on-LAN with the node's MAC from
``POWER_NODE_MACS``) and the instances wait until it answers the CC's polls,
at most ``POWER_WAKE_TIMEOUT`` seconds.  A node asleep for less than
``POWER_WAKETHRESH`` seconds is left to settle: it is neither woken nor
believed awake when a poll still reaches it.

Commands are argv templates (split like a shell would, never run by one),
with ``{host}``, ``{port}``, ``{node}`` (host:port) and ``{mac}`` replaced
per node, and run through the CC's ProcessRunner.  ``NodePower`` watches
the registry's polls; ``Placement`` asks it which nodes sleep and to wake
the ones it chose.  Which nodes sleep, and since when, is kept in a state
file of its own: a restarted CC still counts their room and wakes them (a
sleeping node looks like any node that is down otherwise).
"""

import shlex
import shutil

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

from eucad.common.errors import CloudError
from eucad.common.hostport import parseHostPort
from eucad.common.records import NodeResources

log = Logger()

AWAKE = "awake"
GOING_TO_SLEEP = "going to sleep"
ASLEEP = "asleep"
WAKING = "waking"

PLACEHOLDERS = ("host", "port", "node", "mac")
_MAC_PARTS = 6


def _normaliseMac(text):
    parts = text.replace("-", ":").lower().split(":")
    if len(parts) != _MAC_PARTS or not all(
            len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts):
        raise ValueError(text)
    return ":".join(parts)


def parseCommand(key, text):
    """
    The argv template of a POWER_*_COMMAND value.

    @raise ValueError: one line naming ``key`` for an empty or unbalanced
        command, an unknown ``{placeholder}``, or a program not found.
    """
    try:
        argv = shlex.split(text or "")
    except ValueError as e:
        raise ValueError("%s: %s" % (key, e)) from None
    if not argv:
        raise ValueError("%s is required with SCHEDPOLICY=POWERSAVE" % (key,))
    for word in argv:
        try:
            word.format(**{name: "" for name in PLACEHOLDERS})
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError("%s: bad placeholder in %r (have %s): %s" % (
                key, word, ", ".join("{%s}" % p for p in PLACEHOLDERS), e)) from None
    if shutil.which(argv[0], path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") \
            is None:
        raise ValueError("%s: %s is not an executable program" % (key, argv[0]))
    return argv


def parseNodeMacs(text, defaultPort):
    """``{(host, port): mac}`` of a POWER_NODE_MACS value (``host[:port]=MAC`` words)."""
    macs = {}
    for word in (text or "").split():
        node, sep, mac = word.partition("=")
        if not sep:
            raise ValueError("POWER_NODE_MACS entry %r is not HOST[:PORT]=MAC" % (word,))
        try:
            macs[parseHostPort(node, defaultPort)] = _normaliseMac(mac)
        except ValueError:
            raise ValueError("POWER_NODE_MACS entry %r: bad node or MAC" % (word,)) from None
    return macs


class PowerSettings:
    """The POWER_* keys, checked: every problem is a ValueError naming its key."""

    def __init__(self, idleThreshold, wakeThreshold, wakeTimeout, sleepCommand,
                 wakeCommand, macs):
        self.idleThreshold = idleThreshold
        self.wakeThreshold = wakeThreshold
        self.wakeTimeout = wakeTimeout
        self.sleepCommand = sleepCommand
        self.wakeCommand = wakeCommand
        self.macs = macs

    @classmethod
    def fromConf(cls, conf, nodes, defaultPort):
        """
        @param nodes: the ``(host, port)`` pairs of NODES.
        @raise ValueError: one line per problem, all of them at once.
        """
        problems = []

        def seconds(key, default, low):
            try:
                value = float(conf.get(key) or default)
            except ValueError:
                problems.append("%s must be a number of seconds, not %r" % (key, conf.get(key)))
                return float(default)
            if value < low:
                problems.append("%s must be at least %s seconds" % (key, low))
            return value

        def command(key):
            try:
                return parseCommand(key, conf.get(key))
            except ValueError as e:
                problems.append(str(e))
                return []

        idle = seconds("POWER_IDLETHRESH", 300, 1)
        wake = seconds("POWER_WAKETHRESH", 300, 0)
        timeout = seconds("POWER_WAKE_TIMEOUT", 300, 1)
        sleepCommand = command("POWER_SLEEP_COMMAND")
        wakeCommand = command("POWER_WAKE_COMMAND")
        macs = {}
        try:
            macs = parseNodeMacs(conf.get("POWER_NODE_MACS"), defaultPort)
        except ValueError as e:
            problems.append(str(e))
        if any("{mac}" in word for word in sleepCommand + wakeCommand):
            missing = ["%s:%d" % pair for pair in nodes if pair not in macs]
            if missing:
                problems.append("POWER_NODE_MACS has no MAC for %s" % (", ".join(missing),))
        if problems:
            raise ValueError("\n".join(problems))
        return cls(idle, wake, timeout, sleepCommand, wakeCommand, macs)

    def argv(self, template, entry):
        """``template`` for the node of ``entry``."""
        values = {"host": entry.host, "port": entry.port, "node": entry.name,
                  "mac": self.macs.get((entry.host, entry.port), "")}
        return [word.format(**values) for word in template]


class _NodePowerState:
    def __init__(self):
        self.state = AWAKE
        self.since = None
        self.idleSince = None
        self.waiters = []
        self.wakeTimer = None
        #: The node's poll count when it fell asleep or began to wake: only
        #: a poll begun after that says anything about its new state.
        self.pollMark = 0


def wakeFailed(entry, why):
    """The error RunInstances gets when a node chosen for it does not wake."""
    return CloudError("InsufficientInstanceCapacity",
                      "node %s is asleep and did not wake: %s" % (entry.name, why), 500)


class NodePower(Service):
    """
    Sleep and wake for the registry's nodes.

    @param busy: ``busy(entry)`` is True while anything is placed on the node
        (the placement's reservations); a node that reports instances is busy too.
    @param stateFile: a ``eucad.cc.state.StateFile`` for the sleeping nodes, or None.
    """

    def __init__(self, registry, settings, runner, clock, busy=lambda entry: False,
                 stateFile=None):
        self.registry = registry
        self.settings = settings
        self.runner = runner
        self.clock = clock
        self.busy = busy
        self.stateFile = stateFile
        self.nodes = {entry.name: _NodePowerState() for entry in registry.entries}

    def startService(self):
        Service.startService(self)
        self.load()
        self.registry.addObserver(self.afterPoll)

    def load(self):
        """
        Take back which nodes sleep from the state file, and what each said
        of its resources before it slept (a restarted CC cannot ask a
        sleeping node).  Nodes no longer in NODES are ignored.
        """
        document = self.stateFile.load() if self.stateFile is not None else None
        for name, saved in sorted(((document or {}).get("asleep") or {}).items()):
            node, entry = self.nodes.get(name), self.registry.entry(name)
            try:
                since = float(saved["since"])
                resource = NodeResources.fromDict(saved["resource"]) \
                    if saved.get("resource") else None
            except (CloudError, KeyError, TypeError, ValueError) as e:
                log.warn("ignoring the saved power state of {name}: {e}", name=name, e=e)
                continue
            if node is None:
                continue
            node.state, node.since = ASLEEP, since
            if entry.resource is None:
                entry.resource = resource
            log.info("node {name} is asleep since {since:.0f}", name=name, since=since)

    def save(self):
        """Write which nodes sleep; a Deferred (errors are logged)."""
        if self.stateFile is None:
            return defer.succeed(None)
        asleep = {}
        for name, node in self.nodes.items():
            if node.state in (ASLEEP, WAKING):
                resource = self.registry.entry(name).resource
                asleep[name] = {"since": node.since,
                                "resource": resource.toDict() if resource else None}
        d = self.stateFile.save({"asleep": asleep})
        return d.addErrback(lambda f: log.error("cannot save the sleeping nodes: {e}",
                                                e=f.getErrorMessage()))

    def stopService(self):
        Service.stopService(self)
        try:
            self.registry.removeObserver(self.afterPoll)
        except ValueError:
            pass
        for state in self.nodes.values():
            if state.wakeTimer is not None and state.wakeTimer.active():
                state.wakeTimer.cancel()
        if self.stateFile is not None:
            return self.stateFile.whenIdle()
        return None

    def stateOf(self, entry):
        return self.nodes[entry.name].state

    def sleeping(self, entry):
        """
        True when ``entry`` is asleep and may be woken for new instances (it
        has slept for POWER_WAKETHRESH at least), or is waking already.
        """
        node = self.nodes[entry.name]
        if node.state == WAKING:
            return True
        return node.state == ASLEEP and \
            self.clock.seconds() - node.since >= self.settings.wakeThreshold

    def asleep(self, entry):
        """
        Whether ``entry`` is down because it was put to sleep: going to
        sleep, asleep, or woken but not answering yet (the verbose zone
        listing shows it ``asleep``, not ``down``).
        """
        return self.nodes[entry.name].state in (GOING_TO_SLEEP, ASLEEP, WAKING)

    def usable(self, entry):
        """Whether placement may choose ``entry`` as an awake node."""
        return entry.up and self.nodes[entry.name].state == AWAKE

    # -- polls ----------------------------------------------------------------------

    def afterPoll(self, entries):
        now = self.clock.seconds()
        for entry in entries:
            node = self.nodes[entry.name]
            answered = entry.up and entry.lastPollStarted > node.pollMark
            if node.state == WAKING and answered:
                self._woke(entry, node)
            elif node.state == ASLEEP and answered and \
                    now - node.since >= self.settings.wakeThreshold:
                log.info("node {name} answers again: awake", name=entry.name)
                node.state, node.since, node.idleSince = AWAKE, now, None
                self.save()
            elif node.state == AWAKE and entry.up:
                self._checkIdle(entry, node, now)

    def _idle(self, entry):
        return not self.busy(entry) and all(
            report.state == "terminated" for report in entry.instances.values())

    def _checkIdle(self, entry, node, now):
        if not self._idle(entry):
            node.idleSince = None
            return
        if node.idleSince is None:
            node.idleSince = now
        elif now - node.idleSince >= self.settings.idleThreshold:
            self.putToSleep(entry)

    def putToSleep(self, entry):
        """Run the sleep command for ``entry``; a Deferred that never fails."""
        node = self.nodes[entry.name]
        node.state, node.since = GOING_TO_SLEEP, self.clock.seconds()
        argv = self.settings.argv(self.settings.sleepCommand, entry)
        log.info("node {name} idle for {s:.0f}s: putting it to sleep", name=entry.name,
                 s=node.since - (node.idleSince or node.since))

        def slept(_):
            if node.state != GOING_TO_SLEEP:
                return None  # woken meanwhile: the wake decides
            node.state, node.since, node.idleSince = ASLEEP, self.clock.seconds(), None
            # A poll begun before now may still answer: it proves nothing.
            node.pollMark = entry.pollsStarted
            self.registry.markDown(entry, "asleep (POWERSAVE)")
            return self.save()

        def failed(failure):
            log.error("node {name} could not be put to sleep: {e}", name=entry.name,
                      e=failure.getErrorMessage())
            if node.state == GOING_TO_SLEEP:
                node.state, node.idleSince = AWAKE, None
        return self.runner.run(argv).addCallbacks(slept, failed)

    # -- waking ---------------------------------------------------------------------

    def wake(self, entry):
        """
        A Deferred that fires once ``entry`` answers a poll after its wake
        command; fails with ``wakeFailed`` when the command fails or the
        node stays silent for POWER_WAKE_TIMEOUT seconds.
        """
        node = self.nodes[entry.name]
        if node.state == AWAKE and entry.up:
            return defer.succeed(entry)
        waiter = defer.Deferred()
        node.waiters.append(waiter)
        if node.state != WAKING:
            self._startWaking(entry, node)
        return waiter

    def _startWaking(self, entry, node):
        node.state, node.since = WAKING, self.clock.seconds()
        node.pollMark = entry.pollsStarted
        argv = self.settings.argv(self.settings.wakeCommand, entry)
        log.info("waking node {name}", name=entry.name)
        node.wakeTimer = self.clock.callLater(
            self.settings.wakeTimeout, self._wakeTimedOut, entry, node)

        def failed(failure):
            self._wakeEnded(entry, node, wakeFailed(
                entry, "%s failed: %s" % (argv[0], failure.getErrorMessage())))
        d = self.runner.run(argv)
        # Polled now rather than at the next round: it may be up already.
        d.addCallbacks(lambda _: self.registry.pollSoon(), failed)

    def _wakeTimedOut(self, entry, node):
        node.wakeTimer = None
        self._wakeEnded(entry, node, wakeFailed(
            entry, "no answer within POWER_WAKE_TIMEOUT (%gs)" % (self.settings.wakeTimeout,)))

    def _woke(self, entry, node):
        log.info("node {name} is awake", name=entry.name)
        self._wakeEnded(entry, node, None)

    def _wakeEnded(self, entry, node, error):
        if node.state != WAKING:
            return
        if node.wakeTimer is not None and node.wakeTimer.active():
            node.wakeTimer.cancel()
        node.wakeTimer = None
        now = self.clock.seconds()
        if error is None:
            node.state, node.since, node.idleSince = AWAKE, now, None
        else:
            log.error("{e}", e=error.message)
            # Still asleep as far as anyone knows; a later request may try again.
            node.state, node.since = ASLEEP, now - self.settings.wakeThreshold
        self.save()
        waiters, node.waiters = node.waiters, []
        for waiter in waiters:
            if error is None:
                waiter.callback(entry)
            else:
                waiter.errback(error)
