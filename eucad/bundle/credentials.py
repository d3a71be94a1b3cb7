"""What ``eucad-image`` takes from a sourced eucarc: endpoints, keys, certificates.

euca2ools' names come first (EC2_URL, S3_URL, EC2_CERT, EC2_PRIVATE_KEY,
EUCALYPTUS_CERT, EC2_ACCESS_KEY/EC2_SECRET_KEY), then the AWS ones; the
command line overrides any of them.  Every missing or unusable value is a
``CredentialError`` naming the variable, so the user knows what to fix.
"""

import dataclasses
import os

from cryptography import x509

from eucad.bundle import crypto


class CredentialError(ValueError):
    """A credential is missing or unusable; the message names it."""


@dataclasses.dataclass
class Credentials:
    ec2Url: str | None = None
    s3Url: str | None = None
    accessKey: str | None = None
    secretKey: str | None = None
    userCertPath: str | None = None
    userKeyPath: str | None = None
    cloudCertPath: str | None = None
    userId: str = ""
    region: str = "eucalyptus"

    @classmethod
    def fromEnvironment(cls, environ=None):
        env = os.environ if environ is None else environ

        def first(*names):
            for name in names:
                if env.get(name):
                    return env[name]
            return None
        return cls(ec2Url=first("EC2_URL"), s3Url=first("S3_URL"),
                   accessKey=first("EC2_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"),
                   secretKey=first("EC2_SECRET_KEY", "AWS_SECRET_ACCESS_KEY",
                                   "AWS_SECRET_KEY"),
                   userCertPath=first("EC2_CERT"), userKeyPath=first("EC2_PRIVATE_KEY"),
                   cloudCertPath=first("EUCALYPTUS_CERT", "EC2_CLOUD_CERT"),
                   userId=first("EC2_USER_ID") or "",
                   region=first("AWS_DEFAULT_REGION") or "eucalyptus")

    def require(self, *names):
        labels = {"ec2Url": "EC2_URL", "s3Url": "S3_URL", "accessKey": "EC2_ACCESS_KEY",
                  "secretKey": "EC2_SECRET_KEY", "userCertPath": "EC2_CERT",
                  "userKeyPath": "EC2_PRIVATE_KEY", "cloudCertPath": "EUCALYPTUS_CERT"}
        for name in names:
            if not getattr(self, name):
                raise CredentialError("%s is not set (source your eucarc, or pass it as "
                                      "an option)" % (labels[name],))


def _read(path, variable):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CredentialError("%s: cannot read %s: %s" % (variable, path, e.strerror))


def loadBundlingKeys(creds):
    """``(userCert, userKey, cloudCert)``, checked to belong together."""
    creds.require("userCertPath", "userKeyPath", "cloudCertPath")
    try:
        userCert = crypto.loadCertificate(_read(creds.userCertPath, "EC2_CERT"))
    except crypto.BundleKeyError as e:
        raise CredentialError("EC2_CERT (%s): %s" % (creds.userCertPath, e))
    try:
        userKey = crypto.loadPrivateKey(_read(creds.userKeyPath, "EC2_PRIVATE_KEY"))
    except crypto.BundleKeyError as e:
        raise CredentialError("EC2_PRIVATE_KEY (%s): %s" % (creds.userKeyPath, e))
    try:
        cloudCert = crypto.loadCertificate(_read(creds.cloudCertPath, "EUCALYPTUS_CERT"))
    except crypto.BundleKeyError as e:
        raise CredentialError("EUCALYPTUS_CERT (%s): %s" % (creds.cloudCertPath, e))
    if not crypto.keyMatchesCertificate(userKey, userCert):
        raise CredentialError("EC2_PRIVATE_KEY (%s) is not the key of EC2_CERT (%s): wrong "
                              "certificate" % (creds.userKeyPath, creds.userCertPath))
    if _isCa(cloudCert):
        raise CredentialError(
            "EUCALYPTUS_CERT (%s) is a CA certificate, not the cloud's: the cloud could "
            "not decrypt a bundle encrypted to it (use the cloud certificate, "
            "cloud-cert.pem)" % (creds.cloudCertPath,))
    if userCert.public_key().public_numbers() == cloudCert.public_key().public_numbers():
        raise CredentialError("EUCALYPTUS_CERT and EC2_CERT are the same certificate")
    return userCert, userKey, cloudCert


def _isCa(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
