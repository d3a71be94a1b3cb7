"""Telling systemd a daemon is ready: ``sd_notify`` over ``$NOTIFY_SOCKET``.

The units in ``etc/systemd`` are ``Type=notify``: systemd counts a daemon as
started only when it sends ``READY=1``, so ``systemctl start`` returns, and
units ordered after it start, once it serves, not once its process exists.
The protocol is one datagram of ``KEY=value`` lines to the unix socket named
by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace); no
library is needed for that.  Outside systemd the variable is unset and
nothing is sent.
"""

import os
import socket

from twisted.logger import Logger

log = Logger()

NOTIFY_SOCKET = "NOTIFY_SOCKET"


def socketAddress(value):
    """The address to send to for a ``$NOTIFY_SOCKET`` value, or None if unusable."""
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


def notify(state, environ=None):
    """
    Send ``state`` (e.g. ``"READY=1"``) to the service manager.

    @param environ: where ``NOTIFY_SOCKET`` is looked up (``os.environ``).
    @return: True if a datagram was sent, False when there is no manager to
        tell or it could not take the message (which is logged: a daemon does
        not stop serving because its status could not be reported).
    """
    environ = os.environ if environ is None else environ
    address = socketAddress(environ.get(NOTIFY_SOCKET, ""))
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.setblocking(False)
            s.sendto(state.encode("utf-8"), address)
    except OSError as e:
        log.warn("could not notify the service manager ({state}): {e}", state=state, e=e)
        return False
    return True
