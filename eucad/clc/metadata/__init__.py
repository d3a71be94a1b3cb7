"""The instance metadata service: what a VM learns about itself.

A VM asks ``http://169.254.169.254/latest/meta-data/...``; the cluster
controller DNATs that address to the CLC's ``METADATA_LISTEN:METADATA_PORT``
(destination NAT keeps the source, so the request still comes from the VM's
own private address).  The CLC answers from its database, knowing the
instance only by that address: a VM never sees another one's data.

- ``lookup``: the database side, one plain record per requesting address.
- ``categories``: the EC2 meta-data tree built from that record, per version.
- ``resource``: the twisted.web resource (paths, listings, user-data, 404s).
- ``service``: the listening service the CLC's tap adds to its tree.
"""
