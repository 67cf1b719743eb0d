"""The doors list: the organization's onion addresses, signed by the root key."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoal import crypto, org


@dataclasses.dataclass
class Root:
    org_id: str
    signer: crypto.NoteSigner

    @property
    def key(self) -> crypto.NoteVerifier:
        return self.signer.verifier

    @property
    def fingerprint(self) -> str:
        return org.root_fingerprint(self.key)

    def doors(self, *addresses: str, number: int = 1, door: str | None = None) -> org.DoorsList:
        return org.DoorsList(self.org_id, self.key, number, door, addresses or (address(),))

    def sign(self, doors: org.DoorsList | str) -> str:
        text = doors if isinstance(doors, str) else doors.record()
        return crypto.sign_note(text, [self.signer])


def new_root() -> Root:
    org_id = org.new_id()
    return Root(org_id, crypto.NoteSigner(org.root_key_name(org_id), crypto.SigningKey.generate()))


def address() -> str:
    return org.onion_address(os.urandom(32))


ROOT = new_root()
addresses = st.lists(
    st.binary(min_size=32, max_size=32).map(org.onion_address), min_size=1, max_size=8, unique=True
)
doors = st.one_of(st.none(), st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True))


@given(listed=addresses, door=doors, number=st.integers(1, 10**17))
def test_a_list_round_trips_through_its_record_and_signature(
    listed: list[str], door: str | None, number: int
) -> None:
    signed = ROOT.doors(*listed, number=number, door=door)
    assert org.DoorsList.from_record(signed.record()) == signed
    note = ROOT.sign(signed)
    assert org.verify_doors_list(note, ROOT.key) == signed
    assert org.open_doors_list(note, ROOT.fingerprint) == signed


def test_the_record_reads_as_documented() -> None:
    first, second = address(), address()
    text = ROOT.doors(first, second, number=7, door="news").record()
    assert text == (
        f"shoal doors v1\norganization {ROOT.org_id}\nroot {ROOT.key}\nnumber 7\n"
        f"door news\naddress {first}\naddress {second}\n"
    )
    general = ROOT.doors(first, number=8).record()
    assert "\ndoor " not in general
    assert org.DoorsList.from_record(general).door is None


@pytest.mark.parametrize(
    "spelling",
    [
        lambda f: f,
        lambda f: f.upper(),
        lambda f: f.replace("-", ""),
        lambda f: f"  {f.replace('-', '').upper()}\n",
    ],
)
def test_the_fingerprint_may_be_spelled_with_or_without_dashes_in_any_case(
    spelling: Callable[[str], str],
) -> None:
    note = ROOT.sign(ROOT.doors())
    assert org.open_doors_list(note, spelling(ROOT.fingerprint)).addresses


def test_a_fingerprint_that_is_none_is_a_value_error() -> None:
    note = ROOT.sign(ROOT.doors())
    for wrong in ("", "abcd", ROOT.fingerprint + "0", "g" * 32, "0" * 31):
        with pytest.raises(ValueError, match="32 hex digits"):
            org.open_doors_list(note, wrong)


def test_another_fingerprint_is_refused() -> None:
    note = ROOT.sign(ROOT.doors())
    with pytest.raises(crypto.SignatureError, match="fingerprint"):
        org.open_doors_list(note, new_root().fingerprint)


def test_a_list_signed_by_another_key_naming_the_real_root_is_refused() -> None:
    """The root line is the real key (its fingerprint matches), but another
    key signed: the signature, not the line, decides."""
    forger = crypto.NoteSigner(ROOT.key.name, crypto.SigningKey.generate())
    note = crypto.sign_note(ROOT.doors().record(), [forger])
    with pytest.raises(crypto.SignatureError):
        org.open_doors_list(note, ROOT.fingerprint)
    with pytest.raises(crypto.SignatureError):
        org.verify_doors_list(note, ROOT.key)


def test_tampered_text_is_refused() -> None:
    note = ROOT.sign(ROOT.doors(address()))
    swapped = note.replace(note.split("address ")[1][:56], address()[:56], 1)
    for tampered in (swapped, note.replace("number 1", "number 2"), "x" + note):
        with pytest.raises((crypto.CryptoError, org.OrgError)):
            org.open_doors_list(tampered, ROOT.fingerprint)
        with pytest.raises((crypto.CryptoError, org.OrgError)):
            org.verify_doors_list(tampered, ROOT.key)


def test_a_root_line_that_is_not_the_verifying_key_is_refused() -> None:
    """The server gives its own root: a list naming another root in its
    text but signed by this one (a command mistake) is not this root's."""
    other = new_root()
    text = dataclasses.replace(ROOT.doors(), root_key=other.key, org_id=other.org_id).record()
    note = ROOT.sign(text)
    with pytest.raises(org.NoteContentError, match="another root key"):
        org.verify_doors_list(note, ROOT.key)
    with pytest.raises(crypto.SignatureError):
        org.open_doors_list(note, other.fingerprint)  # its key did not sign


def test_a_root_named_for_another_organization_is_refused() -> None:
    other = new_root()
    # Our org id, the other organization's root key (named shoal/<other>/root).
    text = dataclasses.replace(ROOT.doors(), root_key=other.key).record()
    with pytest.raises(org.NoteContentError, match="not its organization's"):
        org.DoorsList.from_record(text)
    with pytest.raises(org.NoteContentError, match="not its organization's"):
        org.open_doors_list(other.sign(text), other.fingerprint)
    # A key named for our org that is not our root: the fingerprint tells.
    impostor = crypto.NoteSigner(org.root_key_name(ROOT.org_id), crypto.SigningKey.generate())
    forged = dataclasses.replace(ROOT.doors(), root_key=impostor.verifier).record()
    note = crypto.sign_note(forged, [impostor])
    with pytest.raises(crypto.SignatureError, match="fingerprint"):
        org.open_doors_list(note, ROOT.fingerprint)
    with pytest.raises(crypto.SignatureError):
        org.verify_doors_list(note, ROOT.key)


def test_another_organizations_list_is_refused() -> None:
    other = new_root()
    note = other.sign(other.doors())
    assert org.open_doors_list(note, other.fingerprint).org_id == other.org_id
    with pytest.raises(crypto.SignatureError):
        org.open_doors_list(note, ROOT.fingerprint)
    with pytest.raises(crypto.SignatureError):
        org.verify_doors_list(note, ROOT.key)


def _record(lines: list[str]) -> str:
    return "\n".join(["shoal doors v1", *lines]) + "\n"


def _head(number: str = "1") -> list[str]:
    return [f"organization {ROOT.org_id}", f"root {ROOT.key}", f"number {number}"]


GOOD = address()


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (_head(), "lacks address"),
        ([*_head(), f"address {GOOD}", f"address {GOOD}"], "repeated"),
        ([*_head(), f"address {GOOD.upper()}"], "malformed onion address"),
        ([*_head(), f"address {GOOD.removesuffix('.onion')}"], "malformed onion address"),
        ([*_head(), f"address http://{GOOD}"], "malformed onion address"),
        ([*_head(), f"address {GOOD[:55]}a.onion"], "malformed onion address"),
        ([*_head(), f"address {'a' * 16}.onion"], "malformed onion address"),
        ([*_head(), "door News", f"address {GOOD}"], "malformed door"),
        ([*_head(), "door a", "door b", f"address {GOOD}"], "repeated"),
        ([*_head("0"), f"address {GOOD}"], "malformed doors list number"),
        ([*_head("01"), f"address {GOOD}"], "malformed doors list number"),
        ([*_head(), f"address {GOOD}", "mirror x"], "unknown field"),
        ([f"organization {ROOT.org_id}", "root nonsense", "number 1", f"address {GOOD}"],
         "malformed root key"),
        ([*_head(), f"address  {GOOD}"], "malformed line"),
    ],
)  # fmt: skip
def test_malformed_records_are_refused(lines: list[str], problem: str) -> None:
    text = _record(lines)
    with pytest.raises(org.NoteContentError, match=problem):
        org.DoorsList.from_record(text)
    # Signed or not, the text is refused the same way.
    with pytest.raises(org.NoteContentError, match=problem):
        org.open_doors_list(ROOT.sign(text), ROOT.fingerprint)


def test_a_bad_checksum_is_told_from_a_good_one() -> None:
    good = address()
    # The same letters but the last of the key part: the checksum no longer matches.
    letters = good.removesuffix(".onion")
    flipped = letters[:51] + ("a" if letters[51] != "a" else "b") + letters[52:] + ".onion"
    with pytest.raises(ValueError, match="checksum"):
        org.check_onion_address(flipped)
    with pytest.raises(org.NoteContentError, match="malformed onion address"):
        org.DoorsList.from_record(_record([*_head(), f"address {flipped}"]))


@pytest.mark.parametrize(
    "listed",
    [(), ("nope.onion",), (GOOD, GOOD)],
)
def test_a_list_that_must_not_be_signed_has_no_record(listed: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        org.DoorsList(ROOT.org_id, ROOT.key, 1, None, listed).record()
    with pytest.raises(ValueError):
        org.DoorsList(ROOT.org_id, ROOT.key, 1, "Bad Door", (GOOD,)).record()


def test_a_note_without_a_signature_block_is_refused() -> None:
    text = ROOT.doors().record()
    with pytest.raises((crypto.CryptoError, org.OrgError)):
        org.open_doors_list(text, ROOT.fingerprint)
    with pytest.raises(crypto.NoteFormatError):
        org.verify_doors_list(text, ROOT.key)
