"""Mail from the web pages, through the SMTP relay eucalyptus.conf names.

``SMTP_HOST``/``SMTP_PORT`` name the relay; ``SMTP_STARTTLS=Y`` requires
STARTTLS before anything is sent; ``SMTP_USER``/``SMTP_PASSWORD`` log in
when given; ``MAIL_FROM`` is the sender.  A message that cannot be sent is
logged (without its body: it may hold a token) and kept in ``failures``,
which the admin's pages show; the Deferred of ``send`` never fails, it
fires with whether the relay took the message.
"""

import collections
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from twisted.internet.defer import succeed
from twisted.logger import Logger
from twisted.mail.smtp import sendmail

#: How many failures the admin's pages remember.
KEPT_FAILURES = 50


class MailFailure:
    def __init__(self, when, recipient, subject, reason):
        self.when = when
        self.recipient = recipient
        self.subject = subject
        self.reason = reason


class Mailer:
    log = Logger()

    def __init__(self, conf, reactor=None, clock=time.time):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.host = conf.get("SMTP_HOST")
        self.port = int(conf.get("SMTP_PORT") or 25)
        self.startTls = conf.get("SMTP_STARTTLS").upper() == "Y"
        self.user = conf.get("SMTP_USER") or None
        self.password = conf.get("SMTP_PASSWORD") or None
        self.sender = conf.get("MAIL_FROM")
        self.clock = clock
        self.failures = collections.deque(maxlen=KEPT_FAILURES)

    def message(self, recipient, subject, body):
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = recipient
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(body)
        return message.as_bytes()

    def send(self, recipient, subject, body):
        """Send one message; a Deferred firing True if the relay took it, else False."""
        if not self.host:
            return succeed(self._failed(recipient, subject, "no SMTP_HOST is configured"))
        d = sendmail(self.host, self.sender, [recipient],
                     self.message(recipient, subject, body), port=self.port,
                     username=self.user,
                     password=self.password.encode("utf-8") if self.password else None,
                     requireAuthentication=self.user is not None,
                     requireTransportSecurity=self.startTls, reactor=self.reactor)
        d.addCallback(lambda _: True)
        d.addErrback(lambda failure: self._failed(
            recipient, subject, failure.getErrorMessage()))
        return d

    def _failed(self, recipient, subject, reason):
        self.failures.appendleft(MailFailure(self.clock(), recipient, subject, reason))
        self.log.error("mail to {recipient} ({subject}) not sent: {reason}",
                       recipient=recipient, subject=subject, reason=reason)
        return False
