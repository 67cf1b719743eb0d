"""shoal.trusted: files all or nothing, keystore files, enrollment bundles."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from shoal import crypto, trusted


def test_the_public_surface() -> None:
    assert sorted(trusted.__all__) == [
        "Acceptance",
        "AcceptedEpoch",
        "Enrollment",
        "EnrollmentError",
        "ErrorReportingGroup",
        "OrgDocument",
        "PassphraseError",
        "PendingFile",
        "StateFileError",
        "Trust",
        "TrustError",
        "TrustedError",
        "WrongPassphraseError",
        "accept",
        "create_keystore",
        "exchange",
        "json_object",
        "make_private_dir",
        "partner_epoch",
        "passphrase_file_option",
        "read_json",
        "read_passphrase",
        "rebuild",
        "unlock_keystore",
        "work_factor_option",
        "write_atomic",
        "write_json",
    ]


def test_a_pending_file_appears_only_when_committed(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with trusted.PendingFile(tmp_path) as pending:
        pending.file.write(b"new")
        assert target.read_bytes() == b"old"
        pending.commit(target)
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), trusted.PendingFile(tmp_path) as pending:
        pending.file.write(b"half")
        raise RuntimeError("power cut")
    with trusted.PendingFile(tmp_path) as pending:
        pending.file.write(b"never committed")
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    assert target.read_bytes() == b"old"


def test_a_pending_file_commits_only_in_its_own_directory(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(ValueError), trusted.PendingFile(tmp_path) as pending:
        pending.commit(tmp_path / "elsewhere" / "x")
    assert [p.name for p in tmp_path.iterdir()] == ["elsewhere"]


def test_private_directories_are_private_at_every_new_level(tmp_path: Path) -> None:
    trusted.make_private_dir(tmp_path / "a" / "b")
    for level in (tmp_path / "a", tmp_path / "a" / "b"):
        assert level.stat().st_mode & 0o777 == 0o700


def test_json_state_files(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    trusted.write_json(path, {"b": 1, "a": [True, None]})
    assert trusted.read_json(path) == {"a": [True, None], "b": 1}
    for content, message in [(b"[1]", "not a JSON object"), (b"{", "not JSON")]:
        path.write_bytes(content)
        with pytest.raises(trusted.StateFileError, match=message):
            trusted.read_json(path)
    with pytest.raises(trusted.StateFileError, match="does not exist"):
        trusted.read_json(tmp_path / "missing.json")


def keystore() -> crypto.Keystore:
    return crypto.Keystore((crypto.generate_identity(),), crypto.SigningKey.generate())


def test_a_keystore_file_opens_with_its_passphrase_only(tmp_path: Path) -> None:
    path = tmp_path / "keystore.age"
    original = keystore()
    trusted.create_keystore(path, original, "right", work_factor=10)
    opened = trusted.unlock_keystore(path, "right")
    assert opened.signing_key.verify_key == original.signing_key.verify_key
    with pytest.raises(trusted.WrongPassphraseError, match="wrong passphrase"):
        trusted.unlock_keystore(path, "wrong")
    with pytest.raises(trusted.StateFileError, match="refusing to replace a keystore"):
        trusted.create_keystore(path, keystore(), "right", work_factor=10)
    assert trusted.unlock_keystore(path, "right").signing_key.verify_key == (
        original.signing_key.verify_key
    )


def test_a_damaged_keystore_is_not_a_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "keystore.age"
    trusted.create_keystore(path, keystore(), "right", work_factor=10)
    data = bytearray(path.read_bytes())
    data[-5] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(trusted.StateFileError, match="damaged"):
        trusted.unlock_keystore(path, "right")
    with pytest.raises(trusted.StateFileError, match="no keystore"):
        trusted.unlock_keystore(tmp_path / "none.age", "right")


def test_passphrase_files(tmp_path: Path) -> None:
    path = tmp_path / "p"
    path.write_text("  spaces kept  \r\nsecond line ignored\n")
    assert trusted.read_passphrase(path, new=False) == "  spaces kept  "
    path.write_text("\n")
    with pytest.raises(trusted.PassphraseError, match="empty"):
        trusted.read_passphrase(path, new=True)


def test_an_enrollment_bundle_round_trips_and_survives_mail(tmp_path: Path) -> None:
    key = crypto.SigningKey.generate()
    enrollment = trusted.Enrollment(crypto.generate_identity().recipient(), key.verify_key)
    text = enrollment.text(key)
    assert text.startswith("shoal enrollment v1\nrecipient age1pq1")
    assert trusted.Enrollment.parse(text) == enrollment
    mailed = "\r\n".join(f"  {line}" for line in text.splitlines()) + "\r\n\r\n"
    assert trusted.Enrollment.parse(mailed) == enrollment


@pytest.mark.parametrize(
    "text",
    [
        "",
        "shoal enrollment v2\nrecipient x\nverify-key y\n",
        "shoal enrollment v1\nrecipient age1x\n",
        "shoal enrollment v1\nrecipient {r}\nrecipient {r}\n",
        "shoal enrollment v1\nrecipient {r}\nverify-key {k}\nextra line\n",
        "shoal enrollment v1\nrecipient {r}\nverify-key AAAA\n",
        "shoal enrollment v1\nrecipient age1nope\nverify-key {k}\n",
    ],
)
def test_malformed_bundles_are_refused(text: str) -> None:
    recipient = crypto.generate_identity().recipient()
    key = base64.b64encode(crypto.SigningKey.generate().verify_key.public_bytes).decode()
    with pytest.raises(trusted.EnrollmentError):
        trusted.Enrollment.parse(text.format(r=recipient, k=key))


def test_a_keystore_created_meanwhile_by_another_command_is_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sealing takes a while; another command may create the file meanwhile.
    keystore = crypto.Keystore((crypto.generate_identity(),), crypto.SigningKey.generate())
    path = tmp_path / "keystore.age"
    real_seal = crypto.seal_keystore

    def seal_while_another_writes(*args: object, **kwargs: object) -> bytes:
        path.write_bytes(b"the other command's keystore")
        return real_seal(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(crypto, "seal_keystore", seal_while_another_writes)
    with pytest.raises(trusted.StateFileError, match="already exists"):
        trusted.create_keystore(path, keystore, "passphrase", work_factor=10)
    assert path.read_bytes() == b"the other command's keystore"
    assert [p.name for p in tmp_path.iterdir()] == ["keystore.age"]
