"""``eucad-ctl status`` reading unit states from systemd's D-Bus API (txdbus).

This machine's PID 1 is not systemd, so the tests start a private
``dbus-daemon`` and put on it an object that answers as systemd's manager
does (``org.freedesktop.systemd1``: ``Manager.GetUnit``, the units'
``ActiveState``/``SubState``/``MainPID`` properties, ``NoSuchUnit`` for a
unit not loaded), written with txdbus's server side.  The D-Bus protocol,
the bus and the client are real; systemd itself is this stand-in.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile

from twisted.internet import defer, reactor, utils
from twisted.trial import unittest
from txdbus import client, interface, objects

from eucad.common import euca_conf, unitstates
from tests.commandline import run


class NoSuchUnit(Exception):
    dbusErrorName = unitstates.NO_SUCH_UNIT


class StandInUnit(objects.DBusObject):
    """One service unit's object, with the properties systemd documents."""

    dbusInterfaces = [
        interface.DBusInterface(unitstates.UNIT, interface.Property("ActiveState", "s"),
                                interface.Property("SubState", "s")),
        interface.DBusInterface(unitstates.SERVICE, interface.Property("MainPID", "u")),
    ]
    activeState = objects.DBusProperty("ActiveState", interface=unitstates.UNIT)
    subState = objects.DBusProperty("SubState", interface=unitstates.UNIT)
    mainPid = objects.DBusProperty("MainPID", interface=unitstates.SERVICE)

    def __init__(self, path, activeState, subState, mainPid):
        objects.DBusObject.__init__(self, path)
        self.activeState = activeState
        self.subState = subState
        self.mainPid = mainPid


class StandInManager(objects.DBusObject):
    """``Manager.GetUnit``: a loaded unit's object path, or NoSuchUnit."""

    dbusInterfaces = [interface.DBusInterface(
        unitstates.MANAGER, interface.Method("GetUnit", arguments="s", returns="o"))]

    def __init__(self, units):
        objects.DBusObject.__init__(self, unitstates.SYSTEMD_PATH)
        self.units = units

    def dbus_GetUnit(self, name):
        if name not in self.units:
            raise NoSuchUnit("Unit %s not loaded." % (name,))
        return self.units[name]


class PrivateBusTestCase(unittest.TestCase):
    """A private dbus-daemon with the stand-in manager on it."""

    @defer.inlineCallbacks
    def setUp(self):
        # A Unix socket's path is short (108 bytes): not under trial's directory.
        directory = tempfile.mkdtemp(prefix="eucad-bus-")
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        self.address = "unix:path=" + os.path.join(directory, "bus")
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile",
                                "--address=" + self.address, "--print-address=1"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
        self.addCleanup(bus.wait)
        self.addCleanup(os.kill, bus.pid, signal.SIGTERM)
        self.assertTrue(bus.stdout.readline().startswith("unix:"))
        bus.stdout.close()
        self.connection = yield client.connect(reactor, self.address)
        self.addCleanup(self.connection.disconnect)
        units = {
            "eucalyptus-clc.service": StandInUnit(
                "/org/freedesktop/systemd1/unit/eucalyptus_2dclc_2eservice",
                "active", "running", 4242),
            "eucalyptus-cc.service": StandInUnit(
                "/org/freedesktop/systemd1/unit/eucalyptus_2dcc_2eservice",
                "failed", "failed", 0),
        }
        for unit in units.values():
            self.connection.exportObject(unit)
        self.connection.exportObject(StandInManager(
            {name: unit.getObjectPath() for name, unit in units.items()}))
        yield self.connection.requestBusName(unitstates.SYSTEMD_BUS_NAME)


class ReadUnitStatesTests(PrivateBusTestCase):

    @defer.inlineCallbacks
    def test_statesOfLoadedAndUnknownUnits(self):
        """Each unit's state, sub-state and main PID come back in order; a unit systemd
        does not know is not-loaded."""
        states = yield unitstates.readUnitStates(
            reactor, ["eucalyptus-clc.service", "eucalyptus-cc.service",
                      "eucalyptus-nc.service"], self.address)
        self.assertEqual(states, [
            unitstates.UnitState("eucalyptus-clc.service", "active", "running", 4242),
            unitstates.UnitState("eucalyptus-cc.service", "failed", "failed", 0),
            unitstates.UnitState("eucalyptus-nc.service", "not-loaded")])
        self.assertTrue(states[0].running)
        self.assertFalse(states[1].running)
        self.assertEqual(states[0].describe(),
                         "active (running, pid 4242) [systemd eucalyptus-clc.service]")


class ControlStatusTests(PrivateBusTestCase):

    def eucadCtl(self, prefix, *argv, bus=None):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus or self.address)
        return utils.getProcessOutputAndValue(
            os.path.join(os.path.dirname(sys.executable), "eucad-ctl"),
            ["status", "--prefix", prefix] + list(argv), env=env)

    def makePrefix(self):
        prefix = os.path.abspath(self.mktemp())
        code, _, err = run(euca_conf.main, ["-d", prefix, "-cloud", "Y", "-cc", "Y"])
        self.assertEqual(code, 0, err)
        return prefix

    @defer.inlineCallbacks
    def test_statusReadsSystemd(self):
        """eucad-ctl status --systemd yes shows the units' states from systemd, PID files
        for the units it does not know, and exits 3 as the enabled cc unit failed."""
        out, err, code = yield self.eucadCtl(self.makePrefix(), "--systemd", "yes")
        lines = out.decode().splitlines()
        self.assertIn("eucalyptus-clc     active (running, pid 4242) "
                      "[systemd eucalyptus-clc.service]", lines)
        self.assertIn("eucalyptus-cc      failed (failed) [systemd eucalyptus-cc.service]",
                      lines)
        self.assertIn("eucalyptus-nc      stopped", lines)
        self.assertEqual(code, 3, err)

    @defer.inlineCallbacks
    def test_noBusFallsBackToPidFiles(self):
        """When systemd's bus does not answer, one line says so and the PID files speak."""
        out, err, code = yield self.eucadCtl(
            self.makePrefix(), "--systemd", "yes",
            bus="unix:path=/nonexistent/eucad-test-bus")
        self.assertIn("eucad-ctl: systemd did not answer over D-Bus", err.decode())
        self.assertIn("showing PID files", err.decode())
        self.assertIn("eucalyptus-clc     stopped", out.decode().splitlines())
        self.assertEqual(code, 3)

    @defer.inlineCallbacks
    def test_autoAsksNoBusForAnotherPrefix(self):
        """By default a prefix other than / (the units' own) reads PID files only: no bus
        is asked, so a dead one says nothing."""
        out, err, code = yield self.eucadCtl(
            self.makePrefix(), bus="unix:path=/nonexistent/eucad-test-bus")
        self.assertEqual(err, b"")
        self.assertIn("eucalyptus-clc     stopped", out.decode().splitlines())
        self.assertEqual(code, 3)


class SystemdBootedTests(unittest.TestCase):

    def test_systemdBootedLooksForItsRuntimeDirectory(self):
        """systemd counts as the init system when /run/systemd/system exists (sd_booted)."""
        runtime = os.path.abspath(self.mktemp())
        self.assertFalse(unitstates.systemdBooted(runtime))
        os.makedirs(runtime)
        self.assertTrue(unitstates.systemdBooted(runtime))
