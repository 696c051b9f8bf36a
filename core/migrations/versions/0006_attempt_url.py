"""Attempts record the URL they were sent to, which outlives a change of the endpoint's URL
and the endpoint itself.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 15:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place on SQLite too, as a nullable column: attempts made before it have no URL.
    op.add_column("attempt", sa.Column("url", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    op.drop_column("attempt", "url")
