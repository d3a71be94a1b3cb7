"""Every module that declares a CLC table, imported in one place.

``Database.open`` creates the tables declared on ``Base`` so far; importing
this module (``eucad.clc.cloud`` does) makes sure that every CLC table is
among them, whichever API modules happened to be imported first.
"""

from eucad.clc import (addressstore, clienttokens, groupstore, keypairstore,  # noqa: F401
                       models, tagstore, vmtypes)
