"""The web pages over HTTPS against a real eucalyptus-clc process, without a browser.

What the browser story does not walk through: users the admin adds, the
credentials buttons, forgotten passwords, disabling, enabling and deleting
users, the images tab, the VM types of the configuration tab (in force at
once, still there after a restart, the admin still logged in), mail failures shown to the admin (who sends
the link again), and the admin's pages and actions refused to a user.
"""

import re
import time

from twisted.internet import reactor, threads
from twisted.trial import unittest

from eucad.clc.models import Image
from eucad.clc.vmtypes import VmType
from eucad.common.db import Database, defaultUrl
from tests.clc.livecloud import LiveCloud, freePort
from tests.mailcatcher import MailCatcher, body
from tests.webclient import PlainClient, link

ADMIN_PASSWORD = "admin-secret-1"


def accessKey(page):
    return re.search(r'id="access-key">([^<]+)<', page).group(1)


class PagesLiveTests(unittest.TestCase):
    timeout = 600

    def setUp(self):
        self.mail = MailCatcher()
        smtpPort = self.mail.listen(reactor, self)
        self.webPort = freePort()
        self.cloud = LiveCloud(self, extraSettings=[
            "WEB_PORT=%d" % self.webPort, "WEB_LISTEN=127.0.0.1",
            "SMTP_HOST=127.0.0.1", "SMTP_PORT=%d" % smtpPort,
            "MAIL_FROM=cloud@example.com"])
        self.base = "https://127.0.0.1:%d" % (self.webPort,)

    def database(self):
        db = Database(defaultUrl(self.cloud.layout))
        self.addCleanup(lambda: db.engine and db.engine.dispose())
        return db

    def test_pages(self):
        """Added users, credentials buttons, resets, user changes, images, VM types, mail failures, refusals."""
        return threads.deferToThread(self.scenario)

    def scenario(self):
        self.cloud.start()
        admin = PlainClient(self.base)
        status, _, headers = admin.login("admin", "admin")
        self.assertEqual((status, headers["Location"]), (303, "/setup"))
        status, _, headers = admin.submit(
            "/setup", "/setup", password=ADMIN_PASSWORD, confirm=ADMIN_PASSWORD,
            email="admin@example.com", publicUrl=self.base)
        self.assertEqual((status, headers["Location"]), (303, "/credentials"))

        bob = self.addedUser(admin)
        self.credentialsButtons(bob)
        self.refusedToUser(bob)
        self.forgottenPassword()
        self.userChanges(admin)
        self.images(admin)
        self.vmTypes(admin)
        self.mailFailure(admin)

    def addedUser(self, admin):
        status, _, headers = admin.submit("/admin/users", "/admin/users/add",
                                          name="bob", email="bob@example.com")
        self.assertEqual((status, headers["Location"]), (303, "/admin/users"))
        activation = link(body(self.mail.waitFor("bob@example.com", "Activate")),
                          "/activate")
        bob = PlainClient(self.base)
        status, page, _ = bob.request(activation)
        self.assertIn('name="password"', page)
        token = re.search(r'name="token" value="([^"]+)"', page).group(1)
        status, _, headers = bob.request("/activate", {
            "token": token, "password": "bob-password", "confirm": "bob-password",
            "csrf": bob.csrf(activation)})
        self.assertEqual((status, headers["Location"]), (303, "/login"))
        status, _, headers = bob.login("bob", "bob-password")
        self.assertEqual((status, headers["Location"]), (303, "/credentials"))
        return bob

    def credentialsButtons(self, bob):
        _, page, _ = bob.request("/credentials")
        before = accessKey(page)
        self.assertIn("Valid certificates: 0", page)
        status, data, headers = bob.request("/credentials/zip",
                                            {"csrf": bob.csrf("/credentials")})
        self.assertEqual(headers["Content-Type"], "application/zip")
        self.assertIn("euca2-bob-x509.zip", headers["Content-Disposition"])
        _, page, _ = bob.request("/credentials")
        self.assertIn("Valid certificates: 1", page)
        bob.submit("/credentials", "/credentials/secret")
        _, page, _ = bob.request("/credentials")
        self.assertNotEqual(accessKey(page), before)
        self.assertIn("new access key", page)
        bob.submit("/credentials", "/credentials/certificate")
        _, page, _ = bob.request("/credentials")
        self.assertIn("Valid certificates: 0", page)

    def refusedToUser(self, bob):
        for path in ("/admin/users", "/admin/config"):
            status, page, _ = bob.request(path)
            self.assertEqual(status, 403)
            self.assertIn("administrator", page)
        status, _, _ = bob.submit("/credentials", "/admin/users/change",
                                  name="admin", action="delete")
        self.assertEqual(status, 403)
        for target, fields in (("/admin/config/walrus", {"WALRUS_MAX_BUCKETS_PER_USER": "0"}),
                               ("/admin/config/system", {"DEFAULT_KERNEL": ""}),
                               ("/admin/config/clusters/add", {"name": "z", "host": "h"}),
                               ("/admin/config/clusters/remove", {"name": "z"})):
            status, _, _ = bob.submit("/credentials", target, **fields)
            self.assertEqual(status, 403)
        anonymous = PlainClient(self.base)
        status, _, headers = anonymous.request("/admin/users")
        self.assertEqual((status, headers["Location"]), (303, "/login"))

    def forgottenPassword(self):
        someone = PlainClient(self.base)
        status, _, headers = someone.submit("/forgot", "/forgot", name="bob")
        self.assertEqual((status, headers["Location"]), (303, "/reset?name=bob"))
        code = re.search(r"Your code: (\S+)", body(
            self.mail.waitFor("bob@example.com", "reset code"))).group(1)
        status, _, headers = someone.submit("/reset?name=bob", "/reset", name="bob",
                                            code=code, password="bob-password-2",
                                            confirm="bob-password-2")
        self.assertEqual((status, headers["Location"]), (303, "/login"))
        self.assertEqual(PlainClient(self.base).login("bob", "bob-password")[0], 403)
        self.assertEqual(PlainClient(self.base).login("bob", "bob-password-2")[0], 303)

    def userChanges(self, admin):
        bob = PlainClient(self.base)
        bob.login("bob", "bob-password-2")
        self.assertEqual(bob.request("/credentials")[0], 200)
        admin.submit("/admin/users", "/admin/users/change", name="bob", action="disable")
        status, _, headers = bob.request("/credentials")
        self.assertEqual((status, headers["Location"]), (303, "/login"))
        status, page, _ = PlainClient(self.base).login("bob", "bob-password-2")
        self.assertEqual(status, 403)
        self.assertIn("disabled", page)
        admin.submit("/admin/users", "/admin/users/change", name="bob", action="enable")
        self.assertEqual(PlainClient(self.base).login("bob", "bob-password-2")[0], 303)
        status, page, _ = admin.submit("/admin/users", "/admin/users/change",
                                       name="admin", action="delete")
        self.assertIn("cannot be deleted", page)
        admin.submit("/admin/users", "/admin/users/change", name="bob", action="delete")
        _, page, _ = admin.request("/admin/users")
        self.assertNotIn("bob@example.com", page)
        self.assertEqual(PlainClient(self.base).login("bob", "bob-password-2")[0], 403)

    def images(self, admin):
        db = self.database()
        db.transact(lambda s: s.add(Image(
            id="emi-12345678", kind="machine", location="bucket/img.manifest.xml",
            owner="admin", isPublic=True, state="available", architecture="x86_64",
            registered=time.time())))
        _, page, _ = admin.request("/images")
        self.assertRegex(page, r"emi-12345678</td><td></td><td>admin</td>"
                               r"<td>machine</td><td>available</td>")
        state = lambda: db.transact(lambda s: getattr(s.get(Image, "emi-12345678"),
                                                      "state", None))
        admin.submit("/images", "/admin/images", image="emi-12345678", action="disable")
        self.assertEqual(state(), "disabled")
        admin.submit("/images", "/admin/images", image="emi-12345678", action="enable")
        self.assertEqual(state(), "available")
        admin.submit("/images", "/admin/images", image="emi-12345678", action="delete")
        self.assertIsNone(state())

    def vmTypes(self, admin):
        _, page, _ = admin.request("/admin/config")
        form = dict(re.findall(r'name="((?:cpu|ram|disk)\.[^"]+)" value="(\d+)"', page))
        self.assertIn("cpu.m1.small", form)
        refused = dict(form, **{"ram.m1.small": "lots"})
        status, page, _ = admin.submit("/admin/config", "/admin/config/vmtypes", **refused)
        self.assertIn("m1.small memory (MiB) must be a whole number", page)
        changed = dict(form, **{"cpu.m1.small": "2", "ram.m1.small": "384"})
        status, _, headers = admin.submit("/admin/config", "/admin/config/vmtypes",
                                          **changed)
        self.assertEqual((status, headers["Location"]), (303, "/admin/config"))
        small = lambda: self.database().transact(
            lambda s: (s.get(VmType, "m1.small").cpu, s.get(VmType, "m1.small").ram))
        self.assertEqual(small(), (2, 384))
        self.cloud.kill()
        self.cloud.start()
        # The admin's session is in the database: still logged in after the restart.
        status, page, _ = admin.request("/admin/config")
        self.assertEqual(status, 200)
        self.assertIn('name="cpu.m1.small" value="2"', page)
        self.assertIn('name="ram.m1.small" value="384"', page)

    def mailFailure(self, admin):
        admin = PlainClient(self.base)
        admin.login("admin", ADMIN_PASSWORD)
        smtpPort = self.mail.port.getHost().port
        threads.blockingCallFromThread(reactor, self.mail.port.stopListening)
        status, _, headers = admin.submit("/admin/users", "/admin/users/add",
                                          name="carol", email="carol@example.com")
        self.assertEqual(status, 303)
        _, page, _ = admin.request("/admin/users")
        self.assertIn("could not be sent", page)
        self.assertIn('To carol@example.com: "Activate your cloud account": '
                      'Unable to connect', page)

        # With the relay back, the admin sends carol a new link, which works.
        threads.blockingCallFromThread(reactor, self.mail.listen, reactor, self, smtpPort)
        status, _, headers = admin.submit("/admin/users", "/admin/users/change",
                                          name="carol", action="resend")
        self.assertEqual(status, 303)
        activation = link(body(self.mail.waitFor("carol@example.com", "Activate")),
                          "/activate")
        self.assertIn('name="password"', PlainClient(self.base).request(activation)[1])
