"""The CLC's store-backed tests again, on PostgreSQL.

The EC2 operations (instances, images, zones), the launcher and
termination, and the poller read and write the database through
``eucad.clc.instancestore``, ``imagestore``, ``vmtypes`` and
``eucad.common.accounts``; here each of those test classes runs once more
with its database on the test run's private PostgreSQL server
(``tests.dbengines``).  The SQLite runs are the classes themselves.
"""

from tests.clc import test_api, test_launcher, test_poller
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
                   test_poller.PollerTests, test_poller.StartupTests):
    globals()[_testClass.__name__ + "PostgreSQL"] = _onPostgreSQL(_testClass)
