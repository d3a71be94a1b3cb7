"""Walrus: the S3-compatible store (``twistd eucalyptus-walrus``).

Request path: ``wire`` (HTTP request/channel classes) -> ``body`` (bodies
spooled, decoded and hashed as they arrive) -> ``service`` (addressing,
``auth``, errors) -> ``bucket`` / ``objects`` / ``multipart`` /
``postupload`` (the operations) -> ``store`` (metadata in the shared
database, ``models``) and ``blobs`` (object data under
``var/lib/eucalyptus/bukkits``).  ``app`` assembles it, ``tap`` runs it.
"""
