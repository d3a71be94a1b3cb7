"""Which process serves which component of a host's install.

eucalyptus.conf enables components (``ENABLE_CLOUD``, ``ENABLE_WALRUS``,
``ENABLE_CC``, ``ENABLE_NC``) and gives each its port.  Its defaults put the
CLC and Walrus both at 8773, as Eucalyptus did; two daemons cannot both
listen there, so when a host enables both on one port and address the
CLC's daemon serves Walrus in its own process (``eucad.frontend``) and no
separate Walrus daemon runs.

Three places ask this one question: the front end's tap (what to serve),
Walrus's tap (refusing to start) and ``eucad-ctl`` (what to start and how
to show it).  It lives here, below all of them, so that no daemon imports
a command-line module and neither tier imports the other.
"""

#: (conf key, plugin short name) in start order; stop goes the other way.
COMPONENTS = (
    ("ENABLE_WALRUS", "walrus"),
    ("ENABLE_CLOUD", "clc"),
    ("ENABLE_CC", "cc"),
    ("ENABLE_NC", "nc"),
)


def walrusSharesCloudPort(conf):
    """
    Whether this host's CLC serves Walrus in its own process: both are
    enabled, and WALRUS_PORT and WALRUS_LISTEN equal CLOUD_PORT and
    CLOUD_LISTEN.  Otherwise Walrus is its own daemon on its own port.
    """
    if not (conf.getBool("ENABLE_CLOUD") and conf.getBool("ENABLE_WALRUS")):
        return False
    try:
        samePort = int(conf.get("WALRUS_PORT")) == int(conf.get("CLOUD_PORT"))
    except ValueError:
        return False
    return samePort and conf.get("WALRUS_LISTEN").strip() == conf.get("CLOUD_LISTEN").strip()


def servedBy(conf, name):
    """The daemon that serves component ``name`` in its own process, or None."""
    if name == "walrus" and walrusSharesCloudPort(conf):
        return "eucalyptus-clc"
    return None
