"""The web pages in a real browser, against a real eucalyptus-clc process.

Debian's chromium, driven headless by Selenium through chromium-driver, goes
through the story of the guide: the admin's first login and the three
first-time tasks; a person applies; the admin opens the approve link of the
mail caught by the test's ESMTP server; the person activates their account
from their mail, logs in, downloads the credentials zip; the test sources
its eucarc and runs ``aws ec2 describe-availability-zones``.  Screenshots of
each page are kept in build/web-screenshots/.  The security checks go
through the same running CLC: a form without its CSRF token is refused, a
user cannot reach admin pages, what a person typed comes back escaped, and
repeated wrong passwords lock an account.

``WebStory`` is the story itself, for any running cloud: this module runs it
against a CLC started by the test, ``tests/e2e/test_web_allinone`` against
the all-in-one cloud ``make run`` brings up.
"""

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import zipfile

from twisted.internet import reactor, threads
from twisted.trial import unittest

from tests.clc.livecloud import LiveCloud, freePort
from tests.mailcatcher import MailCatcher, body
from tests.webclient import PlainClient, link

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "build", "web-screenshots")
#: What the applicant types into the description: it must come back as text.
SCRIPT = '<script>document.title="owned"</script><b>bold</b>'
ADMIN_PASSWORD = "admin-secret-1"
#: The name servers the admin sets on the configuration tab.
STORY_DNS = "192.0.2.53, 198.51.100.7"
ALICE_PASSWORD = "alice-secret-1"


def skipWithoutBrowser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        raise unittest.SkipTest("chromium and chromium-driver are not installed "
                                "(tools/install-deps installs them)")


class WebStory:
    """
    The browser story, mixed into a TestCase that sets ``base`` (the pages'
    https URL), ``mail`` (a MailCatcher the cloud's relay delivers to),
    ``workDir``, ``clientEnv(home)`` and calls ``keepScreenshots(name)``.
    One browser goes through the whole story.
    """

    def keepScreenshots(self, name):
        """Screenshots go to build/web-screenshots/NAME (emptied first)."""
        self.screenshots = os.path.join(SCREENSHOTS, name)
        shutil.rmtree(self.screenshots, ignore_errors=True)
        os.makedirs(self.screenshots, exist_ok=True)
        self.shots = 0

    def browser(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        profile = os.path.abspath(self.mktemp())
        self.downloads = os.path.abspath(self.mktemp())
        os.makedirs(self.downloads)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    # The cloud's certificate is its own CA's, not the browser's.
                    "--ignore-certificate-errors",
                    "--user-data-dir=" + profile, "--window-size=1000,900"):
            options.add_argument(arg)
        options.add_experimental_option("prefs", {
            "download.default_directory": self.downloads,
            "download.prompt_for_download": False})
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.addCleanup(driver.quit)
        driver.set_page_load_timeout(60)
        return driver

    def shot(self, driver, name):
        self.shots += 1
        driver.save_screenshot(os.path.join(self.screenshots, "%02d-%s.png" % (
            self.shots, name)))

    def fill(self, driver, **fields):
        from selenium.webdriver.common.by import By
        for name, value in fields.items():
            element = driver.find_element(By.ID, name)
            element.clear()
            element.send_keys(value)

    def click(self, driver, elementId, navigates=True):
        """Click, and wait for the next page when the click leads to one."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait
        element = driver.find_element(By.ID, elementId)
        element.click()
        if navigates:
            WebDriverWait(driver, 60).until(lambda _: self.replaced(element))

    def replaced(self, element):
        """
        Whether the page holding ``element`` is gone.  Chromium says so either
        as a stale element or, when it asks in the middle of the navigation,
        as an inspector error that the node no longer belongs to the document.
        """
        from selenium.common.exceptions import (StaleElementReferenceException,
                                                WebDriverException)
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return True
            raise
        return False

    def text(self, driver, elementId):
        from selenium.webdriver.common.by import By
        return driver.find_element(By.ID, elementId).text

    def login(self, driver, name, password):
        driver.get(self.base + "/login")
        self.fill(driver, name=name, password=password)
        self.click(driver, "login")

    def path(self, driver):
        return urllib.parse.urlparse(driver.current_url).path

    def story(self, driver=None):
        from selenium.webdriver.common.by import By
        driver = driver or self.browser()

        # The admin's first login: the three first-time tasks come first.
        driver.get(self.base + "/")
        self.assertEqual(self.path(driver), "/login")
        self.shot(driver, "login")
        self.login(driver, "admin", "admin")
        self.assertEqual(self.path(driver), "/setup")
        driver.get(self.base + "/admin/users")
        self.assertEqual(self.path(driver), "/setup")
        self.shot(driver, "setup")
        self.fill(driver, password=ADMIN_PASSWORD, confirm=ADMIN_PASSWORD,
                  email="admin@example.com", publicUrl=self.base)
        self.click(driver, "save")
        self.assertEqual(self.path(driver), "/credentials")
        self.assertIn("set up", self.text(driver, "flash"))
        self.click(driver, "logout")

        # A person applies.
        self.assertEqual(self.path(driver), "/login")
        self.click(driver, "apply")
        self.fill(driver, realName="Alice Liddell", name="alice",
                  email="alice@example.com", password=ALICE_PASSWORD,
                  confirm=ALICE_PASSWORD, telephone="+44 1865 000000",
                  affiliation="Christ Church", projectPi="C. Dodgson",
                  description=SCRIPT)
        self.shot(driver, "apply")
        self.click(driver, "submit")
        self.assertIn("Thank you", self.text(driver, "message"))
        self.shot(driver, "applied")

        # Not active yet: alice cannot log in.
        self.login(driver, "alice", ALICE_PASSWORD)
        self.assertIn("not active", self.text(driver, "error"))

        # The admin approves from the mail.
        application = body(self.mail.waitFor("admin@example.com", "alice"))
        self.assertIn("Alice Liddell", application)
        driver.get(link(application, "/decide"))
        self.shot(driver, "approve")
        self.click(driver, "confirm")
        self.assertIn("approved", self.text(driver, "message"))

        # alice activates from hers, logs in, and downloads her credentials.
        activation = body(self.mail.waitFor("alice@example.com", "Activate"))
        driver.get(link(activation, "/activate"))
        self.shot(driver, "activate")
        self.click(driver, "activate")
        self.assertEqual(self.path(driver), "/login")
        self.login(driver, "alice", ALICE_PASSWORD)
        self.assertEqual(self.path(driver), "/credentials")
        accessKey = self.text(driver, "access-key")
        self.assertRegex(accessKey, r"^[A-Z0-9]{20}$")
        self.shot(driver, "credentials")

        # A user cannot reach the admin's pages.
        driver.get(self.base + "/admin/users")
        self.assertIn("administrator", self.text(driver, "message"))
        self.assertEqual(driver.find_elements(By.ID, "users"), [])
        self.shot(driver, "refused")

        driver.get(self.base + "/credentials")
        self.click(driver, "download", navigates=False)
        zipPath = self.waitForDownload("euca2-alice-x509.zip")
        self.checkAwscli(zipPath, accessKey)

        # What alice typed comes back to the admin as text.
        self.click(driver, "logout")
        self.login(driver, "admin", ADMIN_PASSWORD)
        driver.get(self.base + "/admin/users")
        self.shot(driver, "users")
        self.assertIn(SCRIPT, driver.find_element(By.ID, "users").text)
        self.assertIn("&lt;script&gt;", driver.page_source)
        self.assertEqual(driver.find_elements(By.CSS_SELECTOR, "main script, main b"), [])
        self.assertNotEqual(driver.title, "owned")

        # The admin's other tabs.
        driver.get(self.base + "/images")
        self.shot(driver, "images")
        driver.get(self.base + "/admin/config")
        self.assertIn("VM types", driver.find_element(By.TAG_NAME, "main").text)
        self.shot(driver, "config")
        # The DNS servers every cluster's DHCP hands to VMs, set from the page.
        self.fill(driver, VNET_DNS=STORY_DNS)
        self.click(driver, "save-system")
        self.assertIn("system settings are saved", self.text(driver, "flash"))
        self.assertEqual(driver.find_element(By.ID, "VNET_DNS").get_attribute("value"),
                         STORY_DNS)
        self.shot(driver, "config-dns")

        # The same pages at a phone's width.
        driver.set_window_size(390, 844)
        driver.get(self.base + "/credentials")
        self.shot(driver, "phone-credentials")
        driver.get(self.base + "/admin/users")
        self.shot(driver, "phone-users")

        self.checkCsrfAndLockout()

    def waitForDownload(self, name, timeout=60):
        path = os.path.join(self.downloads, name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(path):
                return path
            time.sleep(0.2)
        raise AssertionError("%s was not downloaded; have %r" % (
            name, os.listdir(self.downloads)))

    def checkAwscli(self, zipPath, accessKey):
        directory = os.path.join(self.workDir, "alice-credentials")
        with zipfile.ZipFile(zipPath) as archive:
            archive.extractall(directory)
        eucarc = os.path.join(directory, "eucarc")
        with open(eucarc) as f:
            self.assertIn("export EC2_ACCESS_KEY=%s" % (accessKey,), f.read())
        home = os.path.join(self.workDir, "home")
        os.makedirs(home, exist_ok=True)
        result = subprocess.run(
            ["bash", "-c", '. "%s" && aws --output json ec2 describe-availability-zones'
             % (eucarc,)], env=self.clientEnv(home), cwd=home, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.zonesSeen = json.loads(result.stdout)["AvailabilityZones"]

    def checkCsrfAndLockout(self):
        client = PlainClient(self.base)
        status, page, _ = client.request("/login", {"name": "alice",
                                                    "password": ALICE_PASSWORD})
        self.assertEqual(status, 403)
        self.assertIn("did not come from this site", page)
        status, _, _ = client.request("/login", {"name": "alice", "password": ALICE_PASSWORD,
                                                 "csrf": "forged"})
        self.assertEqual(status, 403)

        token = client.csrf("/login")
        status, _, headers = client.request("/login", {"name": "alice", "csrf": token,
                                                       "password": ALICE_PASSWORD})
        self.assertEqual((status, headers["Location"]), (303, "/credentials"))
        cookie = headers["Set-Cookie"]
        for attribute in ("Secure", "HttpOnly", "Max-Age=", "SameSite=Strict"):
            self.assertIn(attribute.lower(), cookie.lower())
        client.request("/logout", {"csrf": client.csrf("/credentials")})

        for _ in range(5):
            status, page, _ = client.request("/login", {
                "name": "alice", "password": "wrong", "csrf": client.csrf("/login")})
            self.assertEqual(status, 403)
        status, page, _ = client.request("/login", {
            "name": "alice", "password": ALICE_PASSWORD, "csrf": client.csrf("/login")})
        self.assertEqual(status, 403)
        self.assertIn("locked", page)


class WebStoryTests(WebStory, unittest.TestCase):
    """The story against a CLC this test starts, mail caught by its ESMTP server."""

    timeout = 600

    def setUp(self):
        skipWithoutBrowser()
        self.mail = MailCatcher()
        smtpPort = self.mail.listen(reactor, self)
        self.webPort = freePort()
        self.cloud = LiveCloud(self, extraSettings=[
            "WEB_PORT=%d" % self.webPort, "WEB_LISTEN=127.0.0.1",
            "SMTP_HOST=127.0.0.1", "SMTP_PORT=%d" % smtpPort,
            "MAIL_FROM=cloud@example.com"])
        self.base = "https://127.0.0.1:%d" % (self.webPort,)
        self.workDir = self.cloud.prefix
        self.clientEnv = self.cloud.clientEnv
        self.keepScreenshots("clc")

    def test_story(self):
        """Admin setup, application, approval and activation by mail, the zip with awscli, and the security checks."""
        return threads.deferToThread(self.startAndTell)

    def startAndTell(self):
        self.cloud.start()
        self.story()
