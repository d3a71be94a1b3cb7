"""The cloud controller (CLC): the EC2 front end of a eucad cloud.

It takes users' EC2 Query requests, keeps what it promised them (images,
reservations, instances, VM types) in its database, and asks the cluster
controllers (one per availability zone, over ``ICluster``) to run and stop
instances.  ``tap`` builds the ``twistd eucalyptus-clc`` service tree.

Where a request goes:

- ``api.resource`` (HTTP), ``api.auth`` (signatures), ``api.dispatch``
  (``Action`` -> function), ``api.render`` (every XML answer and error).
- RunInstances: ``api.instances.runInstances``, then ``launcher`` (validate,
  ``scheduler`` picks the zone, ``instancestore`` reserves ids, the cluster
  is asked); ``clienttokens`` makes a repeated ``ClientToken`` launch once.
- DescribeInstances: ``api.instances.describeInstances`` over
  ``instancestore``, kept current by ``poller``.
- TerminateInstances: ``api.instances.terminateInstances``, then
  ``termination``.
- RebootInstances, GetConsoleOutput: ``api.instances.rebootInstances`` and
  ``api.instances.getConsoleOutput`` (``instancestore`` finds the caller's
  instances, their cluster asks the node).
- DescribeImages: ``api.images.describeImages`` over ``imagestore``.
- RegisterImage: ``api.images.registerImage``; ``bundlecheck`` reads and
  verifies the manifest in Walrus (``bundlesource``), ``imageprep`` takes the
  image from pending to available once its bundle decrypts.  Images placed by
  path are added by ``register_local`` (``eucad-register-image``).
- DeregisterImage, DescribeImageAttribute, ModifyImageAttribute,
  ResetImageAttribute: ``api.images`` over ``imagestore``.
- DescribeAvailabilityZones, DescribeRegions: ``api.zones``.
- DescribeInstanceTypes: ``api.instancetypes`` over ``vmtypes``.
- CreateKeyPair, ImportKeyPair, DeleteKeyPair, DescribeKeyPairs:
  ``api.keypairs`` over ``keypairstore`` (key material: ``sshkeys``).
- CreateSecurityGroup, DeleteSecurityGroup, DescribeSecurityGroups,
  AuthorizeSecurityGroupIngress, RevokeSecurityGroupIngress: ``api.groups``
  over ``groupstore``; changes are published on ``netchanges``, and
  ``policystore`` reads the cloud's policy as ``eucad.common.netpolicy``
  records for the clusters.
- AllocateAddress, ReleaseAddress, AssociateAddress, DisassociateAddress,
  DescribeAddresses: ``api.addresses`` over ``addressstore`` and the pool of
  ``addresspool``.
- CreateTags, DeleteTags, DescribeTags: ``api.tags`` over ``tagstore``; every
  describe filters with ``api.filters``.

VMs' own requests (not users') reach ``metadata`` on a port of its own
(METADATA_PORT): EC2's meta-data tree and user data for the instance whose
private address asks, read from the same database.

Around them: ``cloud`` (the collaborators an operation gets), ``clusters``
and ``clusterlinks`` (the CC links, with timeouts), ``models`` (tables;
``tables`` imports every module that declares one), ``vmtypes``, ``ids``,
and ``startup`` (recovery before the API opens).
"""
