"""Fuzz the ASCII armor decoder (``shoal.crypto._armor``).

Contract checked on every input, fed in two pieces at a point the input
chooses (the decoder streams, so the split must not matter):

* ``ArmorDecoder`` returns bytes or raises ``ArmorError``, and the same
  either way for both feedings;
* what it accepts is canonical: re-armored by ``ArmorEncoder``, the bytes
  give back exactly the input's block from the begin line through the end
  line, once CRLF line ends are read as LF (the only liberty the strict
  decoder allows, besides whitespace around the block).

Seeds: the armored files of the C2SP age test kit.
"""

from __future__ import annotations

import atheris

from _harness import main

with atheris.instrument_imports(include=["shoal.crypto"]):
    from shoal.crypto._armor import BEGIN_LINE, END_LINE, ArmorDecoder, ArmorEncoder
    from shoal.crypto.errors import ArmorError


def decode(pieces: list[bytes]) -> bytes | None:
    decoder = ArmorDecoder()
    try:
        out = b"".join(decoder.update(piece) for piece in pieces)
        return out + decoder.finalize()
    except ArmorError:
        return None


def armored(data: bytes) -> bytes:
    encoder = ArmorEncoder()
    return encoder.update(data) + encoder.finalize()


def test_one_input(data: bytes) -> None:
    if not data:
        return
    cut = data[0] * len(data) // 256
    text = data[1:]
    whole = decode([text])
    assert decode([text[:cut], text[cut:]]) == whole
    if whole is None:
        return
    begin = text.index(BEGIN_LINE)
    end = text.index(END_LINE, begin) + len(END_LINE)
    assert armored(whole) == text[begin:end].replace(b"\r\n", b"\n") + b"\n"
    assert decode([armored(whole)]) == whole


if __name__ == "__main__":
    main("armor", test_one_input)
