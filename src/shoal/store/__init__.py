"""Storage shared by the server and the desk: the database and the blob
store. Everything it is given is already ciphertext; it never decrypts.
"""

from . import _schema as schema
from ._blobs import BlobRef, BlobStore, OpenBlob
from ._database import (
    create_db_engine,
    current_revision,
    head_revision,
    migrate,
    require_newest_schema,
    session_factory,
)
from ._database_blobs import DatabaseBlobStore
from ._file_blobs import FileBlobStore
from ._s3_blobs import S3BlobStore
from .errors import BlobNotFoundError, SchemaOutdatedError, StorageFullError, StoreError

__all__ = [
    "BlobNotFoundError",
    "BlobRef",
    "BlobStore",
    "DatabaseBlobStore",
    "FileBlobStore",
    "OpenBlob",
    "S3BlobStore",
    "SchemaOutdatedError",
    "StorageFullError",
    "StoreError",
    "create_db_engine",
    "current_revision",
    "head_revision",
    "migrate",
    "require_newest_schema",
    "schema",
    "session_factory",
]
