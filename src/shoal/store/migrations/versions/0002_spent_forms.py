"""spent forms: contacts' forms already acted on (double submits)"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spent_forms",
        sa.Column("id_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    with op.batch_alter_table("spent_forms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spent_forms_day"), ["day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("spent_forms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spent_forms_day"))
    op.drop_table("spent_forms")
