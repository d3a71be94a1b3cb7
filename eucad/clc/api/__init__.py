"""The EC2 Query API of the cloud controller.

``resource`` speaks HTTP, ``auth`` checks signatures, ``dispatch`` maps
``Action`` to one function in one module per API area (``instances``,
``zones``, ``images``), and ``render`` makes every XML answer, errors
included.  Operations return plain data shaped like the XML they answer.
"""
