"""An ESMTP server on loopback (twisted.mail) that keeps every message it is given.

The tests start it on their reactor and point the CLC's SMTP_HOST/SMTP_PORT
at it; ``waitFor`` (for a test running in a thread) polls, boundedly, for a
message to one address.
"""

import email
import email.policy
import threading
import time

from twisted.internet import defer
from twisted.mail import smtp
from zope.interface import implementer


@implementer(smtp.IMessage)
class _Message:
    def __init__(self, catcher, recipient):
        self.catcher = catcher
        self.recipient = recipient
        self.lines = []

    def lineReceived(self, line):
        self.lines.append(line)

    def eomReceived(self):
        parsed = email.message_from_bytes(b"\n".join(self.lines) + b"\n",
                                          policy=email.policy.default)
        self.catcher.add(self.recipient, parsed)
        return defer.succeed(None)

    def connectionLost(self):
        self.lines = []


@implementer(smtp.IMessageDelivery)
class _Delivery:
    def __init__(self, catcher):
        self.catcher = catcher

    def receivedHeader(self, helo, origin, recipients):
        return b"Received: by the test mail catcher"

    def validateFrom(self, helo, origin):
        return origin

    def validateTo(self, user):
        recipient = str(user.dest)
        return lambda: _Message(self.catcher, recipient)


class _Factory(smtp.SMTPFactory):
    protocol = smtp.ESMTP

    def __init__(self, delivery):
        smtp.SMTPFactory.__init__(self)
        self.delivery = delivery

    def buildProtocol(self, addr):
        protocol = smtp.SMTPFactory.buildProtocol(self, addr)
        protocol.delivery = self.delivery
        return protocol


class MailCatcher:
    def __init__(self):
        self.messages = []
        self._lock = threading.Lock()
        self.port = None

    def add(self, recipient, message):
        with self._lock:
            self.messages.append((recipient, message))

    def listen(self, reactor, testcase):
        """Listen on 127.0.0.1 (call on the reactor thread); stopped at cleanup."""
        self.port = reactor.listenTCP(0, _Factory(_Delivery(self)), interface="127.0.0.1")
        testcase.addCleanup(self.port.stopListening)
        return self.port.getHost().port

    def waitFor(self, recipient, subjectPart, timeout=60):
        """The first message to ``recipient`` whose subject holds ``subjectPart``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for to, message in self.messages:
                    if to == recipient and subjectPart in message["Subject"]:
                        return message
            time.sleep(0.2)
        raise AssertionError("no mail to %s about %r within %d s; got %r" % (
            recipient, subjectPart, timeout,
            [(to, m["Subject"]) for to, m in self.messages]))


def body(message):
    return message.get_body(preferencelist=("plain",)).get_content()
