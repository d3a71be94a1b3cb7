"""Reading EC2 Query parameters: Filter.N read in one pass, and capped."""

from twisted.trial import unittest

from eucad.clc.api import params
from eucad.common.errors import CloudError
from eucad.testing.fakecluster import FakeCluster

from tests.clc import helpers


class CountingParams(dict):
    """Request parameters that count how often they are read whole."""

    passes = 0

    def items(self):
        self.passes += 1
        return super().items()


class FilterParsingTests(unittest.TestCase):

    def filters(self, values, known=("a", "b", "c")):
        return params.filters(CountingParams(values), known)

    def assertCode(self, code, values):
        error = self.assertRaises(CloudError, self.filters, values)
        self.assertEqual(error.code, code)
        return error

    def test_orderAndValues(self):
        """Filters come in N order with their values in M order; gaps are fine."""
        self.assertEqual(self.filters({
            "Filter.10.Name": "b", "Filter.10.Value.2": "y", "Filter.10.Value.1": "x",
            "Filter.2.Name": "a", "Filter.2.Value.7": "z", "InstanceId.1": "i-1"}),
            [("a", ["z"]), ("b", ["x", "y"])])

    def test_onePass(self):
        """However many filters, the parameters are read once."""
        values = CountingParams({"Filter.%d.Name" % i: "a" for i in range(1, 51)})
        values.update({"Filter.%d.Value.1" % i: "v" for i in range(1, 51)})
        self.assertEqual(len(params.filters(values, ("a",))), 50)
        self.assertEqual(values.passes, 1)

    def test_tooManyFilters(self):
        """More than MAX_FILTERS filters is FilterLimitExceeded."""
        self.assertCode("FilterLimitExceeded", {
            "Filter.%d.Name" % i: "a" for i in range(1, params.MAX_FILTERS + 2)})

    def test_tooManyValuesInOneFilter(self):
        """More than MAX_VALUES_PER_FILTER values in a filter is FilterLimitExceeded."""
        values = {"Filter.1.Name": "a"}
        values.update({"Filter.1.Value.%d" % i: "v"
                       for i in range(1, params.MAX_VALUES_PER_FILTER + 2)})
        self.assertCode("FilterLimitExceeded", values)

    def test_tooManyValuesInAll(self):
        """More than MAX_FILTER_VALUES values over all filters is FilterLimitExceeded."""
        values = {}
        for f in range(1, params.MAX_FILTERS + 1):
            values["Filter.%d.Name" % f] = "a"
            for v in range(1, params.MAX_FILTER_VALUES // params.MAX_FILTERS + 2):
                values["Filter.%d.Value.%d" % (f, v)] = "v"
        self.assertCode("FilterLimitExceeded", values)

    def test_malformed(self):
        """A Filter parameter of another shape, or values without a name, are refused."""
        self.assertCode("InvalidParameterValue", {"Filter.1.Name": "a", "Filter.1.Vale.1": "x"})
        self.assertCode("InvalidParameterValue", {"Filter.1.Value.1": "x"})
        self.assertCode("InvalidParameterValue", {"Filter.1.Name": "nope"})


class FilterRequestTests(unittest.TestCase):

    def test_thousandsOfFiltersRefused(self):
        """A signed DescribeInstances with 5,000 filters gets FilterLimitExceeded as EC2 XML."""
        cloud = helpers.makeCloud(self, {"zone1": FakeCluster()})
        ec2 = helpers.StubEc2(self, cloud, helpers.addUser(cloud.db, "alice"))
        many = {}
        for i in range(1, 5001):
            many["Filter.%d.Name" % i] = "instance-state-name"
            many["Filter.%d.Value.1" % i] = "running"
        status, code, message = ec2.error("DescribeInstances", **many)
        self.assertEqual((status, code), (400, "FilterLimitExceeded"))
        self.assertIn("50", message)
