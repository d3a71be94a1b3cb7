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


def makeDaemonService(options, logName):
    """The root MultiService of a daemon, already logging to ``logName``."""
    root = MultiService()
    LoggingService(options.layout.log(logName), logLevel(options)).setServiceParent(root)
    return root


def fail(message):
    """One clear line and exit status 2, for command-line tools."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    raise SystemExit(2)
