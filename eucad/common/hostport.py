"""``host[:port]`` as eucalyptus.conf writes peers (``NODES``, ``CLUSTERS``).

One parser for both lists: ``host``, ``host:port``, ``[v6addr]``,
``[v6addr]:port`` and a bare IPv6 address (more than one colon, no port).
The address syntax is ``urllib.parse``'s; what it would also take (user
info, paths) is refused, and so is a port outside 1..65535.
"""

from urllib.parse import urlsplit

_NOT_IN_HOSTS = set("@/?#")


def parseHostPort(text, defaultPort):
    """
    ``(host, port)`` of ``text``; ``defaultPort`` when it names none.  IPv6
    hosts come back without brackets.

    @raise ValueError: naming ``text`` when it is no host[:port].
    """
    if not text or _NOT_IN_HOSTS & set(text) or any(c.isspace() for c in text):
        raise ValueError("bad host[:port] %r" % (text,))
    if text.count(":") > 1 and not text.startswith("["):
        # A bare IPv6 address: its colons are not a port's.
        return text, int(defaultPort)
    try:
        parts = urlsplit("//" + text)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError("bad port in %r" % (text,)) from None
    if not host or (text.startswith("[") and not parts.netloc.startswith("[")):
        raise ValueError("bad host[:port] %r" % (text,))
    # urllib lowercases the host; the name stays as the admin wrote it.
    netloc = parts.netloc
    host = netloc[1:netloc.index("]")] if netloc.startswith("[") else netloc.split(":")[0]
    if port is None:
        if text.endswith(":"):
            raise ValueError("bad port in %r" % (text,))
        port = int(defaultPort)
    if not 0 < port < 65536:
        raise ValueError("bad port in %r" % (text,))
    return host, port


def formatHostPort(host, port):
    """``host:port``, with brackets around an IPv6 host."""
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
