"""eucad: a private cloud, EC2- and S3-compatible, on Twisted."""
