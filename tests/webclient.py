"""A cookie-keeping HTTPS client for the web pages, for checks without a browser.

It keeps the session cookie (``Secure``: it goes over HTTPS only), does not
follow redirects (tests look at them), and reads the CSRF token of a form.
The cloud's certificate is issued by the cloud's own CA: it is not verified.
"""

import http.cookiejar
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request


def link(text, path):
    """The first https link to ``path`` (with a query) in a mail's text."""
    match = re.search(r"(https://\S+%s\?\S+)" % re.escape(path), text)
    if match is None:
        raise AssertionError("no %s link in %r" % (path, text))
    return match.group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class PlainClient:
    def __init__(self, base):
        self.base = base
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context),
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect())

    def request(self, path, form=None):
        """``(status, text, headers)`` of a GET, or a POST of ``form``."""
        if path.startswith("https://"):
            path = path[len(self.base):]
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base + path, data=data, timeout=60) as answer:
                return answer.status, answer.read().decode("utf-8", "replace"), answer.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace"), e.headers

    def csrf(self, path):
        """The CSRF token of the form on page ``path``."""
        status, page, _ = self.request(path)
        match = re.search(r'name="csrf" value="([^"]+)"', page)
        if match is None:
            raise AssertionError("no form on %s (%d): %s" % (path, status, page[:300]))
        return match.group(1)

    def submit(self, page, target, **fields):
        """Post ``fields`` to ``target`` with the CSRF token of ``page``."""
        return self.request(target, dict(fields, csrf=self.csrf(page)))

    def login(self, name, password):
        return self.submit("/login", "/login", name=name, password=password)
