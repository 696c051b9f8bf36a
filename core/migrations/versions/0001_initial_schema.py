"""The schema as the service first shipped it: accounts, keys, endpoints, events,
deliveries and attempts.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 13:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AutoString = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("id", AutoString(length=40), nullable=False),
        sa.Column("name", AutoString(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "api_key",
        sa.Column("id", AutoString(length=40), nullable=False),
        sa.Column("account_id", AutoString(length=40), nullable=False),
        sa.Column("key_hash", AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index("ix_api_key_account_id", "api_key", ["account_id"])
    op.create_table(
        "endpoint",
        sa.Column("id", AutoString(length=40), nullable=False),
        sa.Column("account_id", AutoString(length=40), nullable=False),
        sa.Column("url", AutoString(length=2048), nullable=False),
        sa.Column("description", AutoString(length=1000), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("retry_policy", AutoString(length=100), nullable=True),
        sa.Column("secret", AutoString(length=100), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("disabled_reason", AutoString(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_endpoint_account_id", "endpoint", ["account_id"])
    op.create_table(
        "event",
        sa.Column("id", AutoString(length=40), nullable=False),
        sa.Column("account_id", AutoString(length=40), nullable=False),
        sa.Column("type", AutoString(length=100), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", AutoString(length=255), nullable=True),
        sa.Column("workflow_started", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "idempotency_key", name="uq_event_idempotency_key"),
    )
    op.create_index("ix_event_account_id_id", "event", ["account_id", "id"])
    op.create_index("ix_event_account_id_type_id", "event", ["account_id", "type", "id"])
    op.create_table(
        "delivery",
        sa.Column("id", AutoString(length=40), nullable=False),
        sa.Column("event_id", AutoString(length=40), nullable=False),
        sa.Column("endpoint_id", AutoString(length=40), nullable=False),
        sa.Column("account_id", AutoString(length=40), nullable=False),
        sa.Column("retry_policy", AutoString(length=100), nullable=False),
        sa.Column("status", AutoString(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", AutoString(length=1000), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "endpoint_id", name="uq_delivery_event_endpoint"),
    )
    op.create_index("ix_delivery_endpoint_id_event_id", "delivery", ["endpoint_id", "event_id"])
    op.create_index("ix_delivery_account_id_status", "delivery", ["account_id", "status"])
    op.create_table(
        "attempt",
        sa.Column("id", AutoString(length=40), nullable=False),
        sa.Column("delivery_id", AutoString(length=40), nullable=False),
        sa.Column("event_id", AutoString(length=40), nullable=False),
        sa.Column("endpoint_id", AutoString(length=40), nullable=False),
        sa.Column("account_id", AutoString(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", AutoString(length=20), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", AutoString(length=1024), nullable=True),
        sa.Column("error", AutoString(length=1000), nullable=True),
        sa.Column("scheduled_at", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_attempt_event_id_id", "attempt", ["event_id", "id"])
    op.create_index("ix_attempt_endpoint_id_id", "attempt", ["endpoint_id", "id"])


def downgrade() -> None:
    # Dropping a table drops its indexes with it.
    for table in ("attempt", "delivery", "event", "endpoint", "api_key", "account"):
        op.drop_table(table)
