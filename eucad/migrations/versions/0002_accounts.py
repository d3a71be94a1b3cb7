"""Accounts: 12-digit account numbers, e-mail addresses, issued certificates.

Users that exist already get a fresh, unique account number each.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _numbers(count):
    found = set()
    while len(found) < count:
        number = "%012d" % (secrets.randbelow(10 ** 12),)
        if number[0] != "0":
            found.add(number)
    return list(found)


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("accountNumber", sa.String(12), nullable=True))
        batch.add_column(sa.Column("email", sa.String(255), nullable=True))
    bind = op.get_bind()
    users = sa.table("users", sa.column("name", sa.String),
                     sa.column("accountNumber", sa.String))
    names = [row[0] for row in bind.execute(sa.select(users.c.name))]
    for name, number in zip(names, _numbers(len(names))):
        bind.execute(users.update().where(users.c.name == name)
                     .values(accountNumber=number))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("accountNumber", existing_type=sa.String(12),
                           nullable=False)
        batch.create_index("ix_users_accountNumber", ["accountNumber"], unique=True)
    op.create_table(
        "user_certificates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("issued", sa.Float(), nullable=False),
        sa.Column("revoked", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["user"], ["users.name"], ondelete="CASCADE"),
        sa.UniqueConstraint("serial"),
    )
    op.create_index("ix_user_certificates_user", "user_certificates", ["user"])


def downgrade():
    op.drop_table("user_certificates")
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_accountNumber")
        batch.drop_column("email")
        batch.drop_column("accountNumber")
