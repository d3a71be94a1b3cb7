"""Walking keys in order for S3's listings: prefixes, delimiters, markers, pages.

``listSorted`` turns sorted database rows into one page of a ListObjects
answer (keys and common prefixes), fetching in batches and jumping over a
whole common prefix at once; the bucket store gives it its queries.
"""

LIST_BATCH = 1000


class Listing:
    """One page of a listing: rows, common prefixes, and where to go on."""

    def __init__(self):
        self.entries = []
        self.commonPrefixes = []
        self.truncated = False
        self.lastReturned = None


def prefixEnd(prefix):
    """The smallest string greater than every string starting with ``prefix``."""
    for index in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[index])
        if code < 0x10FFFF:
            return prefix[:index] + chr(code + 1)
    return None


def listSorted(fetch, prefix, delimiter, after, maxKeys, keyOf):
    """
    Walk keys in order from ``fetch(lowerBound, inclusive, limit)`` (rows
    sorted by key, all starting with ``prefix``), rolling keys up into
    common prefixes at ``delimiter``, skipping everything up to ``after``.
    """
    listing = Listing()
    if maxKeys <= 0:
        return listing
    lower, inclusive = (after, False) if after and after >= prefix else (prefix, True)
    count = 0
    while True:
        limit = min(maxKeys - count + 1, LIST_BATCH)
        rows = fetch(lower, inclusive, limit)
        if not rows:
            return listing
        jumped = False
        for row in rows:
            key = keyOf(row)
            if after and key <= after:
                lower, inclusive = key, False
                continue
            if count >= maxKeys:
                listing.truncated = True
                return listing
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[:cut + len(delimiter)]
                    end = prefixEnd(common)
                    if not (after and common <= after):
                        listing.commonPrefixes.append(common)
                        listing.lastReturned = common
                        count += 1
                    if end is None:
                        return listing
                    lower, inclusive, jumped = end, True, True
                    break
            listing.entries.append(row)
            listing.lastReturned = key
            count += 1
            lower, inclusive = key, False
        if not jumped and len(rows) < limit:
            return listing
