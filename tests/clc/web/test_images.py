"""The images tab: who sees which image, and the admin's buttons."""

import time

from twisted.trial import unittest

from eucad.clc import imagestore
from eucad.clc.models import Image
from eucad.clc.web import images
from eucad.clc.web.store import LoggedIn, WebError
from eucad.common.db import Database
from tests.dbengines import newDatabaseUrl


def image(imageId, owner, isPublic, kind="machine"):
    return Image(id=imageId, kind=kind, location="b/%s.manifest.xml" % (imageId,),
                 owner=owner, isPublic=isPublic, state="available",
                 architecture="x86_64", registered=time.time())


class ImagesTabTests(unittest.TestCase):
    def setUp(self):
        self.db = Database(newDatabaseUrl(self, "sqlite"))
        self.addCleanup(lambda: self.db.engine.dispose())
        self.db.transact(lambda s: s.add_all([
            image("emi-00000001", "alice", False), image("emi-00000002", "bob", False),
            image("eki-00000003", "admin", True, kind="kernel")]))

    def ids(self, login):
        return [row["id"] for row in self.db.transact(images.listImages, login)]

    def test_whoSeesWhat(self):
        """A user sees their own and the public images; the admin sees every image."""
        self.assertEqual(self.ids(LoggedIn("alice", False, False)),
                         ["eki-00000003", "emi-00000001"])
        self.assertEqual(self.ids(LoggedIn("admin", True, False)),
                         ["eki-00000003", "emi-00000001", "emi-00000002"])
        [row] = [r for r in self.db.transact(images.listImages, LoggedIn("admin", True, False))
                 if r["id"] == "eki-00000003"]
        self.assertEqual((row["owner"], row["kind"], row["state"]),
                         ("admin", "kernel", "available"))

    def test_disabledImagesAreNotDescribed(self):
        """Disabling takes an image out of DescribeImages; enabling brings it back; delete removes it."""
        described = lambda: [i["id"] for i in self.db.transact(
            imagestore.listImages, "alice", False)]
        self.assertIn("emi-00000001", described())
        self.db.transact(images.changeImage, "emi-00000001", "disable")
        self.assertNotIn("emi-00000001", described())
        self.db.transact(images.changeImage, "emi-00000001", "enable")
        self.assertIn("emi-00000001", described())
        self.db.transact(images.changeImage, "emi-00000001", "delete")
        self.assertEqual(self.ids(LoggedIn("admin", True, False)),
                         ["eki-00000003", "emi-00000002"])
        self.assertRaises(WebError, self.db.transact, images.changeImage, "emi-00000001",
                          "enable")
        self.assertRaises(WebError, self.db.transact, images.changeImage, "emi-00000002",
                          "explode")
