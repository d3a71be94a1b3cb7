"""Alembic's entry point: run the revisions on the connection we are handed.

``eucad.common.schema`` always passes an open connection in
``config.attributes["connection"]``; there is no ``alembic.ini`` and no
offline (SQL script) mode.
"""

from alembic import context

from eucad.common.schema import modelMetadata

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=modelMetadata(),
    # SQLite cannot ALTER most things: batch mode recreates the table.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
