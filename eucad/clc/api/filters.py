"""``Filter.N`` for every Describe action, tag filters included.

``params.filters`` reads the parameters and refuses names a describe does
not know; here the known names are widened with EC2's tag filters
(``tag:KEY``, ``tag-key``, ``tag-value``) and matching understands fields
with several values (an instance's groups, a resource's tag keys): a filter
passes when any of its values matches any of the field's.
"""

import fnmatch

from eucad.clc.api import params

TAG_PREFIX = "tag:"
TAG_KEY, TAG_VALUE = "tag-key", "tag-value"


class KnownFilters:
    """The filter names one describe accepts: its own and the tag filters."""

    def __init__(self, names, tagged=True):
        self.names = frozenset(names)
        self.tagged = tagged

    def __contains__(self, name):
        if name in self.names:
            return True
        return self.tagged and (name in (TAG_KEY, TAG_VALUE)
                                or (name.startswith(TAG_PREFIX)
                                    and len(name) > len(TAG_PREFIX)))


def parse(p, names, tagged=True):
    """``[(name, [values])]`` of the request's filters (see ``params.filters``)."""
    return params.filters(p, KnownFilters(names, tagged))


def tagFields(tags):
    """The filter fields of a resource's tags ``{key: value}``."""
    fields = {TAG_KEY: list(tags), TAG_VALUE: list(tags.values())}
    for key, value in tags.items():
        fields[TAG_PREFIX + key] = value
    return fields


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def matches(filterList, fields, tags=None):
    """
    Whether an object passes every filter (``*`` and ``?`` are wildcards,
    as in EC2).  A field may be a list; ``tags`` adds the tag fields.
    """
    if tags is not None:
        fields = dict(fields, **tagFields(tags))
    for name, values in filterList:
        actual = fields.get(name)
        if actual is None:
            return False
        actuals = actual if isinstance(actual, (list, tuple, set)) else [actual]
        if not any(fnmatch.fnmatchcase(_text(item), value)
                   for item in actuals for value in values):
            return False
    return True


def tagSet(tags):
    """The ``tagSet`` of a describe answer."""
    return [{"key": key, "value": value} for key, value in sorted(tags.items())]
