"""The cloud's web pages at https://FRONTEND:WEB_PORT/ (``eucad.clc.web.server``).

Served by the CLC over TLS with the cloud's certificate: first-time setup of
the admin, applying for an account, approval and activation by e-mail,
credentials, images, and the admin's user pages.
"""
