"""The front end: the pieces above the tiers that put them on the wire together.

eucalyptus.conf's defaults put EC2 (the CLC) and S3 (Walrus) on one port,
8773.  This package composes the two in one process when a host's
configuration says so (``eucad.common.components.walrusSharesCloudPort``):

- ``frontdoor``: the one Site that serves both APIs, routing each request
  to EC2 or S3 by its path or shape;
- ``tap``: the ``eucalyptus-clc`` daemon, which builds the CLC's services
  and, on a shared port, Walrus's too.

``eucad.clc`` and ``eucad.walrus`` import nothing of each other (a test
checks it); only this package knows both.
"""
