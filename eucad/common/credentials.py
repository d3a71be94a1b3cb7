"""A user's credentials: the eucarc, their certificate and key, the cloud's certificate.

``euca_conf --get-credentials`` hands these out as a zip (``FILE.zip``) or
into a directory; ``make run`` writes the admin's into ``~/.euca``.  Both
come from ``UserCredentials``, so every eucarc has the same variables:

- ``EC2_URL``, ``S3_URL``, ``EC2_ACCESS_KEY``, ``EC2_SECRET_KEY``,
  ``EC2_CERT``, ``EC2_PRIVATE_KEY``, ``EUCALYPTUS_CERT``, ``EC2_USER_ID``,
  ``EC2_ACCOUNT_NUMBER`` for euca2ools and the guide's tools;
- ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``,
  ``AWS_AUTH_REGION`` and the endpoint variables ``AWS_ENDPOINT_URL_EC2``
  and ``AWS_ENDPOINT_URL_S3`` for awscli and boto3.

``EUCALYPTUS_CERT`` is the cloud's certificate (``cloud-cert.pem``, whose
key decrypts image bundles), not the CA's.  The certificate files are named
from the eucarc's own directory, so an unpacked zip works wherever it lies.
Every file is 0600: the eucarc holds the secret key, the ``-pk.pem`` file
the private key (which the cloud does not keep).
"""

import io
import os
import shlex
import zipfile

from eucad.common.atomicfile import writeAtomically

CLOUD_CERT_NAME = "cloud-cert.pem"

#: The region every eucarc names (the CLC's one region).
REGION = "eucalyptus"


def credentialUrls(conf):
    """The EC2 and S3 URLs users are given (CLOUD_HOST with each port)."""
    host = conf.get("CLOUD_HOST")
    if ":" in host and not host.startswith("["):
        host = "[%s]" % (host,)
    return ("http://%s:%s/services/Eucalyptus" % (host, conf.get("CLOUD_PORT")),
            "http://%s:%s/services/Walrus" % (host, conf.get("WALRUS_PORT")))

#: Finds the directory of the eucarc being sourced (bash, zsh), as
#: Eucalyptus's eucarc did.
_SELF_LOCATING = ('EUCA_KEY_DIR=$(cd "$(dirname "${BASH_SOURCE:-$0}")" '
                  '&& pwd -P)')


#: Every variable of an eucarc, in the order it is written.
EUCARC_VARIABLES = (
    "EC2_URL", "S3_URL", "EC2_ACCESS_KEY", "EC2_SECRET_KEY", "EC2_CERT",
    "EC2_PRIVATE_KEY", "EUCALYPTUS_CERT", "EC2_USER_ID", "EC2_ACCOUNT_NUMBER",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
    "AWS_AUTH_REGION", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_S3")

#: The variables that name a file of the credentials' directory.
FILE_VARIABLES = ("EC2_CERT", "EC2_PRIVATE_KEY", "EUCALYPTUS_CERT")


def renderEucarc(values, keyDir=None, binDir=None, comments=()):
    """
    An eucarc's text: the ``EUCARC_VARIABLES`` found in ``values``, in order.

    The file variables are written as ``${EUCA_KEY_DIR}/NAME`` (``NAME``, the
    last part of the value), with ``EUCA_KEY_DIR`` the absolute ``keyDir``,
    or, without one, the eucarc's own directory found when it is sourced.
    ``binDir`` goes first on PATH; ``comments`` head the file.
    """
    lines = ["# " + comment for comment in comments]
    if keyDir is None:
        lines.append(_SELF_LOCATING)
    else:
        lines.append("EUCA_KEY_DIR=%s" % (shlex.quote(os.path.abspath(keyDir)),))
    for name in EUCARC_VARIABLES:
        value = values.get(name)
        if not value:
            continue
        if name in FILE_VARIABLES:
            lines.append('export %s="${EUCA_KEY_DIR}/%s"' % (
                name, shlex.quote(os.path.basename(value))))
        else:
            lines.append("export %s=%s" % (name, shlex.quote(value)))
    if binDir:
        lines.append('export PATH=%s:"$PATH"' % (shlex.quote(os.path.abspath(binDir)),))
    return "\n".join(lines) + "\n"


class UserCredentials:
    """Everything one user needs to use the cloud, ready to be written out."""

    def __init__(self, userName, accountNumber, accessKey, secretKey, ec2Url,
                 s3Url, region, certPem, keyPem, cloudCertPem, certSerial):
        self.userName = userName
        self.accountNumber = accountNumber
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.ec2Url = ec2Url
        self.s3Url = s3Url
        self.region = region
        self.certPem = certPem
        self.keyPem = keyPem
        self.cloudCertPem = cloudCertPem
        self.certSerial = certSerial

    @property
    def _stem(self):
        # Each issue has its own names, so new credentials never overwrite
        # the files an older eucarc points at.
        return "euca2-%s-%s" % (self.userName, self.certSerial[-8:].lower())

    @property
    def certName(self):
        return self._stem + "-cert.pem"

    @property
    def keyName(self):
        return self._stem + "-pk.pem"

    def variables(self):
        """``{name: value}`` of the eucarc; certificate variables name files."""
        return {
            "EC2_URL": self.ec2Url, "S3_URL": self.s3Url,
            "EC2_ACCESS_KEY": self.accessKey, "EC2_SECRET_KEY": self.secretKey,
            "EC2_CERT": self.certName, "EC2_PRIVATE_KEY": self.keyName,
            "EUCALYPTUS_CERT": CLOUD_CERT_NAME,
            "EC2_USER_ID": self.accountNumber, "EC2_ACCOUNT_NUMBER": self.accountNumber,
            "AWS_ACCESS_KEY_ID": self.accessKey, "AWS_SECRET_ACCESS_KEY": self.secretKey,
            "AWS_DEFAULT_REGION": self.region, "AWS_AUTH_REGION": self.region,
            "AWS_ENDPOINT_URL_EC2": self.ec2Url, "AWS_ENDPOINT_URL_S3": self.s3Url,
        }

    def eucarc(self, keyDir=None, binDir=None):
        """
        The eucarc's text.  Certificate paths are under ``keyDir`` if given,
        else under the eucarc's own directory (found when it is sourced);
        ``binDir`` is put first on PATH (``make run`` names the venv's bin).
        """
        return renderEucarc(self.variables(), keyDir=keyDir, binDir=binDir, comments=[
            "eucad credentials of %s (account %s): source this file" % (
                self.userName, self.accountNumber)])

    def files(self, keyDir=None, binDir=None):
        """``[(name, bytes)]`` of the credentials (eucarc first)."""
        return [
            ("eucarc", self.eucarc(keyDir, binDir).encode("utf-8")),
            (self.certName, self.certPem),
            (self.keyName, self.keyPem),
            (CLOUD_CERT_NAME, self.cloudCertPem),
        ]

    def zipBytes(self):
        """The zip of the credentials, as bytes."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in self.files():
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o600 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        return buffer.getvalue()

    def writeZip(self, path):
        """Write the zip (0600 from its first byte, replaced in one step)."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
        return writeAtomically(path, self.zipBytes(), 0o600)

    def writeDirectory(self, directory, binDir=None):
        """Write every file into ``directory`` (0700); return the eucarc's path."""
        os.makedirs(directory, mode=0o700, exist_ok=True)
        for name, data in self.files(keyDir=directory, binDir=binDir):
            writeAtomically(os.path.join(directory, name), data, 0o600)
        return os.path.join(directory, "eucarc")
