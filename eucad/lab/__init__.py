"""The lab: the test guest image and a multi-host cloud on one machine in network
namespaces (front end, switch, nodes with their own libvirtd, a public net),
and the all-in-one cloud that ``make run`` and the end-to-end tests start."""
