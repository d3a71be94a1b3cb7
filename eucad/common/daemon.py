"""What every eucad daemon's tap.py shares: options, configuration, logging.

Each tier's ``tap.py`` subclasses ``DaemonOptions`` and builds its service
tree in ``makeService``; nothing here does I/O until the service starts
(``LoggingService`` opens the log file in ``startService``).
"""

import os
import sys

from twisted.application.service import MultiService, Service
from twisted.logger import (FileLogObserver, FilteringLogObserver, LogLevel,
                            LogLevelFilterPredicate, formatEventAsClassicLogText,
                            globalLogPublisher)
from twisted.python import usage

from eucad.common import sdnotify
from eucad.common.config import EucaConf, Layout
from eucad.common.logfiles import openPrivateLog


class DaemonOptions(usage.Options):
    """
    ``--prefix`` names the install root ($EUCALYPTUS); the rest is in the conf.
    ``--debug`` logs at DEBUG whatever LOGLEVEL says, for one run, without
    editing the file other components on the host read too.
    """

    optFlags = [
        ["debug", None, "Log at DEBUG level (overrides LOGLEVEL for this run)."],
    ]

    optParameters = [
        ["prefix", "p", os.environ.get("EUCALYPTUS", "/"),
         "The $EUCALYPTUS install root: etc/eucalyptus/eucalyptus.conf is read there."],
    ]

    def postOptions(self):
        self["prefix"] = os.path.abspath(self["prefix"])
        self.layout = Layout(self["prefix"])
        # Reading a small text file is not service I/O; the tap needs its
        # values to decide which services to build.
        self.conf = EucaConf.load(self.layout.conf)


class LoggingService(Service):
    """
    Sends the daemon's log events to ``var/log/eucalyptus/<name>`` (0600)
    from start to stop, at the conf's LOGLEVEL or above.
    """

    def __init__(self, path, level="INFO", publisher=None):
        self.path = path
        self.level = LogLevel.levelWithName(level.lower()) if level.lower() in (
            "debug", "info", "warn", "error", "critical") else LogLevel.info
        self.publisher = publisher or globalLogPublisher
        self.observer = None
        self.file = None

    def startService(self):
        Service.startService(self)
        self.file = openPrivateLog(self.path)
        predicate = LogLevelFilterPredicate(defaultLogLevel=self.level)
        self.observer = FilteringLogObserver(
            FileLogObserver(self.file, formatEventAsClassicLogText), [predicate])
        self.publisher.addObserver(self.observer)

    def stopService(self):
        Service.stopService(self)
        if self.observer is not None:
            self.publisher.removeObserver(self.observer)
            self.observer = None
        if self.file is not None:
            self.file.close()
            self.file = None


def logLevel(options):
    """The level a daemon logs at: DEBUG with ``--debug``, else the conf's LOGLEVEL."""
    if options.get("debug"):
        return "DEBUG"
    return options.conf.get("LOGLEVEL").upper()


class DaemonService(MultiService):
    """
    A daemon's root service: starts its children in order, then tells
    systemd it is ready (``eucad.common.sdnotify``).  Every child binds its
    port in its own start and raises if it cannot, so once they all started
    the daemon serves; a failed start sends nothing and twistd exits.

    @param environ: where ``NOTIFY_SOCKET`` is read, when the service starts.
    @param reactor: the reactor whose running means serving (the global one).
    """

    def __init__(self, environ=None, reactor=None):
        MultiService.__init__(self)
        self.environ = environ
        self.reactor = reactor

    def startService(self):
        MultiService.startService(self)
        reactor = self.reactor
        if reactor is None:
            from twisted.internet import reactor
        # twistd starts services before the reactor runs: wait until it does
        # (and has its signal handlers), so that "ready" means requests are
        # answered and a stop request is heard.
        reactor.callWhenRunning(self._ready)

    def _ready(self):
        if self.running:
            sdnotify.notify("READY=1\nSTATUS=serving", self.environ)

    def stopService(self):
        sdnotify.notify("STOPPING=1", self.environ)
        return MultiService.stopService(self)


def makeDaemonService(options, logName, environ=None):
    """The root service of a daemon, already logging to ``logName``."""
    root = DaemonService(environ)
    LoggingService(options.layout.log(logName), logLevel(options)).setServiceParent(root)
    return root


def fail(message):
    """One clear line and exit status 2, for command-line tools."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    raise SystemExit(2)
