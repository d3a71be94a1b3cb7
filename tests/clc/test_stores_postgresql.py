"""The CLC's store-backed tests again, on PostgreSQL.

The EC2 operations (instances, images, zones, key pairs, groups,
addresses, tags, reboot and console, and the isolation matrix between
users), the launcher and termination, and the poller read and write the database through
``eucad.clc.instancestore``, ``imagestore``, ``keypairstore``,
``groupstore``, ``addressstore``, ``tagstore``, ``vmtypes`` and
``eucad.common.accounts``; here each of those test classes runs once more
with its database on the test run's private PostgreSQL server
(``tests.dbengines``).  The SQLite runs are the classes themselves.
"""

from tests.clc import (test_addresses, test_api, test_groups, test_isolation,
                       test_keypairs, test_launcher, test_poller, test_rebootconsole,
                       test_tags)
from tests.dbengines import POSTGRESQL, EngineTests


def _onPostgreSQL(testClass):
    name = testClass.__name__ + "PostgreSQL"
    return type(name, (EngineTests, testClass), {
        "engine": POSTGRESQL, "__module__": __name__,
        "__doc__": "%s, on PostgreSQL." % (testClass.__name__,)})


for _testClass in (test_api.ErrorTests, test_api.RunInstancesTests,
                   test_api.DescribeInstancesTests, test_api.TerminateInstancesTests,
                   test_api.ZonesAndRegionsTests, test_api.DescribeImagesTests,
                   test_launcher.LauncherTests, test_launcher.TerminationTests,
                   test_poller.PollerTests, test_poller.StartupTests,
                   test_isolation.IsolationTests, test_keypairs.KeyPairTests,
                   test_groups.GroupTests, test_addresses.AddressTests,
                   test_tags.TagTests, test_tags.InstanceFilterTests,
                   test_tags.ClientTokenTests, test_rebootconsole.RebootInstancesTests,
                   test_rebootconsole.GetConsoleOutputTests):
    globals()[_testClass.__name__ + "PostgreSQL"] = _onPostgreSQL(_testClass)
