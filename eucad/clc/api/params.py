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


def filters(params, known):
    """
    ``Filter.N.Name`` / ``Filter.N.Value.M`` as ``[(name, [values])]``;
    names outside ``known`` are InvalidParameterValue, as in EC2.
    """
    pattern = re.compile(r"^Filter\.(\d+)\.Name$")
    result = []
    for name, value in sorted(params.items()):
        match = pattern.match(name)
        if not match:
            continue
        if value not in known:
            raise CloudError("InvalidParameterValue",
                             "The filter '%s' is invalid" % (value,))
        values = listOf(params, "Filter.%s.Value" % (match.group(1),))
        result.append((value, values))
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
