"""The C2SP age test kit, every vector with its expected outcome.

Grouped by ``expect`` as age's own ``testkit_test.go`` does: each failure
kind must raise its own class, so a parser that fails for the wrong reason
(say, a header bug reported as "no match") is caught.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shoal import crypto
from shoal.crypto import errors

TESTKIT = Path(__file__).parent / "testkit"

EXPECTED_ERRORS: dict[str, type[errors.DecryptionError]] = {
    "header failure": errors.HeaderError,
    "HMAC failure": errors.HMACError,
    "no match": errors.NoIdentityMatchError,
    "payload failure": errors.PayloadError,
    "armor failure": errors.ArmorError,
}


@dataclass
class Vector:
    name: str
    expect: str
    body: bytes
    payload_sha256: str | None = None
    identities: list[str] = field(default_factory=list)
    passphrases: list[str] = field(default_factory=list)
    armored: bool = False

    def decryption_identities(self) -> list[crypto.Identity]:
        ids: list[crypto.Identity] = [crypto.parse_identity(i) for i in self.identities]
        ids += [crypto.ScryptIdentity(p) for p in self.passphrases]
        return ids


def load(path: Path) -> Vector:
    raw = path.read_bytes()
    head, body = raw.split(b"\n\n", 1)
    fields: dict[str, list[str]] = {}
    for line in head.decode().splitlines():
        key, value = line.split(": ", 1)
        fields.setdefault(key, []).append(value)
    if fields.get("compressed") == ["zlib"]:
        body = zlib.decompress(body)
    return Vector(
        name=path.name,
        expect=fields["expect"][0],
        body=body,
        payload_sha256=fields.get("payload", [None])[0],
        identities=fields.get("identity", []),
        passphrases=fields.get("passphrase", []),
        armored=fields.get("armored") == ["yes"],
    )


VECTORS = sorted(
    (load(p) for p in TESTKIT.iterdir() if p.is_file() and p.name != "README.md"),
    key=lambda v: v.name,
)


def by_expect(expect: str) -> list[pytest.param]:  # type: ignore[valid-type]
    return [pytest.param(v, id=v.name) for v in VECTORS if v.expect == expect]


def test_the_whole_kit_is_here() -> None:
    assert len(VECTORS) == 143
    assert {v.expect for v in VECTORS} == {"success", *EXPECTED_ERRORS}


@pytest.mark.parametrize("vector", by_expect("success"))
def test_success(vector: Vector) -> None:
    plaintext = crypto.decrypt(vector.body, vector.decryption_identities(), armor=vector.armored)
    assert hashlib.sha256(plaintext).hexdigest() == vector.payload_sha256


@pytest.mark.parametrize("vector", by_expect("success"))
def test_success_streaming_byte_by_byte(vector: Vector) -> None:
    """The incremental parser must not depend on how input is split."""
    pieces = [vector.body[i : i + 1] for i in range(len(vector.body))]
    if len(pieces) > 5000:  # the 257-chunk files: split at odd sizes instead
        pieces = [vector.body[i : i + 4099] for i in range(0, len(vector.body), 4099)]
    plaintext = b"".join(
        crypto.decrypt_iter(pieces, vector.decryption_identities(), armor=vector.armored)
    )
    assert hashlib.sha256(plaintext).hexdigest() == vector.payload_sha256


def _failure_params() -> list[pytest.param]:  # type: ignore[valid-type]
    return [
        pytest.param(v, id=f"{v.expect.replace(' ', '_')}-{v.name}")
        for v in VECTORS
        if v.expect != "success"
    ]


@pytest.mark.parametrize("vector", _failure_params())
def test_failure_has_its_own_class(vector: Vector) -> None:
    expected = EXPECTED_ERRORS[vector.expect]
    with pytest.raises(expected) as info:
        crypto.decrypt(vector.body, vector.decryption_identities(), armor=vector.armored)
    # Exactly that class: a subclass of another kind would be a wrong reason.
    assert type(info.value) is expected


@pytest.mark.parametrize("vector", _failure_params())
def test_failure_is_one_public_error(vector: Vector) -> None:
    with pytest.raises(crypto.DecryptionError):
        b"".join(crypto.decrypt_iter([vector.body], vector.decryption_identities()))
