"""Attempts indexed by account and start time, for the endpoints' 24-hour success rate.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 14:21:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_attempt_account_id_started_at", "attempt", ["account_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_attempt_account_id_started_at", table_name="attempt")
