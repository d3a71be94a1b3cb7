"""CreateTags, DeleteTags and DescribeTags (instances, images, groups).

Rows and who may tag what are ``eucad.clc.tagstore``'s; the other describes
show tags as ``tagSet`` and filter on them through ``eucad.clc.api.filters``.
"""

from twisted.internet import defer

from eucad.clc import tagstore
from eucad.clc.api import filters, params
from eucad.common.errors import CloudError

TAG_FILTERS = ("key", "value", "resource-id", "resource-type")

#: Most resources and tags one request may name.
MAX_RESOURCES = 1000
MAX_TAGS = 50


def _resourceIds(p):
    resourceIds = list(dict.fromkeys(params.listOf(p, "ResourceId")))
    if not resourceIds:
        raise CloudError("MissingParameter",
                         "The request must contain the parameter ResourceId")
    if len(resourceIds) > MAX_RESOURCES:
        raise CloudError("InvalidParameterValue",
                         "At most %d resources per request" % (MAX_RESOURCES,))
    return resourceIds


def _tags(p, valueDefault):
    """``[(key, value)]`` from ``Tag.N.Key`` / ``Tag.N.Value``."""
    indexes = sorted({int(name.split(".")[1]) for name in p
                      if name.startswith("Tag.") and name.count(".") == 2
                      and name.split(".")[1].isdigit()})
    if len(indexes) > MAX_TAGS:
        raise CloudError("InvalidParameterValue",
                         "At most %d tags per request" % (MAX_TAGS,))
    tags = []
    for n in indexes:
        key = p.get("Tag.%d.Key" % (n,))
        if key is None:
            raise CloudError("MissingParameter", "Tag.%d.Key is missing" % (n,))
        tags.append((key, p.get("Tag.%d.Value" % (n,), valueDefault)))
    return tags


@defer.inlineCallbacks
def createTags(call):
    resourceIds = _resourceIds(call.params)
    tags = _tags(call.params, "")
    if not tags:
        raise CloudError("MissingParameter", "The request must contain the parameter Tag")
    yield call.cloud.db.run(tagstore.createTags, call.caller.name, call.caller.isAdmin,
                            resourceIds, tags)
    return {"return": True}


@defer.inlineCallbacks
def deleteTags(call):
    resourceIds = _resourceIds(call.params)
    # A key without a value deletes the tag whatever its value.
    tags = _tags(call.params, None)
    yield call.cloud.db.run(tagstore.deleteTags, call.caller.name, call.caller.isAdmin,
                            resourceIds, tags)
    return {"return": True}


def filterFields(tag):
    return {"key": tag["key"], "value": tag["value"],
            "resource-id": tag["resourceId"], "resource-type": tag["resourceType"]}


@defer.inlineCallbacks
def describeTags(call):
    filterList = filters.parse(call.params, TAG_FILTERS, tagged=False)
    tags = yield call.cloud.db.run(tagstore.listTags, call.caller.name)
    return {"tagSet": [{"resourceId": tag["resourceId"],
                        "resourceType": tag["resourceType"],
                        "key": tag["key"], "value": tag["value"]}
                       for tag in tags if filters.matches(filterList, filterFields(tag))]}
