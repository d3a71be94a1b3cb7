"""The image bundle format of euca2ools and ec2-ami-tools.

An image is put in a tar stream (one regular member), gzipped, encrypted
with AES-128-CBC and split into parts listed, with their SHA1, in a signed
``<name>.manifest.xml``.  ``manifest`` reads and writes the manifest,
``crypto`` holds the RSA and AES pieces, ``writer`` makes bundles (the
``eucad-image`` tool) and ``reader`` decrypts them as one stream (Walrus's
image cache).
"""
