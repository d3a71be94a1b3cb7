"""Mail through a real ESMTP server on loopback, and failures kept for the admin."""

from twisted.internet import reactor
from twisted.trial import unittest

from eucad.clc.web.mail import Mailer
from tests.clc.livecloud import freePort
from tests.mailcatcher import MailCatcher, body


class Conf(dict):
    def get(self, key):
        return dict.get(self, key, "")


class MailerTests(unittest.TestCase):
    def test_sendsThroughTheRelay(self):
        """The relay receives the message with sender, recipient, subject and body."""
        catcher = MailCatcher()
        port = catcher.listen(reactor, self)
        mailer = Mailer(Conf(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port),
                             MAIL_FROM="cloud@example.com"), reactor=reactor)

        def check(sent):
            self.assertTrue(sent)
            [(to, message)] = catcher.messages
            self.assertEqual(to, "alice@example.com")
            self.assertEqual(message["From"], "cloud@example.com")
            self.assertEqual(message["Subject"], "Activate your cloud account")
            self.assertIn("https://cloud/activate?token=t", body(message))
            self.assertEqual(list(mailer.failures), [])
        d = mailer.send("alice@example.com", "Activate your cloud account",
                        "Follow https://cloud/activate?token=t\n")
        return d.addCallback(check)

    def test_unreachableRelayIsKept(self):
        """A relay that does not answer gives False and a failure the admin sees, not an exception."""
        mailer = Mailer(Conf(SMTP_HOST="127.0.0.1", SMTP_PORT=str(freePort()),
                             MAIL_FROM="cloud@example.com"), reactor=reactor)

        def check(sent):
            self.assertFalse(sent)
            [failure] = mailer.failures
            self.assertEqual((failure.recipient, failure.subject),
                             ("bob@example.com", "Your password reset code"))
            self.assertTrue(failure.reason)
            self.assertEqual(len(self.flushLoggedErrors()), 0)
        d = mailer.send("bob@example.com", "Your password reset code", "code: secret\n")
        return d.addCallback(check)

    def test_startTlsRequiredButNotOffered(self):
        """SMTP_STARTTLS=Y refuses to send to a relay without STARTTLS."""
        catcher = MailCatcher()
        port = catcher.listen(reactor, self)
        mailer = Mailer(Conf(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_STARTTLS="Y",
                             MAIL_FROM="cloud@example.com"), reactor=reactor)

        def check(sent):
            self.assertFalse(sent)
            self.assertEqual(catcher.messages, [])
            self.assertEqual(len(mailer.failures), 1)
        return mailer.send("a@example.com", "s", "b\n").addCallback(check)

    def test_noRelayConfigured(self):
        """Without SMTP_HOST nothing is sent and the admin is told why."""
        mailer = Mailer(Conf(MAIL_FROM="cloud@example.com"), reactor=reactor)
        d = mailer.send("a@example.com", "s", "b\n")
        d.addCallback(self.assertFalse)
        d.addCallback(lambda _: self.assertIn("SMTP_HOST", mailer.failures[0].reason))
        return d
