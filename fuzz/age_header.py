"""Fuzz the age header parser (``shoal.crypto._header``) and, behind it,
the whole decryption of a binary or armored file.

Contract checked on every input:

* ``find_end`` returns None, the header's length, or raises ``HeaderError``;
  resumed where a previous call stopped (as ``Decryption`` feeds it), it
  finds the same end;
* ``parse`` of what ``find_end`` delimits returns a header or raises
  ``HeaderError``; a header it accepts re-encodes to exactly its bytes (the
  parser is strict, so one header has one spelling and the MAC pins it);
* ``crypto.decrypt`` with the C2SP test kit's X25519 and post-quantum
  identities returns plaintext or raises ``DecryptionError``, the one error
  its callers catch.

Seeds: every file of the C2SP age test kit, its header stripped
(``fuzz/seed_corpus.py``).
"""

from __future__ import annotations

import contextlib

import atheris

from _harness import main

with atheris.instrument_imports(include=["shoal.crypto"]):
    from shoal import crypto
    from shoal.crypto import _base64, _header
    from shoal.crypto.errors import DecryptionError, HeaderError

IDENTITIES = [
    crypto.parse_identity(
        "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"
    ),
    crypto.parse_identity(
        "AGE-SECRET-KEY-PQ-1HZLGZUPT4ETPKDEV8HSGFDCYZ4E522W0A7PU2LHT8EH9W6YLNC3SW78XKG"
    ),
]


def parsed(data: bytes, end: int | None) -> _header.Header | None:
    """The header ``find_end`` delimited, or None (incomplete or refused)."""
    if end is None:
        return None
    try:
        return _header.parse(data[:end])
    except HeaderError:
        return None


def check_header(data: bytes) -> None:
    try:
        end = _header.find_end(data)
    except HeaderError:
        return
    header = parsed(data, end)
    # Fed in two pieces, as Decryption does: a search resumed where an
    # unfinished one stopped accepts the same header. (Its end may differ
    # only past a malformed MAC line, which parse refuses either way.)
    cut = len(data) // 2
    first = _header.find_end(data[:cut])
    assert first in (None, end)
    if first is None:
        assert parsed(data, _header.find_end(data, cut)) == header
    if header is None:
        return
    stanzas = b"".join(_header.encode_stanza(s) for s in header.stanzas)
    assert header.mac_input == _header.VERSION_LINE + stanzas + _header.MAC_PREFIX
    assert data[:end] == header.mac_input + b" " + _base64.encode(header.mac) + b"\n"


def test_one_input(data: bytes) -> None:
    check_header(data)
    with contextlib.suppress(DecryptionError):
        crypto.decrypt(data, IDENTITIES)


if __name__ == "__main__":
    main("age_header", test_one_input)
