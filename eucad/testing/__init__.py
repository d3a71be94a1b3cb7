"""In-memory stand-ins for the tiers, used by tests and by the lab's dry runs.

Each fake provides the same ``zope.interface`` as the real component and its
docstrings state the behaviour every real implementation must share; a
conformance test holds fakes, real components and PB facades to the same
signatures.
"""
