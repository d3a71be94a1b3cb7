"""twistd plugins: one ServiceMaker per eucad daemon; the work is in eucad/<tier>/tap.py."""
from twisted.application.service import ServiceMaker

clc = ServiceMaker("eucad cloud controller", "eucad.frontend.tap",
                   "EC2 Query API, users, images, scheduling", "eucalyptus-clc")
walrus = ServiceMaker("eucad Walrus", "eucad.walrus.tap",
                      "S3-compatible storage and image bundles", "eucalyptus-walrus")
cc = ServiceMaker("eucad cluster controller", "eucad.cc.tap",
                  "nodes, placement and the VM network of one cluster", "eucalyptus-cc")
nc = ServiceMaker("eucad node controller", "eucad.nc.tap",
                  "runs instances on this host through libvirt", "eucalyptus-nc")
