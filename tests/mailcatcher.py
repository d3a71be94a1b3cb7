"""An ESMTP server on loopback (twisted.mail) that keeps every message it is given.

The tests start it on their reactor and point the CLC's SMTP_HOST/SMTP_PORT
at it; ``waitFor`` (for a test running in a thread) polls, boundedly, for a
message to one address.
"""

import email
import email.policy
import threading
import time

from twisted.internet import defer, task
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


class _TrackedESMTP(smtp.ESMTP):
    def connectionLost(self, reason):
        smtp.ESMTP.connectionLost(self, reason)
        self.factory.open.discard(self)
        if not self.factory.open:
            waiting, self.factory.waiting = self.factory.waiting, []
            for d in waiting:
                d.callback(None)


class _Factory(smtp.SMTPFactory):
    protocol = _TrackedESMTP

    def __init__(self, delivery):
        smtp.SMTPFactory.__init__(self)
        self.delivery = delivery
        self.open = set()
        self.waiting = []

    def buildProtocol(self, addr):
        protocol = smtp.SMTPFactory.buildProtocol(self, addr)
        protocol.delivery = self.delivery
        self.open.add(protocol)
        return protocol

    def closeAll(self):
        """Cut every connection; a Deferred that fires once all are closed."""
        if not self.open:
            return defer.succeed(None)
        d = defer.Deferred()
        self.waiting.append(d)
        for protocol in list(self.open):
            protocol.transport.abortConnection()
        return d


class MailCatcher:
    def __init__(self):
        self.messages = []
        self._lock = threading.Lock()
        self.port = None

    def add(self, recipient, message):
        with self._lock:
            self.messages.append((recipient, message))

    def listen(self, reactor, testcase, port=0):
        """Listen on 127.0.0.1 (call on the reactor thread); stopped at cleanup."""
        factory = _Factory(_Delivery(self))
        self.port = reactor.listenTCP(port, factory, interface="127.0.0.1")
        testcase.addCleanup(self.port.stopListening)
        # Closing our side ends the client's too, a moment later.
        testcase.addCleanup(lambda: factory.closeAll().addCallback(
            lambda _: task.deferLater(reactor, 0.05, lambda: None)))
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
