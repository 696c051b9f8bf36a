"""Events record whether their workflow has found the endpoints they go to, so that an
event waiting for a worker is not shown as one that nobody subscribed to.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Not in a batch: SQLite adds a column with a default in place, where a batch would copy
    # the table, which the deliveries' foreign keys refuse.
    op.add_column(
        "event",
        sa.Column("endpoints_resolved", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # Events stored before this revision had their endpoints found as they were delivered.
    op.execute(sa.text("UPDATE event SET endpoints_resolved = :found").bindparams(found=True))


def downgrade() -> None:
    # SQLite (3.35 and later) drops a column in place, as PostgreSQL does.
    op.drop_column("event", "endpoints_resolved")
