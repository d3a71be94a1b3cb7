"""The eucad daemons' systemd unit states, read from systemd over D-Bus (txdbus).

Where systemd runs the daemons (the packages' ``eucalyptus-*.service``
units), their PID files are not the truth: systemd is.  ``eucad-ctl status``
asks systemd's manager (``org.freedesktop.systemd1`` on the system bus)
for each unit's ``ActiveState``, ``SubState`` and ``MainPID``; where
systemd is not PID 1 (a chroot, a container, a host booted otherwise) it
falls back to the PID files (``eucad.common.control``).

Only documented D-Bus API is used: ``Manager.GetUnit`` (an error
``org.freedesktop.systemd1.NoSuchUnit`` when the unit is not loaded) and
``org.freedesktop.DBus.Properties.Get`` on the unit's object.
"""

import os
from dataclasses import dataclass

from twisted.internet import defer
from txdbus import client
from txdbus.error import RemoteError

SYSTEMD_BUS_NAME = "org.freedesktop.systemd1"
SYSTEMD_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
UNIT = "org.freedesktop.systemd1.Unit"
SERVICE = "org.freedesktop.systemd1.Service"
PROPERTIES = "org.freedesktop.DBus.Properties"
NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit"

#: Where systemd says it is the init system (sd_booted(3) checks the same).
SYSTEMD_RUNTIME = "/run/systemd/system"


def systemdBooted(runtime=SYSTEMD_RUNTIME):
    """Whether systemd manages this host's services."""
    return os.path.isdir(runtime)


@dataclass(frozen=True)
class UnitState:
    """What systemd says of one unit."""

    unit: str
    #: ``active``, ``inactive``, ``failed``, ``activating``...; ``not-loaded``
    #: when systemd does not know the unit.
    activeState: str
    subState: str = ""
    mainPid: int = 0

    @property
    def running(self):
        return self.activeState == "active" and self.mainPid > 0

    def describe(self):
        """The line eucad-ctl status prints after the daemon's name."""
        if self.activeState == "not-loaded":
            return "not loaded in systemd"
        words = "%s (%s" % (self.activeState, self.subState)
        if self.mainPid:
            words += ", pid %d" % (self.mainPid,)
        return words + ") [systemd %s]" % (self.unit,)


@defer.inlineCallbacks
def readUnitStates(reactor, units, busAddress="system"):
    """
    Ask systemd for the state of each unit in ``units``.

    @return: a Deferred of ``[UnitState]`` in the order of ``units``.
    """
    connection = yield client.connect(reactor, busAddress)
    try:
        manager = yield connection.getRemoteObject(SYSTEMD_BUS_NAME, SYSTEMD_PATH)
        states = []
        for unit in units:
            try:
                path = yield manager.callRemote("GetUnit", unit, interface=MANAGER)
            except RemoteError as e:
                if e.errName != NO_SUCH_UNIT:
                    raise
                states.append(UnitState(unit, "not-loaded"))
                continue
            remote = yield connection.getRemoteObject(SYSTEMD_BUS_NAME, path)
            active = yield remote.callRemote("Get", UNIT, "ActiveState",
                                             interface=PROPERTIES)
            sub = yield remote.callRemote("Get", UNIT, "SubState", interface=PROPERTIES)
            pid = yield remote.callRemote("Get", SERVICE, "MainPID", interface=PROPERTIES)
            states.append(UnitState(unit, str(active), str(sub), int(pid)))
        return states
    finally:
        connection.disconnect()


def readUnitStatesBlocking(units, busAddress="system", timeout=10):
    """
    ``readUnitStates`` for a command line that runs no reactor of its own:
    a private reactor is run in this process until the answer comes.
    """
    from twisted.internet import task
    outcome = {}

    def ask(reactor):
        d = readUnitStates(reactor, units, busAddress)
        d.addTimeout(timeout, reactor)
        d.addCallbacks(lambda states: outcome.__setitem__("states", states),
                       lambda failure: outcome.__setitem__("error", failure.value))
        return d.addBoth(lambda _: None)

    try:
        task.react(ask)
    except SystemExit:
        pass
    if "error" in outcome:
        raise outcome["error"]
    return outcome["states"]
