"""Walrus: the S3-compatible store (``twistd eucalyptus-walrus``).

Request path: ``wire`` (HTTP request/channel classes) -> ``body`` (bodies
spooled, decoded and hashed as they arrive) -> ``service`` (addressing,
``auth``, errors) -> ``bucket`` / ``objects`` / ``multipart`` /
``postupload`` (the operations) -> ``store`` (metadata in the shared
database, ``models``; the hot paths as plain rows, ``rows``, and PUTs'
commits batched by ``groupcommit``) and ``blobs`` (object data under
``var/lib/eucalyptus/bukkits``).  ``app`` assembles it, ``tap`` runs it.
"""
