"""Sockets made inside a named network namespace, for a daemon that stays outside.

``setns`` changes only the calling thread's namespace, and a socket keeps the
namespace it was made in for its whole life.  So a fresh, short-lived thread
enters the namespace, makes the socket and ends; the daemon's own threads
never leave their namespace.  The node controller uses it to watch the VM
bridge of a node that lives in a namespace (``VNET_NETNS`` in the lab).
"""

import ctypes
import os
import threading

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"


class NamespaceError(Exception):
    """The namespace is missing, misnamed, or could not be entered."""


def namespacePath(name):
    """``/run/netns/NAME``, refusing names that would lead elsewhere."""
    if not name or "/" in name or name in (".", ".."):
        raise NamespaceError("bad network namespace name %r" % (name,))
    return os.path.join(NETNS_DIR, name)


def _enter(path):
    libc = ctypes.CDLL(None, use_errno=True)
    with open(path) as f:
        if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
            raise NamespaceError("cannot enter %s: %s" % (
                path, os.strerror(ctypes.get_errno())))


def makeSocketIn(namespace, make):
    """
    The socket ``make()`` returns, made inside ``namespace`` (or right here
    when ``namespace`` is empty).  ``make``'s exceptions are raised here.
    """
    if not namespace:
        return make()
    path = namespacePath(namespace)
    if not os.path.exists(path):
        raise NamespaceError("no network namespace %r (%s)" % (namespace, path))
    outcome = {}

    def inNamespace():
        try:
            _enter(path)
            outcome["socket"] = make()
        except BaseException as e:
            outcome["error"] = e
    # A fresh thread for each socket: it ends inside the namespace, and no
    # other work ever runs on it.
    worker = threading.Thread(target=inNamespace, name="eucad-netns-socket")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["socket"]
