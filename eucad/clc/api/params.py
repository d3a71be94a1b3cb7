"""Reading EC2 Query parameters: scalars, ``Name.N`` lists and ``Filter.N``.

Every operation reads its parameters through these helpers so that missing
and malformed values fail the same way everywhere (MissingParameter,
InvalidParameterValue).
"""

import fnmatch
import re

from eucad.common.errors import CloudError

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


def required(params, name):
    value = params.get(name)
    if value is None or value == "":
        raise CloudError("MissingParameter",
                         "The request must contain the parameter %s" % (name,))
    return value


def optional(params, name, default=None):
    value = params.get(name)
    return default if value is None or value == "" else value


def integer(params, name, default=None, minimum=None, maximum=None):
    raw = params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise CloudError("MissingParameter",
                             "The request must contain the parameter %s" % (name,))
        return default
    try:
        value = int(raw)
    except ValueError:
        raise CloudError("InvalidParameterValue",
                         "Invalid value '%s' for %s" % (raw, name))
    if (minimum is not None and value < minimum) or (
            maximum is not None and value > maximum):
        raise CloudError("InvalidParameterValue",
                         "Value (%s) for parameter %s is invalid" % (raw, name))
    return value


def boolean(params, name, default=False):
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise CloudError("InvalidParameterValue",
                     "Invalid value '%s' for %s" % (raw, name))


def listOf(params, prefix):
    """Values of ``prefix.1``, ``prefix.2``... in index order (gaps allowed)."""
    pattern = re.compile(r"^%s\.(\d+)$" % (re.escape(prefix),))
    found = []
    for name, value in params.items():
        match = pattern.match(name)
        if match:
            found.append((int(match.group(1)), value))
    return [value for _, value in sorted(found)]


#: Most filters, values in one filter, and values in all, one request may
#: carry (EC2 answers FilterLimitExceeded past its own limits too).  Each
#: value is matched against every candidate object, so the product is what
#: a request costs.
MAX_FILTERS = 50
MAX_VALUES_PER_FILTER = 200
MAX_FILTER_VALUES = 1000

_FILTER_PART = re.compile(r"^Filter\.(\d+)\.(?:(Name)|Value\.(\d+))$")


def _filterLimit(message):
    return CloudError("FilterLimitExceeded", message)


def filters(params, known):
    """
    ``Filter.N.Name`` / ``Filter.N.Value.M`` as ``[(name, [values])]`` in
    ``N`` order; names outside ``known`` are InvalidParameterValue, as in EC2.

    The parameters are read once (a request with thousands of filters costs
    one pass, not one pass per filter), and the counts are capped
    (``MAX_FILTERS``, ``MAX_VALUES_PER_FILTER``, ``MAX_FILTER_VALUES``) with
    FilterLimitExceeded.
    """
    names = {}
    values = {}
    total = 0
    for parameter, value in params.items():
        if not parameter.startswith("Filter."):
            continue
        match = _FILTER_PART.match(parameter)
        if match is None:
            raise CloudError("InvalidParameterValue",
                             "The parameter %s is not a filter's Name or Value.N"
                             % (parameter[:64],))
        index = int(match.group(1))
        if match.group(2):
            names[index] = value
            if len(names) > MAX_FILTERS:
                raise _filterLimit("The maximum number of filters in one request "
                                   "is %d" % (MAX_FILTERS,))
        else:
            total += 1
            if total > MAX_FILTER_VALUES:
                raise _filterLimit("The maximum number of filter values in one "
                                   "request is %d" % (MAX_FILTER_VALUES,))
            mine = values.setdefault(index, [])
            mine.append((int(match.group(3)), value))
            if len(mine) > MAX_VALUES_PER_FILTER:
                raise _filterLimit("The maximum number of values in one filter "
                                   "is %d" % (MAX_VALUES_PER_FILTER,))
    for index in values:
        if index not in names:
            raise CloudError("InvalidParameterValue",
                             "Filter.%d has values but no Name" % (index,))
    result = []
    for index in sorted(names):
        name = names[index]
        if name not in known:
            raise CloudError("InvalidParameterValue",
                             "The filter '%s' is invalid" % (name[:128],))
        result.append((name, [value for _, value in sorted(values.get(index, []))]))
    return result


def matches(filterList, fields):
    """
    Whether an object passes every filter: one of a filter's values must
    match (``*`` and ``?`` are wildcards, as in EC2) the field of that name.
    """
    for name, values in filterList:
        actual = fields.get(name)
        if actual is None:
            return False
        actual = str(actual).lower() if isinstance(actual, bool) else str(actual)
        if not any(fnmatch.fnmatchcase(actual, value) for value in values):
            return False
    return True
