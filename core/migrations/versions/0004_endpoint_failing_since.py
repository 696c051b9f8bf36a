"""Endpoints record since when they have been failing, to disable one down too long.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 15:23:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("endpoint") as batch_op:
        batch_op.add_column(sa.Column("failing_since", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("endpoint") as batch_op:
        batch_op.drop_column("failing_since")
