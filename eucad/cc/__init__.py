"""The cluster controller (eucalyptus-cc): one per cluster, between the CLC and the nodes.

``tap`` builds the daemon; ``cluster.ClusterController`` answers the CLC's
``ICluster`` calls using ``nodes`` (registry and polls), ``placement`` and
``resources`` (capacity), ``vnet`` (one module per network mode), ``dhcpd``
(the CC's own DHCP server) and ``state`` (the state file kept across restarts).
"""
