"""The member's on-device store: sealed records, one key slot, wipe, duress.

Crashes are real: a child process opens the store and dies with
``os._exit`` at the n-th call of a chosen system call (before it runs),
so no ``finally`` or ``with`` block gets to tidy up — exactly what a power
cut leaves. Work factors are low (2^10) so the tests stay fast.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shoal import crypto
from shoal.field._device import KEYSLOT, KEYSLOT_SIZE, RECORDS, SLOT_SIZE, DeviceStore, wipe
from shoal.field.errors import DeviceStoreError, PassphraseError, WrongPassphraseError

WF = 10
REAL = "correct horse"
DURESS = "duress words"
DECOY = {"settings": b'{"door": "quiet"}', "draft/1": b"shopping: bread, milk"}


def _create(tmp_path: Path, name: str = "store") -> DeviceStore:
    return DeviceStore.create(tmp_path / name, REAL, work_factor=WF)


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def _slots(directory: Path) -> list[bytes]:
    data = (directory / KEYSLOT).read_bytes()
    assert len(data) == KEYSLOT_SIZE == 1 + 2 * SLOT_SIZE
    return [data[1 : 1 + SLOT_SIZE], data[1 + SLOT_SIZE :]]


def _looks_random(slot: bytes) -> bool:
    # 512 uniform bytes show about 221 distinct values (sd ~6); a padded
    # JSON plaintext would show far fewer, and markers would show up.
    markers = (b"identity", b"decoy", b"real", b"AGE-", b"index", b"role")
    return len(set(slot)) > 180 and not any(m in slot for m in markers)


# -- records --------------------------------------------------------------


def test_records_round_trip_and_survive_reopening(tmp_path: Path) -> None:
    with _create(tmp_path) as store:
        assert not store.duress_opened
        assert not store.duress_enabled
        assert store.get("settings") is None
        store.put("settings", b"\x00binary\xff")
        store.put_json("outbox/1", {"report": "r1", "parts": 2})
        store.put_json("outbox/2", [1, "two"])
        store.put("settings", b"replaced")
        assert store.names() == ["outbox/1", "outbox/2", "settings"]
        assert store.names("outbox/") == ["outbox/1", "outbox/2"]
        store.delete("outbox/2")
        store.delete("never there")
        assert store.get_json("outbox/2") is None
    with DeviceStore.open(tmp_path / "store", REAL) as store:
        assert store.get("settings") == b"replaced"
        assert store.get_json("outbox/1") == {"report": "r1", "parts": 2}
        assert store.names() == ["outbox/1", "settings"]
        # One file per record and the index: replaced and deleted values
        # left nothing behind.
        assert len(_files(tmp_path / "store" / RECORDS)) == 3


def test_create_refuses_an_existing_store_and_bad_arguments(tmp_path: Path) -> None:
    _create(tmp_path).close()
    before = (tmp_path / "store" / KEYSLOT).read_bytes()
    with pytest.raises(DeviceStoreError, match="already holds"):
        _create(tmp_path)
    assert (tmp_path / "store" / KEYSLOT).read_bytes() == before
    with pytest.raises(PassphraseError):
        DeviceStore.create(tmp_path / "other", "", work_factor=WF)
    with pytest.raises(ValueError, match="work factor"):
        DeviceStore.create(tmp_path / "other", REAL, work_factor=9)


def test_wrong_passphrase_and_missing_store(tmp_path: Path) -> None:
    _create(tmp_path).close()
    with pytest.raises(WrongPassphraseError) as caught:
        DeviceStore.open(tmp_path / "store", "correct horse!")
    assert "horse" not in str(caught.value)
    with pytest.raises(DeviceStoreError, match="no field store"):
        DeviceStore.open(tmp_path / "nothing", REAL)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DeviceStoreError, match="no field store"):
        DeviceStore.open(tmp_path / "empty", REAL)


def test_one_process_at_a_time(tmp_path: Path) -> None:
    store = _create(tmp_path)
    with pytest.raises(DeviceStoreError, match="in use"):
        DeviceStore.open(tmp_path / "store", REAL)
    store.close()
    DeviceStore.open(tmp_path / "store", REAL).close()


def test_nothing_on_disk_is_plaintext(tmp_path: Path) -> None:
    canary = b"CANARY-7f3a9c-the-bridge-at-dawn"
    with _create(tmp_path) as store:
        secret = store._slot.identity.secret_string().encode()
        store.put("draft/" + canary.decode(), canary * 3)
        store.put_json("settings", {"note": canary.decode()})
        path = store.new_file_path()
        with path.open("wb") as sink, crypto.encrypt_writer(sink, [store.recipient]) as writer:
            writer.write(canary * 50_000)
        store.commit_file("draft-file", path)
        store.enable_duress(DURESS, {"decoy": canary})
    disk = b"".join(p.read_bytes() for p in _files(tmp_path / "store"))
    needles = [canary, canary.hex().encode(), REAL.encode(), DURESS.encode(), secret]
    for shift in range(3):
        needles.append(base64.b64encode(canary[shift:])[4:-4])
        needles.append(base64.urlsafe_b64encode(canary[shift:])[4:-4])
    for needle in needles:
        assert needle not in disk
    # Record files are named by random ids only.
    names = {p.name for p in _files(tmp_path / "store" / RECORDS)}
    assert all(len(n) == 36 and n.endswith(".age") for n in names)


def test_record_sizes_are_padded(tmp_path: Path) -> None:
    with _create(tmp_path) as store:
        store.put("a", b"x" * 1100)
        store.put("b", b"y" * 1110)
        sizes = {path.stat().st_size for name in "ab" if (path := store.file_path(name))}
    assert len(sizes) == 1


def test_swapped_record_files_are_detected(tmp_path: Path) -> None:
    with _create(tmp_path) as store:
        store.put("a", b"first")
        store.put("b", b"second")
        a, b = store.file_path("a"), store.file_path("b")
        assert a is not None and b is not None
        first = a.read_bytes()
        a.write_bytes(b.read_bytes())
        b.write_bytes(first)
        with pytest.raises(DeviceStoreError, match="damaged"):
            store.get("a")


def test_committed_files_stream_and_are_collected_when_abandoned(tmp_path: Path) -> None:
    content = os.urandom(3 << 20)
    with _create(tmp_path) as store:
        path = store.new_file_path()
        with path.open("wb") as sink, crypto.encrypt_writer(sink, [store.recipient]) as writer:
            writer.write(content)
        store.commit_file("draft/1/photo", path)
        assert store.file_path("draft/1/photo") == path
        with store.open_file("draft/1/photo") as reader:
            assert reader.read() == content
        with pytest.raises(ValueError, match="new_file_path"):
            store.commit_file("elsewhere", tmp_path / "x.age")
        with pytest.raises(ValueError, match="already registered"):
            store.commit_file("again", path)
        with pytest.raises(KeyError):
            store.open_file("missing").__enter__()
        # A file sealed to someone else (the compartment) is kept as is,
        # and this store cannot read it back.
        other = store.new_file_path()
        compartment = crypto.generate_identity(crypto.KeyType.X25519)
        other.write_bytes(crypto.encrypt(b"report", [compartment.recipient()]))
        store.commit_file("outbox/1/part/0", other)
        with pytest.raises(DeviceStoreError), store.open_file("outbox/1/part/0"):
            pass
        abandoned = store.new_file_path()
        abandoned.write_bytes(b"half a file")
        (tmp_path / "store" / RECORDS / ".0123.partial").write_bytes(b"crash leftovers")
    with DeviceStore.open(tmp_path / "store", REAL) as store:
        assert not abandoned.exists()
        assert not (tmp_path / "store" / RECORDS / ".0123.partial").exists()
        assert other.read_bytes() and path.exists()
        assert crypto.decrypt(other.read_bytes(), [compartment]) == b"report"


# -- crashes --------------------------------------------------------------

_CHILD = f"""
import os, sys
from pathlib import Path
from shoal.field._device import DeviceStore

directory, op, target, k = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
store = None if op == "duress" else DeviceStore.open(directory, {REAL!r})
original = getattr(os, target)
calls = 0

def crash(*args, **kwargs):
    global calls
    calls += 1
    if calls == k:
        os._exit(17)
    return original(*args, **kwargs)

setattr(os, target, crash)
if op == "put":
    store.put("note", b"new value")
elif op == "change":
    store.change_passphrase({REAL!r}, "battery staple")
elif op == "enable":
    store.enable_duress({DURESS!r}, {DECOY!r})
elif op == "duress":
    DeviceStore.open(directory, {DURESS!r})
os._exit(0)
"""


def _crash(directory: Path, op: str, target: str, k: int) -> bool:
    """Run ``op`` in a child that dies at the k-th ``os.<target>`` call;
    False when the operation finished before that call."""
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(directory), op, target, str(k)],
        capture_output=True,
        check=False,
    )
    assert child.returncode in (0, 17), child.stderr.decode()
    return child.returncode == 17


def _template(tmp_path: Path, *, duress: bool = False) -> Path:
    with _create(tmp_path, "template") as store:
        store.put("note", b"old value")
        store.put("other", b"untouched")
        if duress:
            store.enable_duress(DURESS, DECOY)
    return tmp_path / "template"


def _assert_tidy(directory: Path, store: DeviceStore, extra: int = 0) -> None:
    """Only the index, the live records (and the decoy's) remain."""
    records = _files(directory / RECORDS)
    assert len(records) == len(store.names()) + 1 + extra
    assert not [p for p in _files(directory) if p.name.endswith(".partial")]


@pytest.mark.parametrize(
    ("target", "k", "expected"),
    [("replace", 1, b"old value"), ("replace", 2, b"old value"), ("unlink", 1, b"new value")],
    ids=["before-record", "before-index", "before-unlinking-old"],
)
def test_put_survives_a_crash_at_any_step(
    tmp_path: Path, target: str, k: int, expected: bytes
) -> None:
    directory = tmp_path / "crashed"
    shutil.copytree(_template(tmp_path), directory)
    assert _crash(directory, "put", target, k)
    with DeviceStore.open(directory, REAL) as store:
        assert store.get("note") == expected
        assert store.get("other") == b"untouched"
        _assert_tidy(directory, store)


def test_put_that_fails_keeps_the_old_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _create(tmp_path) as store:
        store.put("note", b"old value")
        calls = []

        def failing_replace(src: str, dst: str) -> None:
            calls.append(dst)
            if len(calls) == 2:  # the index, after the new record landed
                raise OSError(28, "No space left on device")
            os.rename(src, dst)

        monkeypatch.setattr(os, "replace", failing_replace)
        with pytest.raises(OSError, match="No space"):
            store.put("note", b"new value")
        monkeypatch.undo()
        assert store.get("note") == b"old value"
        assert not [p for p in _files(tmp_path / "store") if p.name.endswith(".partial")]
    with DeviceStore.open(tmp_path / "store", REAL) as store:
        assert store.get("note") == b"old value"
        _assert_tidy(tmp_path / "store", store)


@pytest.mark.parametrize(
    ("target", "opens"),
    [("replace", REAL), ("pwrite", "battery staple")],
    ids=["before-replacing-slot", "before-overwriting-old-copy"],
)
def test_change_passphrase_survives_a_crash(tmp_path: Path, target: str, opens: str) -> None:
    directory = tmp_path / "crashed"
    shutil.copytree(_template(tmp_path), directory)
    assert _crash(directory, "change", target, 1)
    fails = REAL if opens != REAL else "battery staple"
    with pytest.raises(WrongPassphraseError):
        DeviceStore.open(directory, fails)
    with DeviceStore.open(directory, opens) as store:
        assert store.get("note") == b"old value"


def test_enable_duress_survives_a_crash_at_every_replace(tmp_path: Path) -> None:
    template = _template(tmp_path)
    outcomes = set()
    for k in range(1, 20):
        directory = tmp_path / f"crashed-{k}"
        shutil.copytree(template, directory)
        if not _crash(directory, "enable", "replace", k):
            break
        with DeviceStore.open(directory, REAL) as store:
            assert store.names() == ["note", "other"]
            assert store.get("note") == b"old value"
            enabled = store.duress_enabled
        # The duress passphrase opens the whole decoy, or is just wrong.
        try:
            decoy = DeviceStore.open(directory, DURESS)
        except WrongPassphraseError:
            outcomes.add("off")
            continue
        with decoy:
            assert enabled
            assert {n: decoy.get(n) for n in decoy.names()} == DECOY
            outcomes.add("on")
    else:
        pytest.fail("enable_duress never finished")
    assert outcomes == {"off", "on"}


@pytest.mark.parametrize(
    ("target", "real_survives"),
    [("pwrite", True), ("replace", False), ("unlink", False)],
    ids=["before-destroying", "after-destroying", "while-deleting"],
)
def test_duress_opening_survives_a_crash(tmp_path: Path, target: str, real_survives: bool) -> None:
    directory = tmp_path / "crashed"
    shutil.copytree(_template(tmp_path, duress=True), directory)
    assert _crash(directory, "duress", target, 1)
    shutil.copytree(directory, tmp_path / "copy")
    if real_survives:
        with DeviceStore.open(tmp_path / "copy", REAL) as store:
            assert store.get("note") == b"old value"
    else:
        with pytest.raises(WrongPassphraseError):
            DeviceStore.open(tmp_path / "copy", REAL)
    with DeviceStore.open(directory, DURESS) as store:
        assert {n: store.get(n) for n in store.names()} == DECOY
        _assert_tidy(directory, store)
    with pytest.raises(WrongPassphraseError):
        DeviceStore.open(directory, REAL)


# -- passphrases ------------------------------------------------------------


def test_change_passphrase(tmp_path: Path) -> None:
    with _create(tmp_path) as store:
        store.put("note", b"kept")
        store.enable_duress(DURESS, DECOY)
        with pytest.raises(WrongPassphraseError):
            store.change_passphrase("not it", "battery staple")
        with pytest.raises(PassphraseError, match="must differ"):
            store.change_passphrase(REAL, DURESS)
        with pytest.raises(PassphraseError):
            store.change_passphrase(REAL, "")
        decoy_slot = _slots(tmp_path / "store")
        store.change_passphrase(REAL, "battery staple")
        # Only this store's slot changed: which slot changes says nothing.
        assert sum(a == b for a, b in zip(decoy_slot, _slots(tmp_path / "store"))) == 1
    with pytest.raises(WrongPassphraseError):
        DeviceStore.open(tmp_path / "store", REAL)
    with DeviceStore.open(tmp_path / "store", "battery staple") as store:
        assert store.get("note") == b"kept"
        assert store.duress_enabled


# -- wipe -------------------------------------------------------------------


def test_wipe_is_fast_and_complete(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    chunk = os.urandom(1 << 20)
    with _create(tmp_path) as store:
        for i in range(50):
            store.put(f"outbox/{i}", os.urandom(2000))
        for i in range(4):
            path = store.new_file_path()
            with path.open("wb") as sink, crypto.encrypt_writer(sink, [store.recipient]) as w:
                for _ in range(50):
                    w.write(chunk)
            store.commit_file(f"draft/{i}", path)
        store.enable_duress(DURESS, DECOY)
    assert sum(p.stat().st_size for p in _files(directory)) > 200 << 20
    started = time.monotonic()
    wipe(directory)
    elapsed = time.monotonic() - started
    assert not directory.exists()
    assert elapsed < 2, f"wipe took {elapsed:.2f} s"
    wipe(directory)  # nothing left to wipe is no error


def test_wipe_destroys_the_slot_before_unlinking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _create(tmp_path) as store:
        store.put("note", b"secret")
    directory = tmp_path / "store"
    saved = tmp_path / "copy"
    shutil.copytree(directory, saved)
    first_unlink: list[bytes] = []
    real_unlink = os.unlink

    def watching_unlink(path: str | os.PathLike[str], **kwargs: object) -> None:
        if not first_unlink:
            first_unlink.append((directory / KEYSLOT).read_bytes())
        real_unlink(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "unlink", watching_unlink)
    wipe(directory)
    monkeypatch.undo()
    # What the key slot held when the first file went: random bytes. Put
    # back with the records, it opens nothing.
    (saved / KEYSLOT).write_bytes(first_unlink[0])
    with pytest.raises((WrongPassphraseError, DeviceStoreError)):
        DeviceStore.open(saved, REAL)


def test_wipe_leaves_what_the_store_did_not_make(tmp_path: Path) -> None:
    _create(tmp_path).close()
    (tmp_path / "store" / "notes.txt").write_text("mine")
    wipe(tmp_path / "store")
    assert [p.name for p in (tmp_path / "store").iterdir()] == ["notes.txt"]


# -- duress -----------------------------------------------------------------


def test_duress_is_off_by_default(tmp_path: Path) -> None:
    positions = set()
    for i in range(20):
        with DeviceStore.create(tmp_path / f"s{i}", REAL, work_factor=WF) as store:
            positions.add(store._position)
    assert positions == {0, 1}  # the real slot's place tells nothing
    directory = tmp_path / "s0"
    assert all(_looks_random(slot) for slot in _slots(directory))
    with pytest.raises(WrongPassphraseError):
        DeviceStore.open(directory, DURESS)
    with DeviceStore.open(directory, REAL) as store:
        assert not store.duress_enabled


def test_slots_are_indistinguishable(tmp_path: Path) -> None:
    with _create(tmp_path) as store:
        store.put("note", b"x")
        off = (tmp_path / "store" / KEYSLOT).read_bytes()
        store.enable_duress(DURESS, DECOY)
    on = (tmp_path / "store" / KEYSLOT).read_bytes()
    assert len(on) == len(off) and on[:1] == off[:1] == bytes([WF])
    assert all(_looks_random(slot) for slot in _slots(tmp_path / "store"))


def test_enable_duress_refuses_the_real_passphrase(tmp_path: Path) -> None:
    with _create(tmp_path) as store:
        with pytest.raises(PassphraseError, match="must differ"):
            store.enable_duress(REAL, DECOY)
        with pytest.raises(PassphraseError):
            store.enable_duress("", DECOY)
        assert not store.duress_enabled


def test_duress_passphrase_destroys_the_real_store(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    with _create(tmp_path) as store:
        store.put("codename", b"seven words nobody should read")
        path = store.new_file_path()
        path.write_bytes(crypto.encrypt(b"big", [store.recipient]))
        store.commit_file("draft/1/photo", path)
        store.enable_duress(DURESS, DECOY)
        assert store.duress_enabled
        real_files = {store.file_path(n) for n in store.names()}
    # The real passphrase still opens the real store, decoy kept aside.
    with DeviceStore.open(directory, REAL) as store:
        assert store.get("codename") == b"seven words nobody should read"
    slots_before = _slots(directory)
    with DeviceStore.open(directory, DURESS) as decoy:
        assert decoy.duress_opened
        assert not decoy.duress_enabled
        assert decoy.names() == sorted(DECOY)
        assert {n: decoy.get(n) for n in decoy.names()} == DECOY
        _assert_tidy(directory, decoy)
        # The decoy is a working store like any other.
        decoy.put("draft/2", b"more shopping")
    assert not any(p is not None and p.exists() for p in real_files)
    # Both slots were rewritten: the real one destroyed, the decoy's
    # resealed as an ordinary slot.
    assert all(a != b for a, b in zip(slots_before, _slots(directory)))
    assert all(_looks_random(slot) for slot in _slots(directory))
    with pytest.raises(WrongPassphraseError):
        DeviceStore.open(directory, REAL)
    # From now on it is an ordinary store: opening it again destroys nothing.
    with DeviceStore.open(directory, DURESS) as store:
        assert not store.duress_opened
        assert store.get("draft/2") == b"more shopping"
        store.change_passphrase(DURESS, "new words")
        store.enable_duress("second duress", {"x": b"y"})


def test_disable_and_replace_duress(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    with _create(tmp_path) as store:
        store.put("note", b"real")
        store.disable_duress()  # off already: nothing happens
        store.enable_duress(DURESS, DECOY)
        store.enable_duress("other duress", {"only": b"this"})
        _assert_tidy(directory, store, extra=2)
    with pytest.raises(WrongPassphraseError):
        DeviceStore.open(directory, DURESS)
    shutil.copytree(directory, tmp_path / "copy")
    with DeviceStore.open(tmp_path / "copy", "other duress") as decoy:
        assert {n: decoy.get(n) for n in decoy.names()} == {"only": b"this"}
    with DeviceStore.open(directory, REAL) as store:
        store.disable_duress()
        assert not store.duress_enabled
        _assert_tidy(directory, store)
        assert store.get("note") == b"real"
    with pytest.raises(WrongPassphraseError):
        DeviceStore.open(directory, "other duress")
    assert all(_looks_random(slot) for slot in _slots(directory))
