"""The all-in-one cloud in SYSTEM mode, beside the site's own DHCP server.

``SystemModeCloud`` is ``AllInOne`` configured as the guide's SYSTEM mode:
the CC makes up each instance's MAC, the instance joins its node's bridge
and takes its address from the site's DHCP server (``eucad.lab.sitedhcp``),
and the nodes learn that address from what passes on their bridge
(``VNET_NETNS`` tells each NC the namespace its bridge lives in).  The front
end stays the VMs' router and metadata address, as a site router would be.
"""

import os

from eucad.lab.allinone import AllInOne
from eucad.lab.sitedhcp import SiteDhcpServer


class SystemModeCloud(AllInOne):
    """An AllInOne whose network is SYSTEM mode and whose DHCP server is the site's."""

    def __init__(self, *args, **kwargs):
        AllInOne.__init__(self, *args, **kwargs)
        self.site = None

    def configure(self, described):
        AllInOne.configure(self, described)
        self.site = SiteDhcpServer(described, os.path.join(self.runDir, "site-dhcp"))
        self.site.up()
        self.log("site DHCP server at %s in %s" % (self.site.address, self.site.namespace))
        self._euca_conf(self.frontEnd, "VNET_MODE=SYSTEM", "VNET_MACMAP=",
                        "VNET_BRIDGE=%s" % (described["nodes"][0]["bridge"],))
        for node in described["nodes"]:
            self._euca_conf(self.nodePrefix(node["name"]), "VNET_MODE=SYSTEM",
                            "VNET_NETNS=%s" % (node["netns"],))

    def down(self):
        try:
            AllInOne.down(self)
        finally:
            if self.site is None:
                self.site = SiteDhcpServer(self.lab.describe(),
                                           os.path.join(self.runDir, "site-dhcp"))
            self.site.down()
