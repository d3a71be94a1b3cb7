"""Walrus's store tests again, with the database on PostgreSQL.

Buckets, listings, objects, digests, ranges, copies, multipart uploads,
ACLs, tags, CORS rules, policies, object versions and lifecycle rules are
rows in the shared database; each of those test classes runs once
more on the test run's private PostgreSQL server (``tests.dbengines``).
The SQLite runs are the classes themselves.
"""

from tests.dbengines import POSTGRESQL, EngineTests
from tests.walrus import (test_acl, test_buckets, test_cors, test_existingtags, test_lifecycle,
                          test_lifecycletags, test_multipart, test_objects, test_policy,
                          test_tagging, test_versionanswers, test_versioning, test_versiontags)


def _onPostgreSQL(testClass):
    name = testClass.__name__ + "PostgreSQL"
    return type(name, (EngineTests, testClass), {
        "engine": POSTGRESQL, "__module__": __name__,
        "__doc__": "%s, on PostgreSQL." % (testClass.__name__,)})


for _testClass in (test_buckets.BucketTests, test_buckets.ListingTests,
                   test_buckets.ListSortedTests, test_objects.PutGetTests,
                   test_objects.DigestTests, test_objects.RangeAndConditionTests,
                   test_objects.CopyTests, test_multipart.MultipartTests,
                   test_acl.AclTests, test_acl.CannedAclTests, test_tagging.TaggingTests,
                   test_cors.CorsConfigurationTests, test_policy.BucketPolicyTests,
                   test_versioning.VersioningTests, test_lifecycle.LifecycleConfigurationTests,
                   test_lifecycle.ExpirationTests, test_versiontags.VersionTaggingTests,
                   test_lifecycletags.TagFilterExpirationTests,
                   test_existingtags.ExistingObjectTagTests,
                   test_existingtags.TaggingRequestTagTests,
                   test_versionanswers.RetriedCompletionVersionTests):
    globals()[_testClass.__name__ + "PostgreSQL"] = _onPostgreSQL(_testClass)
