"""Walrus's image cache: bundles decrypted once, kept LRU within a size cap.

``directory`` keeps the decrypted images on disk and knows which to evict;
``cache`` runs the decryption (``eucad.bundle.reader``) in a thread pool,
one decryption per bundle however many ask for it at once.  The parts are
read through a function the caller injects (Walrus's store, or files).
"""

from eucad.walrus.imagecache.cache import (CachedImage, ImageCache, ImageCacheError,
                                          OpenedImage)

__all__ = ["CachedImage", "ImageCache", "ImageCacheError", "OpenedImage"]
