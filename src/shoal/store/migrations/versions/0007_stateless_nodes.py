"""many server processes: upload pieces in the blob store, global quotas,
and the PostgreSQL blob store's tables"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_pieces",
        sa.Column("upload_id", sa.String(length=32), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["upload_id"], ["uploads.id"]),
        sa.PrimaryKeyConstraint("upload_id", "offset"),
    )
    with op.batch_alter_table("upload_pieces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_upload_pieces_blob_id"), ["blob_id"], unique=False)
    op.create_table(
        "quotas",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # What unfinished uploads hold already counts against the new quota.
    op.execute(
        "INSERT INTO quotas (name, used) SELECT 'upload_bytes', COALESCE(SUM(size), 0) "
        "FROM uploads WHERE item_id IS NULL"
    )
    op.create_table(
        "blob_objects",
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("storage_id", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("blob_id"),
        sa.UniqueConstraint("storage_id"),
    )
    op.create_table(
        "blob_chunks",
        sa.Column("storage_id", sa.String(length=32), nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("storage_id", "idx"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Ciphertext does not compress: store chunks out of line, uncompressed.
        op.execute("ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL")
    op.create_table(
        "blob_writes",
        sa.Column("storage_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("storage_id"),
    )
    with op.batch_alter_table("blob_writes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blob_writes_day"), ["day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("blob_writes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blob_writes_day"))
    op.drop_table("blob_writes")
    op.drop_table("blob_chunks")
    op.drop_table("blob_objects")
    op.drop_table("quotas")
    with op.batch_alter_table("upload_pieces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upload_pieces_blob_id"))
    op.drop_table("upload_pieces")
