"""The cluster's VM network, one module per VNET_MODE.

``networkFromConf`` reads eucalyptus.conf, checks every VNET_* key
(``settings``) and builds the mode's object (see ``base.VirtualNetwork`` for
what every mode provides).  Every mode is registered in ``MODES``: SYSTEM,
STATIC, and MANAGED (``managed``) and MANAGED-NOVLAN (``managednovlan``), a
network per user and security group with its iptables chain and elastic IPs,
driven through the front end's process runner (in VNET_NETNS) and enforcing
the policy the CLC sends (``ClusterController.applyNetworkPolicy``).
"""

from eucad.cc.dhcpdconfig import DhcpSubnet
from eucad.cc.vnet.managed import ManagedNetwork
from eucad.cc.vnet.managednovlan import ManagedNoVlanNetwork
from eucad.cc.vnet.settings import settingsFromConf
from eucad.cc.vnet.static import StaticNetwork, parseMacMap
from eucad.cc.vnet.system import SystemNetwork


def _system(conf, rng=None, runner=None, preload=None):
    return SystemNetwork(conf.get("VNET_BRIDGE"), rng=rng)


def _managed(modeClass):
    def build(conf, rng=None, runner=None, preload=None):
        if runner is None:
            raise ValueError("VNET_MODE=%s needs the front end's process runner" % (
                modeClass.mode,))
        return modeClass(settingsFromConf(conf), runner, preload=preload)
    return build


def _static(conf, rng=None, runner=None, preload=None):
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


#: VNET_MODE -> factory(conf, rng, runner, preload) of the mode's VirtualNetwork.
MODES = {"SYSTEM": _system, "STATIC": _static,
         "MANAGED": _managed(ManagedNetwork),
         "MANAGED-NOVLAN": _managed(ManagedNoVlanNetwork)}


def networkFromConf(conf, rng=None, runner=None, preload=None):
    """
    The VirtualNetwork that eucalyptus.conf asks for.

    @param runner: the ProcessRunner of the front end's data plane (the
        MANAGED modes run ip, bridge and iptables-restore through it).
    @param preload: the admin's iptables-preload text, or a callable giving
        it (None or empty: none), loaded when the MANAGED firewall starts.

    @raise ValueError: for an unknown or not yet available mode, or settings
        the mode cannot work with (the daemon refuses to start then); a
        ``settings.NetworkSettingsError`` lists every VNET_* problem, one a line.
    """
    mode = (conf.get("VNET_MODE") or "SYSTEM").upper()
    if mode not in MODES:
        raise ValueError("VNET_MODE=%s is not available (have: %s)" % (
            mode, ", ".join(sorted(MODES))))
    settingsFromConf(conf)
    return MODES[mode](conf, rng, runner, preload)
