"""euca_conf's user commands and the credentials they hand out, in-process."""

import os
import stat
import subprocess
import time
import zipfile

from cryptography import x509
from twisted.trial import unittest

from eucad.clc import models
from eucad.common import accounts, euca_conf, trust
from eucad.common.config import Layout
from eucad.common.db import Database, defaultUrl
from tests.commandline import run

EUCARC_NAMES = ("EC2_URL", "S3_URL", "EC2_ACCESS_KEY", "EC2_SECRET_KEY", "EC2_CERT",
                "EC2_PRIVATE_KEY", "EUCALYPTUS_CERT", "EC2_USER_ID",
                "EC2_ACCOUNT_NUMBER", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION", "AWS_AUTH_REGION")


def sourced(eucarc, names=EUCARC_NAMES):
    """The variables a shell has after ``. eucarc`` (run by bash, as a user would)."""
    script = ". %s && " % (eucarc,) + " && ".join(
        'printf "%%s=%%s\\n" %s "$%s"' % (name, name) for name in names)
    out = subprocess.run(["bash", "-c", script], check=True, stdout=subprocess.PIPE,
                         text=True, env={"PATH": os.environ["PATH"]},
                         cwd="/").stdout
    return dict(line.split("=", 1) for line in out.splitlines())


class UserCommandTests(unittest.TestCase):

    def setUp(self):
        self.prefix = os.path.abspath(self.mktemp())
        self.conf = os.path.join(self.prefix, "etc", "eucalyptus", "eucalyptus.conf")
        code, _, err = self.euca_conf("--setup", "CLOUD_PORT=8999", "WALRUS_PORT=8998")
        self.assertEqual(code, 0, err)
        self.layout = Layout(self.prefix)

    def euca_conf(self, *argv):
        return run(euca_conf.main, ["-d", self.prefix] + list(argv) + [self.conf])

    def db(self):
        db = Database(defaultUrl(self.layout))
        self.addCleanup(lambda: db.engine and db.engine.dispose())
        return db

    def users(self):
        code, out, _ = self.euca_conf("--list-users")
        self.assertEqual(code, 0)
        rows = [line.split("\t") for line in out.splitlines()[1:]]
        return {row[0]: row for row in rows}

    def test_addAndList(self):
        """--add-user makes a user with an account number; --list-users shows it, no secret."""
        code, out, err = self.euca_conf("--add-user", "bob", "--email", "bob@example.com")
        self.assertEqual(code, 0, err)
        self.assertIn("added user bob", out)
        code, _, _ = self.euca_conf("--add-user", "carol", "--admin")
        self.assertEqual(code, 0)
        users = self.users()
        self.assertEqual(sorted(users), ["admin", "bob", "carol"])
        name, number, accessKey, role, state, email = users["bob"]
        self.assertEqual((role, state, email), ("user", "enabled", "bob@example.com"))
        self.assertTrue(len(number) == 12 and number.isdigit())
        self.assertEqual(users["carol"][3], "admin")
        bob = self.db().transact(accounts.findByName, "bob")
        self.assertEqual(bob.accessKey, accessKey)
        _, out, _ = self.euca_conf("--list-users")
        self.assertNotIn(bob.secretKey, out)

    def test_badUserCommands(self):
        """A taken or malformed name, an unknown user, a stray flag: one line, status 2."""
        self.euca_conf("--add-user", "bob")
        for argv in (["--add-user", "bob"], ["--add-user", "bad name"],
                     ["--disable-user", "nobody"], ["--delete-user", "nobody"],
                     ["--admin"], ["--email", "x@y"], ["--user", "bob"],
                     ["--add-user", "dan", "--email", "not-an-address"],
                     ["--add-user"],
                     ["--get-credentials", "x.zip", "--path", "/opt/venv/bin"],
                     ["--get-credentials", os.path.join(
                         self.prefix, "x.zip"), "--user", "nobody"]):
            code, _, err = self.euca_conf(*argv)
            self.assertEqual(code, 2, argv)
            self.assertEqual(len(err.strip().splitlines()), 1, (argv, err))
            self.assertTrue(err.startswith("euca_conf: "), err)
        self.assertNotIn("dan", self.users())

    def test_disableEnable(self):
        """--disable-user turns a user's keys off; --enable-user back on."""
        self.euca_conf("--add-user", "bob")
        key = self.users()["bob"][2]
        self.euca_conf("--disable-user", "bob")
        self.assertEqual(self.users()["bob"][4], "disabled")
        self.assertIsNone(self.db().transact(accounts.findByAccessKey, key))
        self.euca_conf("--enable-user", "bob")
        self.assertEqual(self.db().transact(accounts.findByAccessKey, key).name, "bob")

    def test_deleteRefusedWhileInstancesLive(self):
        """--delete-user is refused while the user has an instance that is not terminated."""
        self.euca_conf("--add-user", "bob")

        def launch(session, state):
            now = time.time()
            session.add(models.Reservation(id="r-1", owner="bob", cluster="c1",
                                           groups="default", created=now))
            session.flush()
            session.add(models.Instance(
                id="i-1", reservationId="r-1", owner="bob", imageId="emi-1",
                vmType="m1.small", state=state, cluster="c1", launchTime=now,
                launchIndex=0, reason="", stateChanged=now))
        self.db().transact(launch, models.RUNNING)
        code, _, err = self.euca_conf("--delete-user", "bob")
        self.assertEqual(code, 2)
        self.assertIn("i-1", err)
        self.assertIn("bob", self.users())

        def terminate(session):
            session.get(models.Instance, "i-1").state = models.TERMINATED
        self.db().transact(terminate)
        code, _, err = self.euca_conf("--delete-user", "bob")
        self.assertEqual(code, 0, err)
        self.assertNotIn("bob", self.users())

    def test_credentialsZip(self):
        """The zip: eucarc with every variable, a CA-signed user certificate, cloud-cert.pem."""
        self.euca_conf("--add-user", "bob")
        path = os.path.join(self.prefix, "bob.zip")
        code, out, err = self.euca_conf("--get-credentials", path, "--user", "bob")
        self.assertEqual(code, 0, err)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        unpacked = os.path.abspath(self.mktemp())
        with zipfile.ZipFile(path) as archive:
            archive.extractall(unpacked)
        values = sourced(os.path.join(unpacked, "eucarc"))
        bob = self.db().transact(accounts.findByName, "bob")
        self.assertEqual(values["EC2_URL"], "http://127.0.0.1:8999/services/Eucalyptus")
        self.assertEqual(values["S3_URL"], "http://127.0.0.1:8998/services/Walrus")
        self.assertEqual((values["EC2_ACCESS_KEY"], values["EC2_SECRET_KEY"]),
                         (bob.accessKey, bob.secretKey))
        self.assertEqual((values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"]),
                         (bob.accessKey, bob.secretKey))
        self.assertEqual(values["EC2_USER_ID"], bob.accountNumber)
        self.assertEqual(values["EC2_ACCOUNT_NUMBER"], bob.accountNumber)
        self.assertEqual(values["AWS_DEFAULT_REGION"], "eucalyptus")
        self.assertEqual(values["AWS_AUTH_REGION"], "eucalyptus")
        # The cloud's certificate, not the CA's.
        keys = self.layout.keys
        with open(values["EUCALYPTUS_CERT"], "rb") as f:
            cloudCert = f.read()
        with open(trust.certPath(keys, "cloud"), "rb") as f:
            self.assertEqual(cloudCert, f.read())
        cert = trust.loadCert(values["EC2_CERT"])
        key = trust.loadKey(values["EC2_PRIVATE_KEY"])
        self.assertEqual(cert.public_key().public_numbers(),
                         key.public_key().public_numbers())
        ca = trust.loadCert(os.path.join(keys, trust.CA_CERT))
        cert.verify_directly_issued_by(ca)
        self.assertEqual(cert.subject.get_attributes_for_oid(
            x509.oid.NameOID.COMMON_NAME)[0].value, "bob")
        # Only the public part is kept, per user, for verifying bundle signatures.
        stored = self.db().transact(accounts.validCertificates, "bob")
        self.assertEqual(stored, [trust.pemCertificate(cert).decode("ascii")])
        self.assertNotIn("PRIVATE", "".join(stored))

    def test_credentialsDirectoryWithPath(self):
        """Into a directory: absolute paths and, with --path, that directory first on PATH."""
        creds = os.path.join(self.prefix, "creds")
        code, _, err = self.euca_conf("--get-credentials", creds, "--path", "/opt/venv/bin")
        self.assertEqual(code, 0, err)
        values = sourced(os.path.join(creds, "eucarc"), EUCARC_NAMES + ("PATH",))
        self.assertTrue(values["PATH"].startswith("/opt/venv/bin:"))
        self.assertTrue(values["EC2_CERT"].startswith(creds + "/"))
        self.assertTrue(os.path.exists(values["EC2_PRIVATE_KEY"]))
        for name in os.listdir(creds):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(creds, name)).st_mode),
                             0o600, name)

    def test_rotation(self):
        """--rotate-secret gives new keys; --rotate-certificate revokes issued certificates."""
        self.euca_conf("--add-user", "bob")
        db = self.db()
        before = db.transact(accounts.findByName, "bob")
        self.euca_conf("--get-credentials", os.path.join(self.prefix, "a.zip"),
                       "--user", "bob")
        code, out, err = self.euca_conf("--rotate-secret", "bob")
        self.assertEqual(code, 0, err)
        after = db.transact(accounts.findByName, "bob")
        self.assertNotEqual(after.accessKey, before.accessKey)
        self.assertNotEqual(after.secretKey, before.secretKey)
        self.assertIn(after.accessKey, out)
        self.assertIsNone(db.transact(accounts.findByAccessKey, before.accessKey))
        self.assertEqual(len(db.transact(accounts.validCertificates, "bob")), 1)
        code, out, _ = self.euca_conf("--rotate-certificate", "bob")
        self.assertEqual(code, 0)
        self.assertIn("revoked 1 certificate", out)
        self.assertEqual(db.transact(accounts.validCertificates, "bob"), [])

    def test_disabledUserGetsNoCredentials(self):
        """A disabled user's credentials are not issued."""
        self.euca_conf("--add-user", "bob", "--disable-user", "bob")
        code, _, err = self.euca_conf("--get-credentials",
                                      os.path.join(self.prefix, "b.zip"), "--user", "bob")
        self.assertEqual(code, 2)
        self.assertIn("disabled", err)


class DatabasePasswordTests(unittest.TestCase):

    def test_passwordInUrlMakesConfPrivate(self):
        """A CLOUD_DB_URL with a password makes eucalyptus.conf 0600; without, it stays 0644."""
        prefix = os.path.abspath(self.mktemp())
        conf = os.path.join(prefix, "etc", "eucalyptus", "eucalyptus.conf")
        run(euca_conf.main, ["-d", prefix, "CLOUD_PORT=8773", conf])
        self.assertEqual(stat.S_IMODE(os.stat(conf).st_mode), 0o644)
        code, _, err = run(euca_conf.main, [
            "CLOUD_DB_URL=postgresql://eucalyptus:s3cret@db.example/eucalyptus", conf])
        self.assertEqual(code, 0, err)
        self.assertEqual(stat.S_IMODE(os.stat(conf).st_mode), 0o600)
