"""DescribeInstanceTypes: the VM types (``eucad.clc.vmtypes``) users launch.

Two readers ask for it: apache-libcloud's Eucalyptus driver (``list_sizes``)
reads Eucalyptus 3's ``instanceTypeDetails`` items (``name``, ``cpu``,
``memory``, ``disk``), and boto3/awscli read EC2's ``instanceTypeSet``.  Both
lists are in the answer; each client reads its own.
"""

from twisted.internet import defer

from eucad.clc.api import filters, params
from eucad.clc.vmtypes import listVmTypes
from eucad.common.errors import CloudError

TYPE_FILTERS = ("instance-type", "vcpu-info.default-vcpus", "memory-info.size-in-mib",
                "instance-storage-info.total-size-in-gb")


def eucalyptusItem(vmtype):
    return {"name": vmtype["name"], "cpu": vmtype["cpu"], "disk": vmtype["disk"],
            "memory": vmtype["ram"]}


def ec2Item(vmtype):
    return {
        "instanceType": vmtype["name"], "currentGeneration": True,
        "supportedUsageClasses": ["on-demand"],
        "supportedRootDeviceTypes": ["instance-store"],
        "supportedVirtualizationTypes": ["paravirtual", "hvm"],
        "processorInfo": {"supportedArchitectures": ["x86_64"]},
        "vCpuInfo": {"defaultVCpus": vmtype["cpu"]},
        "memoryInfo": {"sizeInMiB": vmtype["ram"]},
        "instanceStorageSupported": True,
        "instanceStorageInfo": {"totalSizeInGB": vmtype["disk"]},
    }


def filterFields(vmtype):
    return {"instance-type": vmtype["name"], "vcpu-info.default-vcpus": vmtype["cpu"],
            "memory-info.size-in-mib": vmtype["ram"],
            "instance-storage-info.total-size-in-gb": vmtype["disk"]}


@defer.inlineCallbacks
def describeInstanceTypes(call):
    names = params.listOf(call.params, "InstanceType")
    filterList = filters.parse(call.params, TYPE_FILTERS, tagged=False)
    vmtypes = yield call.cloud.db.run(listVmTypes)
    unknown = [name for name in names if name not in {v["name"] for v in vmtypes}]
    if unknown:
        raise CloudError("InvalidInstanceType",
                         "The instance type '%s' does not exist" % (unknown[0],))
    chosen = [v for v in vmtypes if (not names or v["name"] in names)
              and filters.matches(filterList, filterFields(v))]
    return {"instanceTypeDetails": [eucalyptusItem(v) for v in chosen],
            "instanceTypeSet": [ec2Item(v) for v in chosen]}
