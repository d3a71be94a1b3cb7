"""Pages of ListObjects kept in memory while nothing is written.

A 1000-key page costs its database thread about 1.4 ms just to turn the
rows SQLite found into Python tuples, and the trip through the thread and
back as much again as a whole cached GET: a client that lists a bucket
again (a sync tool, a file browser, the web pages) pays that each time for
the same answer.  ``ListingCache`` keeps the rows of recent pages and hands
them back while the object cache's generations of the store and of the
bucket (eucad.walrus.objectcache) have not moved: every transaction of the
bucket store moves them, before it starts and once it has ended (one that
writes a single key, such as a small PUT, moves its bucket's all the same,
though the object cache keeps the rows of the bucket's other keys), so a page
kept is exactly what the database holds, and a page whose query overlapped
a transaction that may change its bucket is not kept.

Only rows are kept, never an answer: who may list is checked on every
request against the bucket row kept with the page (its ACL, which a
change would have moved the generations for), and the page is rendered
for each request's own encoding and owner display.  What is kept is
bounded by pages and by rows; the oldest pages go first.
"""

#: The most pages kept, and the most rows among them.
MAX_PAGES = 64
MAX_ROWS = 50000


class ListingCache:
    """
    (bucket row, Listing) by (bucket, prefix, delimiter, after, max-keys),
    valid in the generations of ``objectCache`` (the store's and the
    bucket's) it was found in.
    """

    def __init__(self, objectCache, maxPages=MAX_PAGES, maxRows=MAX_ROWS):
        self.objectCache = objectCache
        self.maxPages = maxPages
        self.maxRows = maxRows
        self.pages = {}
        self.rows = 0

    def snapshot(self, bucketName):
        """The generations a query of ``bucketName`` starting now is of (for ``put``)."""
        return self.objectCache.snapshot(bucketName)

    def get(self, page):
        """(bucket row, Listing) kept for ``page`` (bucket name first) in these generations, or None."""
        entry = self.pages.get(page)
        if entry is None:
            return None
        if entry[0] != self.objectCache.snapshot(page[0]):
            self._drop(page)
            return None
        return entry[1], entry[2]

    def put(self, snapshot, page, bucket, listing):
        """
        Keep what a query of ``page`` that started at ``snapshot`` found,
        unless a transaction that may change its bucket began or ended
        meanwhile, or is under way now.
        """
        if not self.objectCache.unchangedSince(snapshot, page[0]):
            return
        size = len(listing.entries) + len(listing.commonPrefixes)
        if size > self.maxRows:
            return
        self._drop(page)
        while self.pages and (len(self.pages) >= self.maxPages
                              or self.rows + size > self.maxRows):
            self._drop(next(iter(self.pages)))
        self.pages[page] = (snapshot, bucket, listing, size)
        self.rows += size

    def _drop(self, page):
        entry = self.pages.pop(page, None)
        if entry is not None:
            self.rows -= entry[3]
