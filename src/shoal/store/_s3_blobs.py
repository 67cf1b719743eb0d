"""The blob store in S3-compatible object storage (boto3), for large media.

Keys: ``<prefix>blobs/<id>`` for blobs, ``<prefix>tmp/<start>-<random>``
(``<start>`` in Unix seconds) for writes in progress. A put streams its
bytes into a multipart upload to a temporary key (8 MiB parts: bounded
memory), because the blob's id — its key — is known only at the end; then
the temporary object is copied, on the server side, to the blob's key,
and deleted. A blob under 8 MiB is buffered and written to its key with
one PutObject. Any failure aborts the multipart upload and deletes the
temporary key; what a crash leaves (an open multipart upload, a temporary
key) is listed by nothing and removed by :meth:`S3BlobStore.clean_partials`.

Whether a put ``created`` the blob (see :meth:`BlobStore.discard`):

- A HEAD of the blob's key first: the same bytes stored earlier (a
  retried upload) are found on every S3-compatible store, and a large
  blob is then not copied at all.
- The write that makes the blob visible is conditional
  (``If-None-Match: *``): PutObject for a small blob, and for a large one
  the CompleteMultipartUpload of a multipart *copy* (UploadPartCopy) from
  the temporary key. AWS S3 refuses it with 412 when the key exists,
  atomically, so of two identical puts racing past the HEAD exactly one
  reports ``created=True`` (moto checks the condition too, but its
  threaded server not atomically: the tests serve one request at a
  time, see ``tests/store/_blob_backends.py``). A multipart copy rather
  than CopyObject because moto ignores ``If-None-Match`` on CopyObject, and
  because CopyObject stops at 5 GiB. AWS may instead answer 409
  (ConditionalRequestConflict) when two completions collide: that put
  fails, and its retry finds the blob.
- A store that ignores ``If-None-Match`` (some S3-compatible ones) leaves
  only the HEAD: two identical puts racing between their HEAD and their
  write both report ``created=True``, and if one then discards, the
  other's record names a deleted blob. Use a store with conditional
  writes for several nodes.

At most 10,000 parts of 8 MiB: a blob may reach about 78 GiB.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO

from ._blobs import BlobStore, PendingBlob, Rechunker, chunk_stream, is_blob_id
from .errors import BlobNotFoundError

PART_SIZE = 8 << 20
#: What a single UploadPartCopy may copy.
_COPY_PART = 5 << 30
#: Read size when streaming a GetObject body.
_READ_SIZE = 1 << 20


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _started(name: str) -> float | None:
    """When the write of temporary object ``name`` (``<seconds>-<random>``)
    started, or None for a name of another form."""
    seconds, dash, _ = name.partition("-")
    return float(seconds) if dash and seconds.isdigit() else None


def _status(exc: Any) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


class _S3Pending(PendingBlob):
    """One blob being written: buffered, then a multipart upload to a
    temporary key once it passes one part."""

    def __init__(self, store: S3BlobStore) -> None:
        super().__init__()
        self._store = store
        self._s3 = store.client
        self._parts = Rechunker(PART_SIZE)
        # The start time in the name dates the write for clean_partials.
        self._tmp_key = f"{store.prefix}tmp/{int(time.time())}-{secrets.token_hex(16)}"
        self._upload_id: str | None = None  # the multipart upload to the tmp key
        self._uploaded: list[dict[str, Any]] = []
        self._tmp_exists = False  # the upload completed: the tmp key is an object

    def _write(self, view: memoryview) -> None:
        self._parts.add(view)

    @property
    def ready(self) -> bool:
        return bool(self._parts.full)

    def _upload(self, data: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self._s3.create_multipart_upload(
                Bucket=self._store.bucket, Key=self._tmp_key
            )["UploadId"]
        number = len(self._uploaded) + 1
        answer = self._s3.upload_part(
            Bucket=self._store.bucket,
            Key=self._tmp_key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=data,
        )
        self._uploaded.append({"PartNumber": number, "ETag": answer["ETag"]})

    def flush(self) -> None:
        for part in self._parts.take_full():
            self._upload(part)

    def _commit(self, blob_id: str, size: int) -> bool:
        store, key = self._store, self._store.key_of(blob_id)
        self.flush()
        if self._upload_id is None:
            data = self._parts.take_rest()
            return store._head(key) is None and store._put_new(key, data)
        rest = self._parts.take_rest()
        if rest:
            self._upload(rest)
        self._s3.complete_multipart_upload(
            Bucket=store.bucket,
            Key=self._tmp_key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._uploaded},
        )
        self._upload_id, self._tmp_exists = None, True
        created = store._head(key) is None and store._copy_new(self._tmp_key, key, size)
        self._drop_tmp()
        return created

    def _drop_tmp(self) -> None:
        self._s3.delete_object(Bucket=self._store.bucket, Key=self._tmp_key)
        self._tmp_exists = False

    def abort(self) -> None:
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            self._store._abort_upload(self._tmp_key, upload_id)
        if self._tmp_exists:
            self._drop_tmp()


class S3BlobStore(BlobStore):
    """Blobs in ``bucket`` under ``prefix`` (e.g. ``"shoal/"``), through a
    boto3 S3 ``client`` (thread-safe: puts may run in threads)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self._client_error: type[Exception] = client.exceptions.ClientError

    @classmethod
    def connect(
        cls,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "",
    ) -> S3BlobStore:
        """A store over a new boto3 client. Credentials left out come from
        boto3's usual sources (environment, instance role). Nothing is
        sent until the store is used."""
        import boto3  # noqa: PLC0415 (the optional "s3" extra)
        from botocore.config import Config  # noqa: PLC0415

        client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(retries={"mode": "standard"}),
        )
        return cls(client, bucket, prefix)

    def key_of(self, blob_id: str) -> str:
        return f"{self.prefix}blobs/{blob_id}"

    def _head(self, key: str) -> dict[str, Any] | None:
        """The object's metadata, or None if there is no such object."""
        try:
            answer: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
        except self._client_error as exc:
            if _status(exc) == 404:
                return None
            raise
        return answer

    def _refused_as_existing(self, exc: Exception) -> bool:
        return _code(exc) == "PreconditionFailed" or _status(exc) == 412

    def _put_new(self, key: str, data: bytes) -> bool:
        """Write ``key`` unless it exists; False if it did."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
        except self._client_error as exc:
            if self._refused_as_existing(exc):
                return False
            raise
        return True

    def _copy_new(self, source: str, key: str, size: int) -> bool:
        """Copy ``source`` to ``key`` on the server unless ``key`` exists
        (a multipart copy, completed conditionally); False if it did."""
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, _COPY_PART), 1):
                end = min(start + _COPY_PART, size) - 1
                answer = self.client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource={"Bucket": self.bucket, "Key": source},
                    CopySourceRange=f"bytes={start}-{end}",
                )
                parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except self._client_error as exc:
            self._abort_upload(key, upload_id)
            if self._refused_as_existing(exc):
                return False
            raise
        except BaseException:
            self._abort_upload(key, upload_id)
            raise
        return True

    def _abort_upload(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except self._client_error as exc:
            if _code(exc) != "NoSuchUpload":  # gone already: what we wanted
                raise

    def _begin(self) -> PendingBlob:
        return _S3Pending(self)

    def _open(self, blob_id: str) -> BinaryIO:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key_of(blob_id))["Body"]
        except self._client_error as exc:
            if _code(exc) == "NoSuchKey" or _status(exc) == 404:
                raise BlobNotFoundError("no such blob") from None
            raise
        return chunk_stream(body.iter_chunks(_READ_SIZE), body.close)

    def _size(self, blob_id: str) -> int | None:
        answer = self._head(self.key_of(blob_id))
        return None if answer is None else int(answer["ContentLength"])

    def _delete(self, blob_id: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key_of(blob_id))

    def _keys(self, prefix: str) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def ids(self, written_before: float | None = None) -> Iterator[str]:
        start = len(self.key_of(""))
        for entry in self._keys(self.key_of("")):
            name = entry["Key"][start:]
            written = entry["LastModified"].timestamp()
            if is_blob_id(name) and (written_before is None or written < written_before):
                yield name

    def clean_partials(self, older_than: float = 0.0) -> int:
        """Abort the multipart uploads and delete the temporary keys that
        interrupted writes left; returns how many. A write is dated by the
        start time in its temporary key's name (our clocks, not the
        store's); a multipart copy to a blob's key, by the store's
        ``Initiated`` date (moto reports a fixed date in 2010: under moto
        any copy in progress looks old). ``0`` removes all of them."""
        now, tmp = time.time(), f"{self.prefix}tmp/"

        def stale(key: str, when: datetime) -> bool:
            if older_than <= 0:
                return True
            started = _started(key[len(tmp) :]) if key.startswith(tmp) else None
            return (started if started is not None else when.timestamp()) <= now - older_than

        removed = 0
        uploads = self.client.get_paginator("list_multipart_uploads")
        for page in uploads.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for upload in page.get("Uploads", []):
                if stale(upload["Key"], upload["Initiated"]):
                    self._abort_upload(upload["Key"], upload["UploadId"])
                    removed += 1
        for entry in self._keys(tmp):
            if stale(entry["Key"], entry["LastModified"]):
                self.client.delete_object(Bucket=self.bucket, Key=entry["Key"])
                removed += 1
        return removed
