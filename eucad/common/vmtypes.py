"""The VM types of a fresh install (DESIGN.md, as in the Eucalyptus 1.4 guide).

The CLC stores them in its database, where the admin may edit them; the CC
starts from them and learns the CLC's definitions from every run spec.
"""

#: name, cpu, ram MiB, disk GiB.
DEFAULT_VMTYPES = (
    {"name": "m1.small", "cpu": 1, "ram": 128, "disk": 10},
    {"name": "c1.medium", "cpu": 1, "ram": 256, "disk": 10},
    {"name": "m1.large", "cpu": 2, "ram": 512, "disk": 10},
    {"name": "m1.xlarge", "cpu": 2, "ram": 1024, "disk": 20},
    {"name": "c1.xlarge", "cpu": 4, "ram": 2048, "disk": 20},
)
