"""The desk's vault: an append-only log of age files of JSON records.

What matters: every record comes back, in order, after a reopen; a file
that does not open is an error, never skipped; compaction loses nothing
and counts nothing twice, whenever a crash cuts it; and no record lies in
plaintext on disk.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _seizure import corpus_of, hits
from shoal import crypto
from shoal.desk import _vault
from shoal.desk._vault import Vault
from shoal.desk.errors import NotReadyError

IDENTITY = crypto.generate_identity(crypto.KeyType.X25519)
STRANGER = crypto.generate_identity(crypto.KeyType.X25519)


def vault(folder: Path, identity: crypto.AgeIdentity = IDENTITY) -> Vault:
    return Vault(folder, [identity.recipient()], [identity])


def rec(n: int, **more: Any) -> dict[str, Any]:
    return {"t": "item", "id": f"item-{n}", "seq": n, **more}


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_records_come_back_in_order_and_survive_a_reopen(tmp_path: Path) -> None:
    folder = tmp_path / "vault"
    first = vault(folder)
    assert list(first.records()) == []  # no folder yet: an empty vault
    first.append([rec(1), rec(2, text='Ёлка, café, 🦊\n\u2028 and a "quote"')])
    first.append([])  # nothing: no file either
    first.append([rec(3), {"t": "note", "contact": "c", "text": ""}])

    assert names(folder) == ["00000001-log.age", "00000002-log.age"]
    expected = [
        rec(1),
        rec(2, text='Ёлка, café, 🦊\n\u2028 and a "quote"'),
        rec(3),
        {"t": "note", "contact": "c", "text": ""},
    ]
    assert list(first.records()) == expected
    assert list(vault(folder).records()) == expected  # a new process, the same keys


def test_files_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "vault"
    vault(folder).append([rec(1)])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _one_log(tmp_path: Path) -> tuple[Vault, Path]:
    folder = tmp_path / "vault"
    v = vault(folder)
    v.append([rec(1), rec(2)])
    v.append([rec(3, text="x" * 5000)])
    return v, folder


def _fails(v: Vault) -> None:
    with pytest.raises(NotReadyError, match="does not open with this desk's keys"):
        list(v.records())


def test_a_file_sealed_to_another_key_is_an_error(tmp_path: Path) -> None:
    v, folder = _one_log(tmp_path)
    foreign = vault(tmp_path / "other", STRANGER)
    foreign.append([rec(9)])
    (folder / "00000003-log.age").write_bytes(
        (tmp_path / "other" / "00000001-log.age").read_bytes()
    )
    _fails(v)
    # The whole vault, opened by the other desk: the first file already fails.
    _fails(vault(folder, STRANGER))


@pytest.mark.parametrize("cut", [1, 40, 200, -17, -1])
def test_a_truncated_file_is_an_error(tmp_path: Path, cut: int) -> None:
    v, folder = _one_log(tmp_path)
    path = folder / "00000002-log.age"
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    _fails(v)


@pytest.mark.parametrize("where", [10, 120, -30, -1])
def test_a_garbled_file_is_an_error(tmp_path: Path, where: int) -> None:
    v, folder = _one_log(tmp_path)
    path = folder / "00000001-log.age"
    data = bytearray(path.read_bytes())
    data[where] ^= 0x40
    path.write_bytes(bytes(data))
    _fails(v)


@pytest.mark.parametrize(
    "plain", [b"not json\n", b"[1, 2]\n", b'{"t": "item"}\n\n', b"\xff\xfe\n", b'"text"\n']
)
def test_a_file_of_anything_but_records_is_an_error(tmp_path: Path, plain: bytes) -> None:
    v, folder = _one_log(tmp_path)
    (folder / "00000003-log.age").write_bytes(crypto.encrypt(plain, [IDENTITY.recipient()]))
    _fails(v)


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    v, folder = _one_log(tmp_path)
    (folder / "00000003-log.age").write_bytes(b"")
    _fails(v)


def test_compaction_writes_one_snapshot_and_deletes_the_rest(tmp_path: Path) -> None:
    folder = tmp_path / "vault"
    v = vault(folder)
    for n in range(1, 5):
        v.append([rec(n)])
    current = [rec(1, read=True), rec(2), rec(4)]

    v.compact(current)

    assert names(folder) == ["00000005-snapshot.age"]
    assert list(v.records()) == current
    v.append([rec(6)])
    assert names(folder) == ["00000005-snapshot.age", "00000006-log.age"]
    assert list(vault(folder).records()) == [*current, rec(6)]
    v.compact([])  # everything forgotten is still a snapshot: the logs must go
    assert names(folder) == ["00000007-snapshot.age"]
    assert list(v.records()) == []


def test_compaction_is_due_after_many_logs(tmp_path: Path) -> None:
    v = vault(tmp_path / "vault")
    for n in range(_vault.COMPACT_AFTER):
        v.append([rec(n)])
    assert not v.needs_compaction
    v.append([rec(-1)])
    assert v.needs_compaction
    v.compact(list(v.records()))
    assert not v.needs_compaction
    assert len(list(v.records())) == _vault.COMPACT_AFTER + 1


def test_a_crash_after_the_snapshot_before_the_deletions(tmp_path: Path) -> None:
    """The snapshot is durable, the old files still there: replay starts at
    the snapshot, so nothing is lost and nothing counted twice."""
    folder = tmp_path / "vault"
    v = vault(folder)
    v.append([rec(1)])
    v.append([rec(2)])
    v._write([rec(1), rec(2)], "snapshot", force=True)  # the crash: no deletions
    assert names(folder) == ["00000001-log.age", "00000002-log.age", "00000003-snapshot.age"]

    reopened = vault(folder)
    assert list(reopened.records()) == [rec(1), rec(2)]
    reopened.append([rec(4)])
    assert list(vault(folder).records()) == [rec(1), rec(2), rec(4)]
    # The next compaction clears what the crash left.
    reopened.compact([rec(1), rec(2), rec(4)])
    assert names(folder) == ["00000005-snapshot.age"]
    assert list(vault(folder).records()) == [rec(1), rec(2), rec(4)]


def test_a_crash_midway_through_the_deletions(tmp_path: Path) -> None:
    folder = tmp_path / "vault"
    v = vault(folder)
    for n in range(1, 4):
        v.append([rec(n)])
    v._write([rec(1), rec(2), rec(3)], "snapshot", force=True)
    (folder / "00000002-log.age").unlink()  # deleted; 1 and 3 not yet
    assert list(vault(folder).records()) == [rec(1), rec(2), rec(3)]


def test_an_older_snapshot_is_not_replayed(tmp_path: Path) -> None:
    folder = tmp_path / "vault"
    v = vault(folder)
    v._write([rec(1)], "snapshot", force=True)
    v.append([rec(2)])
    v._write([rec(1), rec(2)], "snapshot", force=True)
    v.append([rec(3)])
    assert list(vault(folder).records()) == [rec(1), rec(2), rec(3)]


def test_leftover_temporary_files_are_ignored(tmp_path: Path) -> None:
    """A crash while writing leaves a ``.partial`` file (or the write was in
    a pending file that never got its name): not a record of the vault."""
    folder = tmp_path / "vault"
    v = vault(folder)
    v.append([rec(1)])
    half = crypto.encrypt(b'{"t":"item","id":"ghost"}\n', [IDENTITY.recipient()])
    (folder / ".0123456789abcdef.partial").write_bytes(half[: len(half) // 2])
    (folder / ".fedcba9876543210.partial").write_bytes(half)
    (folder / "00000009-log.age.partial").write_bytes(b"junk")
    (folder / "notes.txt").write_bytes(b"junk")
    assert list(v.records()) == [rec(1)]
    v.append([rec(2)])
    assert list(vault(folder).records()) == [rec(1), rec(2)]
    assert "00000002-log.age" in names(folder)


def test_a_writer_never_replaces_another_writers_file(tmp_path: Path) -> None:
    """Two processes on one vault could pick the same number: the second
    write fails instead of replacing the first one's records."""
    folder = tmp_path / "vault"
    v = vault(folder)
    v.append([rec(1)])
    other = vault(folder)

    original = other._files

    def stale() -> list[tuple[int, str, Path]]:
        return [f for f in original() if f[0] < 2]  # listed before the other's write

    v.append([rec(2)])
    other._files = stale  # type: ignore[method-assign]
    with pytest.raises(NotReadyError, match="at the same time"):
        other.append([rec(3)])
    assert list(vault(folder).records()) == [rec(1), rec(2)]
    assert not [p for p in folder.iterdir() if p.name.endswith(".partial")]


CANARIES = [
    "CANARY-vault-the-convoy-at-dawn-91ab",
    "КАНАРЕЙКА-колонна-на-рассвете-51cd",
    "canary-name-photo-0077.jpg",
]


def test_no_record_is_on_disk_in_plaintext(tmp_path: Path) -> None:
    folder = tmp_path / "vault"
    v = vault(folder)
    v.append([rec(1, text=CANARIES[0]), rec(2, name=CANARIES[2])])
    v.append([{"t": "note", "contact": "c", "text": CANARIES[1]}])
    v.compact([rec(1, text=CANARIES[0]), {"t": "note", "contact": "c", "text": CANARIES[1]}])
    v.append([{"t": "tags", "item": "item-1", "tags": [CANARIES[2]]}])

    corpus = corpus_of(folder)
    assert len(corpus) > 2
    for canary in [*CANARIES, "item-1"]:
        assert hits(corpus, canary.encode()) == [], canary


# -- the model: a list of records, replaced by compaction ------------------

_text = st.text(st.characters(codec="utf-8"), max_size=20)
_record = st.fixed_dictionaries(
    {"t": st.sampled_from(["item", "note", "read", "future"]), "n": st.integers(0, 10**6)},
    optional={"text": _text, "ids": st.lists(_text, max_size=3), "x": st.none() | st.floats(0, 1)},
)
_op = st.one_of(
    st.tuples(st.just("append"), st.lists(_record, max_size=4)),
    st.tuples(st.just("compact"), st.lists(_record, max_size=4)),
    st.tuples(st.just("compact-kept"), st.just([])),
    st.tuples(st.just("crash"), st.lists(_record, max_size=3)),
    st.tuples(st.just("reopen"), st.just([])),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_op, max_size=12))
def test_any_sequence_of_writes_reads_back_as_the_model(ops: list[tuple[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "vault"
        v = vault(folder)
        model: list[dict[str, Any]] = []
        for op, records in ops:
            if op == "append":
                v.append(records)
                model += records
            elif op == "compact":
                v.compact(records)
                model = list(records)
            elif op == "compact-kept":
                v.compact(list(v.records()))
            elif op == "crash":
                v._write(records, "snapshot", force=True)
                model = list(records)
            else:
                v = vault(folder)
            assert list(v.records()) == model
        assert list(vault(folder).records()) == model
        # Every live file opens, and what compaction left behind is gone.
        live = {p.name for _, _, p in v._live()}
        on_disk = set(os.listdir(folder)) if folder.exists() else set()
        snapshots = sorted(n for n in on_disk if n.endswith("-snapshot.age"))
        if snapshots and not any(op == "crash" for op, _ in ops):
            assert snapshots == [min(live)]
            assert on_disk == live


def test_records_are_json_lines_inside(tmp_path: Path) -> None:
    """One record a line, so a reader streams a snapshot of 100,000 items."""
    folder = tmp_path / "vault"
    vault(folder).append([rec(1, text="a\nb"), rec(2)])
    plain = crypto.decrypt((folder / "00000001-log.age").read_bytes(), [IDENTITY])
    lines = plain.splitlines()
    assert [json.loads(line) for line in lines] == [rec(1, text="a\nb"), rec(2)]
