"""The S3 blob store's own cases, against moto's S3 server: its keys and
prefix, which requests a put makes, and temporary keys dated by their
names. The contract is in test_blob_contract.py."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _blob_backends import leftovers, open_store, pattern

from shoal.store import S3BlobStore

MiB = 1 << 20


@pytest.fixture
def store(new_store: Callable[[str], list[str]]) -> S3BlobStore:
    store = open_store(new_store("s3"))
    assert isinstance(store, S3BlobStore)
    return store


@pytest.fixture
def requests(store: S3BlobStore) -> Iterator[Counter[str]]:
    """The S3 operations the store's client sends, counted."""
    sent: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        sent[event_name.rsplit(".", maxsplit=1)[-1]] += 1

    store.client.meta.events.register("before-call.s3", count)
    yield sent
    store.client.meta.events.unregister("before-call.s3", count)


def all_keys(store: S3BlobStore) -> list[str]:
    answer = store.client.list_objects_v2(Bucket=store.bucket)
    return sorted(entry["Key"] for entry in answer.get("Contents", []))


def test_blobs_live_under_the_prefix_and_nothing_else_is_listed(store: S3BlobStore) -> None:
    small, large = store.put([b"small"]), store.put([pattern(9 * MiB)])
    strangers = [f"other/blobs/{small.blob_id}", "node/blobs/not-a-blob-id"]
    for key in strangers:
        store.client.put_object(Bucket=store.bucket, Key=key, Body=b"x")
    blobs = [f"node/blobs/{small.blob_id}", f"node/blobs/{large.blob_id}"]
    assert all_keys(store) == sorted(blobs + strangers)
    assert sorted(store.ids()) == sorted([small.blob_id, large.blob_id])
    assert store.key_of(small.blob_id) == f"node/blobs/{small.blob_id}"


def test_a_small_blob_is_one_conditional_put(store: S3BlobStore, requests: Counter[str]) -> None:
    store.put([pattern(8 * MiB - 1)])
    assert requests == Counter(HeadObject=1, PutObject=1)
    requests.clear()
    assert not store.put([pattern(8 * MiB - 1)]).created
    assert requests == Counter(HeadObject=1)


def test_a_large_blob_goes_through_a_temporary_key_and_is_copied_once(
    store: S3BlobStore, requests: Counter[str]
) -> None:
    ref = store.put([pattern(17 * MiB)])
    assert requests == Counter(
        CreateMultipartUpload=2,  # the temporary key, then the copy
        UploadPart=3,
        CompleteMultipartUpload=2,
        HeadObject=1,
        UploadPartCopy=1,
        DeleteObject=1,  # the temporary key
    )
    requests.clear()
    # The same bytes again: found by the HEAD, not copied.
    assert store.put([pattern(17 * MiB)]) == ref
    assert requests["UploadPartCopy"] == 0 and requests["HeadObject"] == 1
    assert leftovers(store) == 0
    assert all_keys(store) == [f"node/blobs/{ref.blob_id}"]


def test_temporary_keys_are_dated_by_their_names(store: S3BlobStore) -> None:
    now = int(time.time())
    old, recent = f"node/tmp/{now - 7200}-dead", f"node/tmp/{now}-alive"
    stranger = "node/tmp/no-date"  # dated by the store's clock instead
    for key in (old, recent, stranger):
        store.client.put_object(Bucket=store.bucket, Key=key, Body=b"c")
    stale_upload = f"node/tmp/{now - 7200}-upload"
    upload = store.client.create_multipart_upload(Bucket=store.bucket, Key=stale_upload)
    assert store.clean_partials(older_than=3600) == 2
    assert all_keys(store) == sorted([recent, stranger])
    assert store.clean_partials() == 2
    assert all_keys(store) == []
    assert leftovers(store) == 0
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    assert upload["UploadId"] not in [u["UploadId"] for u in uploads]
