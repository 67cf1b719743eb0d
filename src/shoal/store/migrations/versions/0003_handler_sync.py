"""handler sync (how far each desk has synced, for retention); item epochs"""

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
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("epoch", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    # In place, not in batch mode: on SQLite a batch drop rebuilds the table
    # without AUTOINCREMENT and forgets the items' seq high-water mark, so a
    # seq could be given twice (desks page by seq). SQLite drops a column in
    # place since 3.35.
    op.drop_column("items", "epoch")
    op.drop_table("handler_sync")
