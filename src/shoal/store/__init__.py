"""Storage shared by the server and the desk: the blob store (and, next, the
database). Everything it is given is already ciphertext; it never decrypts.
"""

from ._blobs import BlobRef, BlobStore
from .errors import BlobNotFoundError, StorageFullError, StoreError

__all__ = ["BlobNotFoundError", "BlobRef", "BlobStore", "StorageFullError", "StoreError"]
