"""forwarded items: ``items.direction`` holds "forwarded" (9 characters)"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite does not enforce a VARCHAR's length, and changing a column's
    # type there rebuilds the table, which would drop the items' AUTOINCREMENT
    # high-water mark: a seq could be given twice, and desks page by seq. So
    # only databases that enforce the length (PostgreSQL) are altered.
    if op.get_bind().dialect.name == "sqlite":
        return
    op.alter_column(
        "items",
        "direction",
        existing_type=sa.String(length=3),
        type_=sa.String(length=16),
        existing_nullable=False,
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    # With forwarded items stored, PostgreSQL refuses (value too long):
    # nothing is deleted to make a downgrade pass.
    op.alter_column(
        "items",
        "direction",
        existing_type=sa.String(length=16),
        type_=sa.String(length=3),
        existing_nullable=False,
    )
