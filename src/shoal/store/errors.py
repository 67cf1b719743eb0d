"""Errors raised by :mod:`shoal.store`.

::

    StoreError              root
    ├── BlobNotFoundError   no blob with that id (deleted, or never stored)
    ├── StorageFullError    the disk is full: the new object was refused and
    │                       removed; everything stored before is whole
    └── SchemaOutdatedError the database is not at the newest migration
                            (``shoal admin migrate``)
"""


class StoreError(Exception):
    """Root of every error raised by shoal.store."""


class BlobNotFoundError(StoreError):
    """No blob has that id."""


class StorageFullError(StoreError):
    """The disk filled up while writing; the object was not stored."""


class SchemaOutdatedError(StoreError):
    """The database's schema is older (or newer) than this version's."""
