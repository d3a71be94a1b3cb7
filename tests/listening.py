"""Real listening sites in trial tests, and the environment their clients see."""

import os

from twisted.internet import reactor


def listenClosingConnections(testcase, site, interface="127.0.0.1"):
    """
    Listen on a free port; when the test ends, end every connection still
    open (clients keep connections alive after a test) and stop listening.
    """
    channels = []
    buildProtocol = site.buildProtocol

    def tracked(addr):
        channel = buildProtocol(addr)
        channels.append(channel)
        return channel
    site.buildProtocol = tracked
    port = reactor.listenTCP(0, site, interface=interface)

    def closeAll():
        for channel in channels:
            # A channel whose connection already ended has no transport left.
            transport = getattr(channel, "transport", None)
            if transport is not None:
                transport.abortConnection()
        return port.stopListening()
    testcase.addCleanup(closeAll)
    return port


def patchEnv(testcase, key, value):
    """Set (or, with None, remove) an environment variable for one test."""
    old = os.environ.get(key)
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value

    def restore():
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old
    testcase.addCleanup(restore)
