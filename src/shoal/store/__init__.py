"""Storage shared by the server and the desk: the database and the blob
store. Everything it is given is already ciphertext; it never decrypts.
"""

from . import _schema as schema
from ._blobs import BlobRef, BlobStore
from ._database import (
    create_db_engine,
    current_revision,
    head_revision,
    migrate,
    require_newest_schema,
    session_factory,
)
from ._durable import PendingFile, fsync_dir
from .errors import BlobNotFoundError, SchemaOutdatedError, StorageFullError, StoreError

__all__ = [
    "BlobNotFoundError",
    "BlobRef",
    "BlobStore",
    "PendingFile",
    "SchemaOutdatedError",
    "StorageFullError",
    "StoreError",
    "create_db_engine",
    "current_revision",
    "fsync_dir",
    "head_revision",
    "migrate",
    "require_newest_schema",
    "schema",
    "session_factory",
]
