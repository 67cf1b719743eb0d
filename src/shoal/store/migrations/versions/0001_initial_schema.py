"""initial schema"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "compartments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("door", sa.String(length=63), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("door"),
    )
    op.create_table(
        "handler_challenges",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.LargeBinary(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("handler_challenges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handler_challenges_day"), ["day"], unique=False)

    op.create_table(
        "notes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("compartment_id", sa.String(length=32), nullable=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_day"), ["day"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("lookup_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("compartment_id", sa.String(length=32), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["compartment_id"],
            ["compartments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lookup_id"),
    )
    op.create_table(
        "handler_tokens",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("handler_id", sa.String(length=32), nullable=False),
        sa.Column("compartment_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["compartment_id"],
            ["compartments.id"],
        ),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("handler_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handler_tokens_day"), ["day"], unique=False)

    op.create_table(
        "items",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("compartment_id", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.String(length=32), nullable=True),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["compartment_id"],
            ["compartments.id"],
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_items_compartment_id"), ["compartment_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_items_contact_id"), ["contact_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_items_contact_id"))
        batch_op.drop_index(batch_op.f("ix_items_compartment_id"))

    op.drop_table("items")
    with op.batch_alter_table("handler_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handler_tokens_day"))

    op.drop_table("handler_tokens")
    op.drop_table("contacts")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_day"))

    op.drop_table("sessions")
    op.drop_table("notes")
    with op.batch_alter_table("handler_challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handler_challenges_day"))

    op.drop_table("handler_challenges")
    op.drop_table("compartments")
