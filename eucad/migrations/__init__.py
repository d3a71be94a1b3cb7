"""The database schema's history, as Alembic revisions.

``eucad.common.schema.upgrade`` brings a database to the newest revision
when a daemon or ``euca_conf`` opens it; ``env.py`` is Alembic's entry point
and ``versions/`` holds one module per change of the models.  A change of
any table in ``Base.metadata`` needs a revision here:
``tests/common/test_schema.py`` fails until the revisions yield exactly the
models' schema.  Make one with::

    python -m eucad.common.schema revision "what changed"
"""
