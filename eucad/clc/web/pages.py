"""The web pages' resource: one route table, one place that checks who asks.

``WebPages`` is a leaf resource: ``ROUTES`` maps (method, path) to a handler
and the access it needs (``PUBLIC``, ``USER``, ``ADMIN``).  Before a handler
runs, ``_handle`` finds the visitor's session, refuses a POST without the
session's CSRF token (403), sends visitors who are not logged in to the
login page, an admin whose first-time tasks are due to ``/setup``, and
refuses admin pages to users (403).  Handlers return a ``Page`` (a Jinja2
template, autoescaped), a ``Redirect`` or a ``Download``; ``_write`` turns
each into the answer.  Database work goes through ``Database.run``.
"""

import importlib.resources
import time
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.web import resource, server

from eucad.clc.clusterregistry import ClusterError
from eucad.clc.web import configuration, images, store
from eucad.clc.web.sessions import SessionStore
from eucad.common import accounts, useradmin
from eucad.common.credentials import REGION, credentialUrls

PUBLIC, USER, ADMIN = "public", "user", "admin"

_STYLE = importlib.resources.files("eucad.clc.web").joinpath(
    "templates", "style.css").read_bytes()

_TEMPLATES = Environment(loader=PackageLoader("eucad.clc.web", "templates"),
                         autoescape=select_autoescape(enabled_extensions=("html",),
                                                     disabled_extensions=("txt",),
                                                     default=True,
                                                     default_for_string=True))


class Page:
    def __init__(self, template, status=200, **context):
        self.template = template
        self.status = status
        self.context = context
        self.flash = None


class Redirect:
    def __init__(self, location):
        self.location = location


class Download:
    """Bytes to hand over: a file to save when it has a ``fileName``."""

    def __init__(self, data, fileName, contentType):
        self.data = data
        self.fileName = fileName
        self.contentType = contentType


class Visit:
    """One request as the handlers see it: its form, session and login."""

    def __init__(self, request, session):
        self.request = request
        self.session = session
        self.gone = False
        self.form = {key.decode("utf-8", "replace"): values[0].decode("utf-8", "replace")
                     for key, values in (request.args or {}).items() if values}

    @property
    def login(self):
        return self.session.login

    def connectionLost(self, failure):
        """The client went away before its answer: nothing is written."""
        self.gone = True

    def get(self, name):
        return self.form.get(name, "")


class WebPages(resource.Resource):
    isLeaf = True
    log = Logger()

    def __init__(self, database, mailer, conf, keysDir, sessions=None, clock=time.time,
                 clusters=None, reactor=None, bucketDirectory=None, settingChanges=None):
        resource.Resource.__init__(self)
        #: Where saved settings are published (``SettingChanges``), or None.
        self.settingChanges = settingChanges
        self.bucketDirectory = bucketDirectory
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.clusters = clusters
        #: One cluster change at a time (checks, keys and CLUSTERS stay consistent).
        self.clusterChanges = defer.DeferredLock()
        self.db = database
        self.mailer = mailer
        self.conf = conf
        self.keysDir = keysDir
        self.sessions = sessions or SessionStore(database, clock)
        self.clock = clock
        self.routes = {
            (b"GET", "/"): (PUBLIC, self.home),
            (b"GET", "/style.css"): (PUBLIC, self.style),
            (b"GET", "/login"): (PUBLIC, self.loginForm),
            (b"POST", "/login"): (PUBLIC, self.loginSubmit),
            (b"POST", "/logout"): (PUBLIC, self.logout),
            (b"GET", "/setup"): (ADMIN, self.setupForm),
            (b"POST", "/setup"): (ADMIN, self.setupSubmit),
            (b"GET", "/apply"): (PUBLIC, self.applyForm),
            (b"POST", "/apply"): (PUBLIC, self.applySubmit),
            (b"GET", "/decide"): (PUBLIC, self.decideForm),
            (b"POST", "/decide"): (PUBLIC, self.decideSubmit),
            (b"GET", "/activate"): (PUBLIC, self.activateForm),
            (b"POST", "/activate"): (PUBLIC, self.activateSubmit),
            (b"GET", "/forgot"): (PUBLIC, self.forgotForm),
            (b"POST", "/forgot"): (PUBLIC, self.forgotSubmit),
            (b"GET", "/reset"): (PUBLIC, self.resetForm),
            (b"POST", "/reset"): (PUBLIC, self.resetSubmit),
            (b"GET", "/credentials"): (USER, self.credentials),
            (b"POST", "/credentials/zip"): (USER, self.credentialsZip),
            (b"POST", "/credentials/secret"): (USER, self.newSecret),
            (b"POST", "/credentials/certificate"): (USER, self.newCertificate),
            (b"GET", "/images"): (USER, self.imagesPage),
            (b"POST", "/admin/images"): (ADMIN, self.imageAction),
            (b"GET", "/admin/users"): (ADMIN, self.users),
            (b"POST", "/admin/users/add"): (ADMIN, self.addUser),
            (b"POST", "/admin/users/change"): (ADMIN, self.changeUser),
            (b"GET", "/admin/config"): (ADMIN, self.config),
            (b"POST", "/admin/config/vmtypes"): (ADMIN, self.saveVmTypes),
            (b"POST", "/admin/config/walrus"): (ADMIN, self.saveWalrus),
            (b"POST", "/admin/config/system"): (ADMIN, self.saveSystem),
            (b"POST", "/admin/config/clusters/add"): (ADMIN, self.addCluster),
            (b"POST", "/admin/config/clusters/remove"): (ADMIN, self.removeCluster),
        }

    # -- the one way in -------------------------------------------------

    def render(self, request):
        visit = Visit(request, None)
        request.notifyFinish().addErrback(visit.connectionLost)
        d = defer.ensureDeferred(self._answer(visit))
        d.addErrback(self._failed, request)
        d.addCallback(self._write, visit)
        return server.NOT_DONE_YET

    async def _answer(self, visit):
        """
        The handler's answer, with the session loaded first and saved after
        (a Page shows the flash message, which is then gone).
        """
        visit.session = await self.sessions.current(visit.request)
        answer = await self._handle(visit)
        if isinstance(answer, Page):
            answer.flash, visit.session.flash = visit.session.flash, None
        await self.sessions.save(visit.session)
        return answer

    async def _handle(self, visit):
        request, session = visit.request, visit.session
        path = request.path.decode("utf-8", "replace").rstrip("/") or "/"
        route = self.routes.get((request.method, path))
        if route is None:
            return Page("message.html", status=404, title="Not found",
                        message="There is no such page.")
        access, handler = route
        if request.method == b"POST" and not session.csrfMatches(visit.get("csrf")):
            return Page("message.html", status=403, title="Refused",
                        message="This form is out of date or did not come from this "
                                "site; please go back, reload it and try again.")
        if access != PUBLIC:
            if visit.login is None:
                return Redirect("/login")
            if not await self.db.run(store.stillActive, visit.login.name):
                # Disabled or deleted since logging in: the session ends now.
                await self.sessions.end(request, session)
                return Redirect("/login")
            if visit.login.setupDue and handler not in (self.setupForm, self.setupSubmit):
                return Redirect("/setup")
            if access == ADMIN and not visit.login.isAdmin:
                return Page("message.html", status=403, title="Refused",
                            message="This page is for the cloud's administrator.")
        return await handler(visit)

    def _failed(self, failure, request):
        self.log.failure("web page {path} failed", failure,
                         path=request.path.decode("utf-8", "replace"))
        return Page("message.html", status=500, title="Error",
                    message="Something went wrong; the administrator can find it in "
                            "the cloud's log.")

    def _write(self, answer, visit):
        request = visit.request
        if visit.gone:
            return
        request.setHeader(b"Cache-Control", b"no-store")
        request.setHeader(b"X-Frame-Options", b"DENY")
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        request.setHeader(b"Content-Security-Policy",
                          b"default-src 'self'; style-src 'self'; script-src 'none'; "
                          b"frame-ancestors 'none'; form-action 'self'")
        request.setHeader(b"Strict-Transport-Security", b"max-age=31536000")
        if isinstance(answer, Redirect):
            request.setResponseCode(303)
            request.setHeader(b"Location", answer.location.encode("utf-8"))
            body = b""
        elif isinstance(answer, Download):
            request.setHeader(b"Content-Type", answer.contentType)
            if answer.fileName:
                request.setHeader(b"Content-Disposition", b'attachment; filename="%s"'
                                  % answer.fileName.encode("ascii"))
            body = answer.data
        else:
            request.setResponseCode(answer.status)
            request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
            session = visit.session
            csrf, login = (session.csrf, session.login) if session else ("", None)
            body = _TEMPLATES.get_template(answer.template).render(
                csrf=csrf, login=login, flash=answer.flash,
                **answer.context).encode("utf-8")
        request.write(body)
        request.finish()

    # -- helpers -----------------------------------------------------------

    def _flash(self, visit, message):
        visit.session.flash = message

    async def _setting(self, key):
        return await self.db.run(store.getSetting, key)

    def _link(self, publicUrl, path, **query):
        return "%s%s?%s" % (publicUrl, path, urlencode(query))

    async def _publicUrl(self):
        url = await self._setting(store.SETTING_PUBLIC_URL)
        return url or "https://%s:%s" % (self.conf.get("CLOUD_HOST"),
                                         self.conf.get("WEB_PORT"))

    # -- logging in and the first-time tasks ------------------------------

    async def style(self, visit):
        return Download(_STYLE, None, b"text/css; charset=utf-8")

    async def home(self, visit):
        if visit.login is None:
            return Redirect("/login")
        return Redirect("/setup" if visit.login.setupDue else "/credentials")

    async def loginForm(self, visit, error=None, status=200):
        adminEmail = await self._setting(store.SETTING_ADMIN_EMAIL)
        return Page("login.html", status=status, error=error, canApply=bool(adminEmail),
                    name=visit.get("name"))

    async def loginSubmit(self, visit):
        login = await self.db.run(store.login, visit.get("name"), visit.get("password"))
        if isinstance(login, store.Refused):
            return await self.loginForm(visit, error=login.reason, status=403)
        visit.session = await self.sessions.loggedIn(visit.request, visit.session, login)
        return Redirect("/setup" if login.setupDue else "/credentials")

    async def logout(self, visit):
        await self.sessions.end(visit.request, visit.session)
        return Redirect("/login")

    async def setupForm(self, visit, error=None):
        values = await self.db.run(store.settings)
        return Page("setup.html", error=error, email=visit.get("email") or values.get(
            store.SETTING_ADMIN_EMAIL, ""), publicUrl=visit.get("publicUrl") or values.get(
            store.SETTING_PUBLIC_URL, ""))

    async def setupSubmit(self, visit):
        try:
            await self.db.run(store.completeSetup, visit.login.name, visit.get("password"),
                              visit.get("confirm"), visit.get("email"),
                              visit.get("publicUrl"))
        except store.WebError as e:
            return await self.setupForm(visit, error=str(e))
        visit.login.setupDue = False
        self._flash(visit, "The cloud is set up: people can now apply for accounts.")
        return Redirect("/credentials")

    # -- applying, deciding, activating -----------------------------------

    async def applyForm(self, visit, error=None):
        adminEmail = await self._setting(store.SETTING_ADMIN_EMAIL)
        if not adminEmail:
            return Page("message.html", title="Apply for an account",
                        message="This cloud does not take applications yet.")
        return Page("apply.html", error=error, form=visit.form)

    async def applySubmit(self, visit):
        application = store.Application(visit.form)
        try:
            approve, reject = await self.db.run(store.apply, application)
        except store.WebError as e:
            return await self.applyForm(visit, error=str(e))
        adminEmail = await self._setting(store.SETTING_ADMIN_EMAIL)
        url = await self._publicUrl()
        body = _TEMPLATES.get_template("mail/application.txt").render(
            a=application, approve=self._link(url, "/decide", action="approve", token=approve),
            reject=self._link(url, "/decide", action="reject", token=reject))
        await self.mailer.send(adminEmail, "Application for an account: %s"
                               % (application.name,), body)
        return Page("message.html", title="Application received",
                    message="Thank you. The administrator decides on your application; "
                            "you will receive an e-mail either way.")

    async def decideForm(self, visit):
        action = visit.get("action")
        if action not in ("approve", "reject"):
            return Page("message.html", status=404, title="Not found",
                        message="There is no such page.")
        try:
            name = await self.db.run(store.peekToken, action, visit.get("token"))
        except store.WebError as e:
            return Page("message.html", status=404, title="Link not valid", message=str(e))
        return Page("decide.html", action=action, name=name, token=visit.get("token"))

    async def decideSubmit(self, visit):
        action = visit.get("action")
        if action not in ("approve", "reject"):
            return Page("message.html", status=404, title="Not found",
                        message="There is no such page.")
        try:
            name, email, activation = await self.db.run(store.decide, action,
                                                        visit.get("token"))
        except store.WebError as e:
            return Page("message.html", status=404, title="Link not valid", message=str(e))
        url = await self._publicUrl()
        if activation is None:
            sent = await self.mailer.send(email, "Your account application",
                                          _TEMPLATES.get_template("mail/rejected.txt")
                                          .render(name=name))
            what = "rejected"
        else:
            sent = await self._sendActivation(url, name, email, activation)
            what = "approved; the activation link was sent to %s" % (email,)
        message = "The application of %s was %s." % (name, what)
        if not sent:
            message += " The e-mail could not be sent: see the mail failures on the users page."
        return Page("message.html", title="Application decided", message=message)

    async def _sendActivation(self, url, name, email, token):
        return await self.mailer.send(
            email, "Activate your cloud account",
            _TEMPLATES.get_template("mail/activate.txt").render(
                name=name, link=self._link(url, "/activate", token=token)))

    async def activateForm(self, visit, error=None):
        try:
            name, needsPassword = await self.db.run(store.activationNeedsPassword,
                                                    visit.get("token"))
        except store.WebError as e:
            return Page("message.html", status=404, title="Link not valid", message=str(e))
        return Page("activate.html", name=name, needsPassword=needsPassword,
                    token=visit.get("token"), error=error)

    async def activateSubmit(self, visit):
        try:
            name = await self.db.run(store.activate, visit.get("token"),
                                     visit.get("password"), visit.get("confirm"))
        except store.WebError as e:
            return await self.activateForm(visit, error=str(e))
        self._flash(visit, "Your account %s is active: log in with your password." % (name,))
        return Redirect("/login")

    # -- forgotten passwords ----------------------------------------------

    async def forgotForm(self, visit):
        return Page("forgot.html")

    async def forgotSubmit(self, visit):
        found = await self.db.run(store.forgotPassword, visit.get("name"))
        if found is not None:
            email, code = found
            url = await self._publicUrl()
            await self.mailer.send(email, "Your password reset code",
                                   _TEMPLATES.get_template("mail/reset.txt").render(
                                       name=visit.get("name"), code=code,
                                       link=self._link(url, "/reset", name=visit.get("name"))))
        self._flash(visit, "If that account exists, a code was sent to its e-mail address.")
        return Redirect("/reset?" + urlencode({"name": visit.get("name")}))

    async def resetForm(self, visit, error=None):
        return Page("reset.html", name=visit.get("name"), error=error)

    async def resetSubmit(self, visit):
        try:
            await self.db.run(store.resetPassword, visit.get("name"), visit.get("code"),
                              visit.get("password"), visit.get("confirm"))
        except store.WebError as e:
            return await self.resetForm(visit, error=str(e))
        self._flash(visit, "Your password was changed: log in with it.")
        return Redirect("/login")

    # -- credentials ---------------------------------------------------------

    async def credentials(self, visit):
        keys = await self.db.run(_keysOf, visit.login.name)
        return Page("credentials.html", keys=keys)

    async def credentialsZip(self, visit):
        ec2Url, s3Url = credentialUrls(self.conf)
        issued = await self.db.run(useradmin.issueCredentials, visit.login.name,
                                   self.keysDir, ec2Url, s3Url, REGION)
        return Download(issued.zipBytes(), "euca2-%s-x509.zip" % (visit.login.name,),
                        b"application/zip")

    async def newSecret(self, visit):
        await self.db.run(useradmin.rotateSecret, visit.login.name)
        self._flash(visit, "You have a new access key and secret key; the old ones no "
                           "longer work. Download new credentials for your tools.")
        return Redirect("/credentials")

    async def newCertificate(self, visit):
        revoked = await self.db.run(useradmin.rotateCertificate, visit.login.name)
        self._flash(visit, "%d certificate(s) revoked; the next credentials download "
                           "brings a new one." % (revoked,))
        return Redirect("/credentials")

    # -- images ----------------------------------------------------------------

    async def imagesPage(self, visit):
        rows = await self.db.run(images.listImages, visit.login)
        return Page("images.html", images=rows)

    async def imageAction(self, visit):
        try:
            message = await self.db.run(images.changeImage, visit.get("image"),
                                        visit.get("action"))
        except store.WebError as e:
            message = str(e)
        self._flash(visit, message)
        return Redirect("/images")

    # -- users (admin) ---------------------------------------------------------

    async def users(self, visit, error=None):
        rows = await self.db.run(store.listUsers)
        return Page("users.html", users=rows, error=error,
                    failures=list(self.mailer.failures), form=visit.form)

    async def addUser(self, visit):
        name, email = visit.get("name").strip(), visit.get("email").strip()
        try:
            token = await self.db.run(store.addUser, name, email)
        except store.WebError as e:
            return await self.users(visit, error=str(e))
        sent = await self._sendActivation(await self._publicUrl(), name, email, token)
        self._flash(visit, "%s was added; %s" % (
            name, "the activation link was sent to %s." % (email,) if sent
            else "the activation e-mail could not be sent (see the mail failures)."))
        return Redirect("/admin/users")

    async def changeUser(self, visit):
        name, action = visit.get("name"), visit.get("action")
        if action == "resend":
            return await self.resendActivation(visit, name)
        changes = {"enable": lambda s: store.setEnabled(s, name, True),
                   "disable": lambda s: store.setEnabled(s, name, False),
                   "delete": lambda s: store.deleteUser(s, name)}
        if action not in changes:
            return await self.users(visit, error="Unknown action.")
        try:
            await self.db.run(changes[action])
        except store.WebError as e:
            return await self.users(visit, error=str(e))
        self._flash(visit, "%s: %sd." % (name, action))
        return Redirect("/admin/users")

    async def resendActivation(self, visit, name):
        try:
            email, token = await self.db.run(store.newActivation, name)
        except store.WebError as e:
            return await self.users(visit, error=str(e))
        sent = await self._sendActivation(await self._publicUrl(), name, email, token)
        self._flash(visit, "A new activation link was sent to %s." % (email,) if sent
                    else "The activation e-mail could not be sent (see the mail failures).")
        return Redirect("/admin/users")

    # -- configuration (admin) ---------------------------------------------

    async def config(self, visit, error=None, status=200):
        rows = await self.db.run(configuration.vmTypes)
        values = await self.db.run(configuration.settingsInForce, self.conf,
                                   self.bucketDirectory)
        if error is not None:
            # A refused form shows what was typed, not what is stored.
            values.update({k: v for k, v in visit.form.items() if k in values})
        clusters = self.clusters.describe() if self.clusters is not None else []
        return Page("config.html", status=status, vmtypes=rows, error=error,
                    settings=values, clusters=clusters, form=visit.form,
                    bucketDirectory=self.bucketDirectory,
                    canRegister=self.clusters is not None)

    async def _saved(self, visit, change, message):
        try:
            saved = await self.db.run(change, visit.form)
        except store.WebError as e:
            return await self.config(visit, error=str(e), status=400)
        if self.settingChanges is not None and isinstance(saved, dict):
            self.settingChanges.publish(saved)
        self._flash(visit, message)
        return Redirect("/admin/config")

    async def saveVmTypes(self, visit):
        return await self._saved(visit, configuration.saveVmTypes,
                                 "The VM types are saved and in force.")

    async def saveWalrus(self, visit):
        return await self._saved(
            visit, lambda session, form: configuration.saveWalrusSettings(
                session, form, self.bucketDirectory),
            "The Walrus settings are saved and in force (a new bucket directory: Walrus "
            "moves the stored objects there now, serving requests meanwhile).")

    async def saveSystem(self, visit):
        return await self._saved(visit, configuration.saveSystemSettings,
                                 "The system settings are saved and in force.")

    async def addCluster(self, visit):
        return await self.clusterChanges.run(
            lambda: defer.ensureDeferred(self._addCluster(visit)))

    async def removeCluster(self, visit):
        return await self.clusterChanges.run(
            lambda: defer.ensureDeferred(self._removeCluster(visit)))

    async def _addCluster(self, visit):
        if self.clusters is None:
            return await self.config(visit, error="This CLC cannot register clusters.",
                                     status=400)
        try:
            name, host, port = await threads.deferToThreadPool(
                self.reactor, self.reactor.getThreadPool(), self.clusters.register,
                visit.get("name"), visit.get("host"), visit.get("port"))
        except ClusterError as e:
            return await self.config(visit, error=str(e), status=400)
        self.clusters.connect(name, host, port)
        self._flash(visit, "Cluster %s (%s:%d) is registered and its keys are ready (a "
                           "cluster certificate naming %s). Copy them to the cluster "
                           "controller's host with: %s" % (
                               name, host, port, host, self.clusters.syncCommand(name)))
        return Redirect("/admin/config")

    async def _removeCluster(self, visit):
        name = visit.get("name")
        if self.clusters is None:
            return await self.config(visit, error="This CLC cannot register clusters.",
                                     status=400)
        try:
            await self.db.run(self.clusters.checkDeregister, name)
        except ClusterError as e:
            return await self.config(visit, error=str(e), status=400)
        await self.clusters.deregister(name)
        self._flash(visit, "Cluster %s is deregistered." % (name,))
        return Redirect("/admin/config")


def _keysOf(session, name):
    user = accounts.findByName(session, name)
    return {"name": user.name, "accountNumber": user.accountNumber,
            "accessKey": user.accessKey, "secretKey": user.secretKey,
            "certificates": len(accounts.validCertificates(session, name))}
