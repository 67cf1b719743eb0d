"""handler sync: how far each handler's desk has synced (for retention)"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handler_sync",
        sa.Column("handler_id", sa.String(length=32), nullable=False),
        sa.Column("compartment_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["compartment_id"], ["compartments.id"]),
        sa.PrimaryKeyConstraint("handler_id", "compartment_id"),
    )


def downgrade() -> None:
    op.drop_table("handler_sync")
