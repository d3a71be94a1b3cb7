"""The browser story against the all-in-one cloud, brought up as ``make run`` does.

``eucad-allinone up`` (its ``main``, one node, no instance) is given the
test's own ESMTP server on loopback as SMTP relay (``--smtp``); then Debian's
chromium goes through the whole story of ``tests/clc/test_web_browser``
(``WebStory``) at the web URL ``make run`` prints, and the credentials zip
downloaded from the page works with awscli against that cloud.  The
configuration tab shows the cluster ``make run`` registered, and the DNS
servers the story sets there reach that cluster's real CC.  Screenshots
are kept in build/web-screenshots/allinone.
"""

import os
import re
import sys

from twisted.internet import reactor, threads
from twisted.trial import unittest

from eucad.common.polling import pollUntil
from tests.clc.test_web_browser import STORY_DNS, WebStory, skipWithoutBrowser
from tests.commandline import run
from tests.e2e.test_sidebyside import _missing
from tests.listening import patchEnv
from tests.mailcatcher import MailCatcher


class WebStoryAllInOneTests(WebStory, unittest.TestCase):
    timeout = 900

    def setUp(self):
        reason = _missing()
        if reason:
            raise unittest.SkipTest(reason)
        skipWithoutBrowser()
        from eucad.lab import allinone
        self.allinone = allinone
        self.workDir = os.path.abspath(self.mktemp())
        os.makedirs(self.workDir)
        patchEnv(self, "HOME", os.path.join(self.workDir, "home"))
        self.mail = MailCatcher()
        self.smtpPort = self.mail.listen(reactor, self)
        self.runDir = os.path.join(self.workDir, "run")
        self.name = "wb%d" % (os.getpid() % 1000,)
        self.basePort = allinone.freeBasePort()
        self.addCleanup(lambda: threads.deferToThread(
            run, allinone.main, ["down", "--dir", self.runDir]))
        self.keepScreenshots("allinone")

    def clientEnv(self, home):
        return {"HOME": home, "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
                "PATH": os.path.dirname(sys.executable) + ":" + os.environ["PATH"]}

    def clcLogHas(self, text):
        for top, _, names in os.walk(self.runDir):
            if "cloud-output.log" in names:
                with open(os.path.join(top, "cloud-output.log"), errors="replace") as f:
                    if text in f.read():
                        return True
        return False

    def test_storyAgainstMakeRun(self):
        """make run's cloud: the web URL it prints, mail through --smtp, the whole story, the zip with awscli."""
        return threads.deferToThread(self.scenario)

    def scenario(self):
        code, out, err = run(self.allinone.main, [
            "up", "--dir", self.runDir, "--name", self.name, "--port", str(self.basePort),
            "--subnet", "10.88.0.0/24", "--nodes", "1", "--no-instance",
            "--credentials", os.path.join(self.workDir, "admin-eucarc"),
            "--smtp", "127.0.0.1:%d" % (self.smtpPort,)])
        self.assertEqual(code, 0, err[-3000:])
        printed = re.search(r"web pages:\s+(https://127\.0\.0\.1:\d+/) \(first login "
                            r"admin/admin", out)
        self.assertIsNotNone(printed, out)
        self.base = printed.group(1).rstrip("/")
        driver = self.browser()
        self.story(driver)
        from selenium.webdriver.common.by import By
        # alice's eucarc from the page reached make run's cloud and its cluster.
        self.assertEqual([zone["ZoneName"] for zone in self.zonesSeen], ["cluster1"])
        # The story ends with the admin logged in.
        driver.set_window_size(1000, 900)
        driver.get(self.base + "/admin/config")
        clusters = driver.find_element(By.ID, "clusters").text
        self.assertIn("cluster1", clusters)
        # The DNS servers set in the story reached make run's real CC, whose
        # dhcpd took them (the CLC logs each cluster's acceptance).
        pollUntil("cluster1 took the DNS servers", lambda: self.clcLogHas(
            "cluster cluster1 took the cloud's name servers: " + STORY_DNS),
            timeout=60, interval=0.5)
        self.shot(driver, "config-allinone")
