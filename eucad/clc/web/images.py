"""What the images tab shows and the admin's image buttons do.

Users see the images DescribeImages would show them (``imagestore.canSee``)
in any state; the admin sees all.  A
disabled image (state ``disabled``) is neither listed by DescribeImages nor
launchable (both want ``available``); deleting removes its registration
(the bundle in Walrus stays).
"""

from sqlalchemy import select

from eucad.clc.imagestore import AVAILABLE, DISABLED, canSee
from eucad.clc.models import Image
from eucad.clc.web.store import WebError

def listImages(session, login):
    """The rows of the images tab for ``login``."""
    return [{"id": i.id, "name": i.name or "", "owner": i.owner, "kind": i.kind,
             "state": i.state, "location": i.location, "isPublic": bool(i.isPublic)}
            for i in session.scalars(select(Image).order_by(Image.id))
            if canSee(session, i, login.name, login.isAdmin)]


#: What the admin's image buttons set ``state`` to ("delete" deregisters).
_IMAGE_STATES = {"enable": AVAILABLE, "disable": DISABLED}


def changeImage(session, imageId, action):
    """Enable, disable or delete an image; the sentence to show."""
    image = session.get(Image, imageId or "")
    if image is None:
        raise WebError("There is no image %s." % (imageId,))
    if action == "delete":
        session.delete(image)
        return "%s deleted." % (imageId,)
    if action not in _IMAGE_STATES:
        raise WebError("Unknown action.")
    image.state = _IMAGE_STATES[action]
    return "%s %sd." % (imageId, action)
