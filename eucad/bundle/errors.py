"""The one failure every image-making step shares, whatever tier raises it.

``ImageUnavailable`` means a bundle cannot become a usable image (damaged,
hostile, too large, not ours to decrypt); ``str()`` is the reason shown to
the user (an image's ``failed`` state reason).  Walrus's image cache raises
it and the CLC's preparer recognises it, without either importing the other.
"""


class ImageUnavailable(Exception):
    """A bundle cannot become an image; ``str()`` says why, for the user."""


class ImageNotReady(Exception):
    """A registered image is still pending (its bundle is being decrypted):
    whoever fetches it should ask again later."""


class ImageNotDeliverable(Exception):
    """An image cannot be delivered to a node: unknown, failed, not a bundle,
    or its bundle changed since it was registered; ``str()`` says which."""
