"""EC2 API versions: which ones we speak and the XML namespace of each.

Responses carry ``xmlns="http://ec2.amazonaws.com/doc/<Version>/"`` for the
version the client asked for; the shapes we answer with are the same for all
of them (clients ignore elements they do not know).
"""

import re

from eucad.common.errors import CloudError

OLDEST = "2008-12-01"
NEWEST = "2016-11-15"
DEFAULT = NEWEST

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def checkVersion(version):
    """The version to answer in (``DEFAULT`` when none was given)."""
    if not version:
        return DEFAULT
    if not _DATE.match(version) or not OLDEST <= version <= NEWEST:
        raise CloudError("NoSuchVersion",
                         "The requested version (%s) of service AmazonEC2 does not "
                         "exist" % (version,))
    return version


def namespace(version):
    return "http://ec2.amazonaws.com/doc/%s/" % (version,)


#: Eucalyptus's own actions answer in Eucalyptus's message namespace, where
#: its clients (apache-libcloud's Eucalyptus driver) look for them.
EUCALYPTUS_NAMESPACE = "http://msgs.eucalyptus.com/3.3.0"
ACTION_NAMESPACES = {"DescribeInstanceTypes": EUCALYPTUS_NAMESPACE}


def namespaceFor(action, version):
    """The namespace of ``action``'s answer to a request of ``version``."""
    return ACTION_NAMESPACES.get(action) or namespace(version)
