"""The enrollment bundle's signature: it binds the recipient to the verify key.

The handler id command compares out of band is a fingerprint of the verify
key only; without the signature, whoever carries the bundle could swap in
their own recipient and still show the handler's id.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from shoal import crypto, trusted

NOT_SIGNED_BY_IT = "signature does not verify: it was altered or made by someone else"


def signed() -> tuple[trusted.Enrollment, str]:
    key = crypto.SigningKey.generate()
    enrollment = trusted.Enrollment(crypto.generate_identity().recipient(), key.verify_key)
    return enrollment, enrollment.text(key)


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def test_a_bundle_carries_a_signature_over_its_keys() -> None:
    key = crypto.SigningKey.generate()
    enrollment = trusted.Enrollment(crypto.generate_identity().recipient(), key.verify_key)
    magic, recipient, verify_key, signature = lines_of(enrollment.text(key))
    assert (magic, recipient) == ("shoal enrollment v1", f"recipient {enrollment.recipient}")
    assert verify_key == "verify-key " + base64.b64encode(key.verify_key.public_bytes).decode()
    assert signature.startswith("signature ")
    message = b"shoal enrollment v1 signature\n" + f"{recipient}\n{verify_key}\n".encode()
    key.verify_key.verify(base64.b64decode(signature.removeprefix("signature ")), message)


def test_only_the_verify_keys_own_signing_key_makes_a_bundle() -> None:
    enrollment, _ = signed()
    with pytest.raises(ValueError, match="its own verify key's signing key"):
        enrollment.text(crypto.SigningKey.generate())


def test_a_swapped_recipient_is_refused() -> None:
    """The reviewer's attack: another key's recipient, everything else kept."""
    _, text = signed()
    attacker = crypto.generate_identity().recipient()
    lines = lines_of(text)
    lines[1] = f"recipient {attacker}"
    with pytest.raises(trusted.EnrollmentError, match=NOT_SIGNED_BY_IT):
        trusted.Enrollment.parse("\n".join(lines) + "\n")


def test_a_bundle_without_its_signature_line_is_refused() -> None:
    _, text = signed()
    unsigned = "\n".join(lines_of(text)[:3]) + "\n"
    with pytest.raises(trusted.EnrollmentError, match="not signed"):
        trusted.Enrollment.parse(unsigned)


def test_a_bundle_signed_by_another_key_is_refused() -> None:
    _, text = signed()
    _, other_text = signed()
    # The attacker's own bundle, with the handler's verify-key line put in:
    # the handler id now matches, but the attacker cannot sign for that key.
    lines = lines_of(other_text)
    lines[2] = lines_of(text)[2]
    with pytest.raises(trusted.EnrollmentError, match=NOT_SIGNED_BY_IT):
        trusted.Enrollment.parse("\n".join(lines) + "\n")
    # The genuine keys with another bundle's signature line.
    lines = lines_of(text)
    lines[3] = lines_of(other_text)[3]
    with pytest.raises(trusted.EnrollmentError, match=NOT_SIGNED_BY_IT):
        trusted.Enrollment.parse("\n".join(lines) + "\n")


def test_a_signature_of_another_message_is_refused() -> None:
    """Signed by the right key, but not over this bundle's lines in context."""
    key = crypto.SigningKey.generate()
    enrollment = trusted.Enrollment(crypto.generate_identity().recipient(), key.verify_key)
    lines = lines_of(enrollment.text(key))
    for message in (
        f"{lines[1]}\n{lines[2]}\n".encode(),  # no domain separation
        b"shoal enrollment v1 signature\n" + f"{lines[2]}\n{lines[1]}\n".encode(),
    ):
        lines[3] = "signature " + base64.b64encode(key.sign(message)).decode()
        with pytest.raises(trusted.EnrollmentError, match=NOT_SIGNED_BY_IT):
            trusted.Enrollment.parse("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda ls: [ls[0], ls[2], ls[1], ls[3]], "in that order"),
        (lambda ls: [ls[0], ls[1], ls[3], ls[2]], "in that order"),
        (lambda ls: [ls[0], ls[3], ls[1], ls[2]], "in that order"),
        (lambda ls: [*ls, "extra line"], "nothing else"),
        (lambda ls: [*ls, ls[3]], "nothing else"),
        (lambda ls: [ls[0], ls[1], ls[1], ls[2], ls[3]], "nothing else"),
        (lambda ls: [ls[0], ls[1], ls[3]], "in that order"),
        (lambda ls: ls[1:], "not a shoal enrollment v1 bundle"),
        (lambda ls: ["shoal enrollment v2", *ls[1:]], "not a shoal enrollment v1 bundle"),
        (lambda ls: [ls[0], ls[0], *ls[1:]], "in that order"),
        (lambda ls: [*ls[:3], "signature AAAA"], NOT_SIGNED_BY_IT),
        (lambda ls: [*ls[:3], "signature not*base64"], "malformed signature"),
        (lambda ls: [*ls[:3], "signature"], NOT_SIGNED_BY_IT),
        (lambda ls: [*ls[:3], "signature: " + ls[3].split()[1]], "in that order"),
        (lambda ls: [ls[0], ls[1].replace(" ", "  ", 1), *ls[2:]], NOT_SIGNED_BY_IT),
        (lambda ls: [ls[0], "recipient age1nope", *ls[2:]], "malformed key"),
        (lambda ls: [ls[0], ls[1], "verify-key AAAA", ls[3]], "malformed key"),
    ],
)
def test_parsing_is_strict(edit: Callable[[list[str]], list[str]], message: str) -> None:
    _, text = signed()
    with pytest.raises(trusted.EnrollmentError, match=message):
        trusted.Enrollment.parse("\n".join(edit(lines_of(text))) + "\n")


def test_what_mail_adds_is_still_tolerated() -> None:
    enrollment, text = signed()
    mailed = "\r\n\r\n".join(f"\t {line}  " for line in lines_of(text)) + "\r\n"
    assert trusted.Enrollment.parse(mailed) == enrollment
