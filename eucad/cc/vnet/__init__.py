"""The cluster's VM network, one module per VNET_MODE.

``networkFromConf`` reads eucalyptus.conf, checks every VNET_* key
(``settings``) and builds the mode's object (see ``base.VirtualNetwork`` for
what every mode provides).  SYSTEM and STATIC are registered in ``MODES``.
MANAGED (``managed``) and MANAGED-NOVLAN (``managednovlan``), a network per
user and security group with its iptables chain and elastic IPs, need the
front end's process runner and the CLC's network policy, and are registered
once the cluster hands them those.
"""

from eucad.cc.dhcpdconfig import DhcpSubnet
from eucad.cc.vnet.settings import settingsFromConf
from eucad.cc.vnet.static import StaticNetwork, parseMacMap
from eucad.cc.vnet.system import SystemNetwork


def _system(conf, rng=None):
    return SystemNetwork(conf.get("VNET_BRIDGE"), rng=rng)


def _static(conf, rng=None):
    missing = [key for key in ("VNET_SUBNET", "VNET_NETMASK", "VNET_MACMAP", "VNET_INTERFACE")
               if not conf.get(key)]
    if missing:
        raise ValueError("VNET_MODE=STATIC needs %s" % (", ".join(missing),))
    subnet = DhcpSubnet(conf.get("VNET_SUBNET"), conf.get("VNET_NETMASK"),
                        router=conf.get("VNET_ROUTER") or None,
                        dns=conf.get("VNET_DNS"),
                        broadcast=conf.get("VNET_BROADCAST") or None,
                        mtu=int(conf.get("VNET_MTU", "0") or 0) or None)
    return StaticNetwork(conf.get("VNET_BRIDGE"), subnet, parseMacMap(conf.get("VNET_MACMAP")),
                         conf.get("VNET_INTERFACE"))


#: VNET_MODE -> factory(conf, rng) of the mode's VirtualNetwork.
MODES = {"SYSTEM": _system, "STATIC": _static}


def networkFromConf(conf, rng=None):
    """
    The VirtualNetwork that eucalyptus.conf asks for.

    @raise ValueError: for an unknown or not yet available mode, or settings
        the mode cannot work with (the daemon refuses to start then); a
        ``settings.NetworkSettingsError`` lists every VNET_* problem, one a line.
    """
    mode = (conf.get("VNET_MODE") or "SYSTEM").upper()
    if mode not in MODES:
        raise ValueError("VNET_MODE=%s is not available (have: %s)" % (
            mode, ", ".join(sorted(MODES))))
    settingsFromConf(conf)
    return MODES[mode](conf, rng)
