"""Storage shared by the server and the desk: the database and the blob
store. Everything it is given is already ciphertext; it never decrypts.
"""

from . import _schema as schema
from ._blobs import BlobRef, BlobStore
from ._database import create_db_engine, migrate, session_factory
from .errors import BlobNotFoundError, StorageFullError, StoreError

__all__ = [
    "BlobNotFoundError",
    "BlobRef",
    "BlobStore",
    "StorageFullError",
    "StoreError",
    "create_db_engine",
    "migrate",
    "schema",
    "session_factory",
]
