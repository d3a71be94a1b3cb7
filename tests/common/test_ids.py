"""The shared shapes of instance, reservation and image ids and of owner names."""

from twisted.trial import unittest

from eucad.clc import ids as clcIds
from eucad.common import ids


class IdTests(unittest.TestCase):

    def test_instanceIds(self):
        """Instance ids are i- and 8 lowercase hex digits, nothing longer, shorter or trailing."""
        self.assertTrue(ids.isInstanceId("i-0000beef"))
        for bad in ["i-1", "i-0000BEEF", "i-0000beef0", "i-0000beef00000000a", "i-0000beef\n",
                    "r-0000beef", "../../etc", "", None, 5]:
            self.assertFalse(ids.isInstanceId(bad), repr(bad))

    def test_reservationIds(self):
        """Reservation ids are r- and 8 lowercase hex digits."""
        self.assertTrue(ids.isReservationId("r-00abc000"))
        for bad in ["r-00abc0001234567ab", "i-00abc000", "r-00ABC000", None]:
            self.assertFalse(ids.isReservationId(bad), repr(bad))

    def test_imageIds(self):
        """Image ids are emi-, eki- or eri- and 8 lowercase hex digits."""
        for good in ["emi-00000001", "eki-0000bbbb", "eri-0000cccc"]:
            self.assertTrue(ids.isImageId(good), good)
        for bad in ["ami-00000001", "emi-1", "emi-0000FFFF", "emi-00000001\n", None]:
            self.assertFalse(ids.isImageId(bad), repr(bad))

    def test_clcIdsAreAccepted(self):
        """Every kind of id the CLC generates passes the shared checks."""
        for _ in range(20):
            self.assertTrue(ids.isInstanceId(clcIds.randomId(clcIds.INSTANCE)))
            self.assertTrue(ids.isReservationId(clcIds.randomId(clcIds.RESERVATION)))
            for prefix in clcIds.IMAGE_KIND_BY_PREFIX:
                self.assertTrue(ids.isImageId(clcIds.randomId(prefix)))


class OwnerTests(unittest.TestCase):

    def test_userNames(self):
        """User names of 1 to 64 letters, digits and _ . @ - are owners."""
        for good in ["admin", "alice", "a", "x" * 64, "bob.smith@example.com", "_svc-1",
                     "-dash", ".hidden"]:
            self.assertTrue(ids.isOwner(good), good)

    def test_unsafeNames(self):
        """Names that are empty, too long, dots alone, or carry other characters are refused."""
        for bad in ["", "x" * 65, ".", "..", "...", "a/b", "a:b", "a b", "a+b", "alice\n",
                    "\u00e9", None, 5]:
            self.assertFalse(ids.isOwner(bad), repr(bad))
