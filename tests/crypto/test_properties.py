"""Properties of the whole format, checked with Hypothesis.

* Round trip: any size (edge sizes around 64 KiB multiples, and random ones
  up to about 320 KiB), 1 to 5 recipients of either key type, encrypted
  through one shell and decrypted through another, with the input cut at
  arbitrary points.
* Any single flipped bit anywhere in a file is detected, whether it falls in
  the header, the payload nonce, a chunk body or a tag.
* Truncating a file anywhere, or appending anything to it, is detected.
* Armor: armored files round-trip, and the encoder's output always passes
  the strict decoder.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shoal import crypto
from shoal.crypto import _header
from shoal.crypto._armor import ArmorDecoder, ArmorEncoder
from shoal.crypto._stream import CHUNK_SIZE, NONCE_SIZE, TAG_SIZE

C = CHUNK_SIZE
EDGE_SIZES = [0, 1, 2, C - 1, C, C + 1, 2 * C - 1, 2 * C, 2 * C + 1, 3 * C - 1, 3 * C, 3 * C + 1]
EDGE_SIZES += [4 * C, 5 * C - 1, 5 * C, 5 * C + 1]

sizes = st.one_of(st.sampled_from(EDGE_SIZES), st.integers(0, 5 * C + 100))
small_sizes = st.one_of(
    st.sampled_from([0, 1, 2, 100, C - 1, C, C + 1, 2 * C - 1, 2 * C, 2 * C + 1, 3 * C]),
    st.integers(0, 3 * C),
)
key_types = st.sampled_from(list(crypto.KeyType))
shells = st.sampled_from(["bytes", "iter", "file"])

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@st.composite
def cuts(draw: st.DrawFn, length: int) -> list[int]:
    """Up to 8 cut points in ``0..length`` (empty pieces included)."""
    return sorted(draw(st.lists(st.integers(0, length), max_size=8)))


def split(data: bytes, points: list[int]) -> Iterator[bytes]:
    start = 0
    for point in [*points, len(data)]:
        yield data[start:point]
        start = point


def encrypt_with(
    shell: str,
    plaintext: bytes,
    recipients: list[crypto.Recipient],
    points: list[int],
    armor: bool = False,
) -> bytes:
    if shell == "bytes":
        return crypto.encrypt(plaintext, recipients, armor=armor)
    if shell == "iter":
        return b"".join(crypto.encrypt_iter(split(plaintext, points), recipients, armor=armor))
    dst = io.BytesIO()
    with crypto.encrypt_writer(dst, recipients, armor=armor) as writer:
        for piece in split(plaintext, points):
            writer.write(piece)
    return dst.getvalue()


def decrypt_with(
    shell: str, ciphertext: bytes, identities: list[crypto.Identity], points: list[int]
) -> bytes:
    if shell == "bytes":
        return crypto.decrypt(ciphertext, identities)
    if shell == "iter":
        return b"".join(crypto.decrypt_iter(split(ciphertext, points), identities))
    return crypto.decrypt_reader(io.BytesIO(ciphertext), identities).read()


# Round trips.


@PROPERTY
@given(
    key_type=key_types,
    count=st.integers(1, 5),
    size=sizes,
    seed=st.integers(0, 2**32),
    encrypt_shell=shells,
    decrypt_shell=shells,
    data=st.data(),
)
def test_round_trip(
    key_type: crypto.KeyType,
    count: int,
    size: int,
    seed: int,
    encrypt_shell: str,
    decrypt_shell: str,
    data: st.DataObject,
) -> None:
    event(f"chunks: {max(1, -(-size // C))}")
    identities = [crypto.generate_identity(key_type) for _ in range(count)]
    reader = identities[data.draw(st.integers(0, count - 1), label="reader")]
    plaintext = payload(size, seed)
    recipients: list[crypto.Recipient] = [i.recipient() for i in identities]
    ciphertext = encrypt_with(
        encrypt_shell, plaintext, recipients, data.draw(cuts(size), label="plaintext cuts")
    )
    points = data.draw(cuts(len(ciphertext)), label="ciphertext cuts")
    assert decrypt_with(decrypt_shell, ciphertext, [reader], points) == plaintext


@PROPERTY
@given(size=sizes, seed=st.integers(0, 2**32), data=st.data())
def test_every_shell_writes_the_same_layout(size: int, seed: int, data: st.DataObject) -> None:
    # Files differ (fresh file key and nonce) but not in length: the layout
    # is the format's, not the shell's.
    identity = crypto.generate_identity(crypto.KeyType.X25519)
    plaintext = payload(size, seed)
    lengths = set()
    for shell in ("bytes", "iter", "file"):
        points = data.draw(cuts(size), label=f"{shell} cuts")
        ciphertext = encrypt_with(shell, plaintext, [identity.recipient()], points)
        header = _header.find_end(ciphertext)
        assert header is not None
        lengths.add(len(ciphertext) - header)
    chunks = max(1, -(-size // C))
    assert lengths == {NONCE_SIZE + size + TAG_SIZE * chunks}


# Tampering is detected.


def layout(ciphertext: bytes) -> dict[str, list[tuple[int, int]]]:
    """Byte ranges of each region of a binary age file."""
    header = _header.find_end(ciphertext)
    assert header is not None
    regions: dict[str, list[tuple[int, int]]] = {
        "header": [(0, header)],
        "nonce": [(header, header + NONCE_SIZE)],
        "body": [],
        "tag": [],
    }
    position = header + NONCE_SIZE
    while position < len(ciphertext):
        chunk = min(C + TAG_SIZE, len(ciphertext) - position)
        if chunk > TAG_SIZE:
            regions["body"].append((position, position + chunk - TAG_SIZE))
        regions["tag"].append((position + chunk - TAG_SIZE, position + chunk))
        position += chunk
    regions["anywhere"] = [(0, len(ciphertext))]
    return regions


def index_in(
    data: st.DataObject, ciphertext: bytes, region: str, hint: str = "index"
) -> tuple[int, str]:
    regions = layout(ciphertext)
    if not regions[region]:
        region = "anywhere"  # an empty payload has no chunk body
    start, end = data.draw(st.sampled_from(regions[region]), label=f"{region} range")
    return data.draw(st.integers(start, end - 1), label=hint), region


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key_type=key_types,
    count=st.integers(1, 3),
    size=small_sizes,
    region=st.sampled_from(["header", "nonce", "body", "tag", "anywhere"]),
    bit=st.integers(0, 7),
    data=st.data(),
)
def test_any_flipped_bit_is_detected(
    key_type: crypto.KeyType,
    count: int,
    size: int,
    region: str,
    bit: int,
    data: st.DataObject,
) -> None:
    if region == "body":
        size = max(size, 1)  # an empty payload has no chunk body to flip
    identities = [crypto.generate_identity(key_type) for _ in range(count)]
    ciphertext = crypto.encrypt(payload(size, size), [i.recipient() for i in identities])
    index, region = index_in(data, ciphertext, region)
    event(f"region: {region}")
    flipped = bytearray(ciphertext)
    flipped[index] ^= 1 << bit
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(bytes(flipped), identities)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key_type=key_types, size=small_sizes, bit=st.integers(0, 7), data=st.data())
def test_any_flipped_bit_in_an_armored_file_is_detected(
    key_type: crypto.KeyType, size: int, bit: int, data: st.DataObject
) -> None:
    identity = crypto.generate_identity(key_type)
    text = crypto.encrypt(payload(size, 1), [identity.recipient()], armor=True)
    index = data.draw(st.integers(0, len(text) - 1), label="index")
    flipped = bytearray(text)
    flipped[index] ^= 1 << bit
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(bytes(flipped), [identity])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key_type=key_types,
    size=small_sizes,
    region=st.sampled_from(["header", "nonce", "body", "tag", "anywhere", "boundary"]),
    shell=shells,
    data=st.data(),
)
def test_truncation_anywhere_is_detected(
    key_type: crypto.KeyType, size: int, region: str, shell: str, data: st.DataObject
) -> None:
    identity = crypto.generate_identity(key_type)
    ciphertext = crypto.encrypt(payload(size, 2), [identity.recipient()])
    if region == "boundary":
        # Exactly at the end of the header, of the nonce, or of a chunk.
        ends = sorted({end for ranges in layout(ciphertext).values() for _, end in ranges})
        cut = data.draw(st.sampled_from([e for e in ends if e < len(ciphertext)] or [0]))
    else:
        cut, _ = index_in(data, ciphertext, region, "cut")
    points = data.draw(cuts(cut), label="cuts")
    with pytest.raises(crypto.DecryptionError):
        decrypt_with(shell, ciphertext[:cut], [identity], points)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key_type=key_types,
    size=small_sizes,
    extra=st.one_of(
        st.binary(min_size=1, max_size=64),
        st.sampled_from([b"\n", b" ", b"\x00", bytes(TAG_SIZE), bytes(C + TAG_SIZE)]),
    ),
    shell=shells,
)
def test_appended_bytes_are_detected(
    key_type: crypto.KeyType, size: int, extra: bytes, shell: str
) -> None:
    identity = crypto.generate_identity(key_type)
    ciphertext = crypto.encrypt(payload(size, 3), [identity.recipient()])
    with pytest.raises(crypto.DecryptionError):
        decrypt_with(shell, ciphertext + extra, [identity], [len(ciphertext)])


@settings(max_examples=30, deadline=None)
@given(key_type=key_types, size=small_sizes)
def test_appending_a_copy_of_the_last_chunk_is_detected(
    key_type: crypto.KeyType, size: int
) -> None:
    identity = crypto.generate_identity(key_type)
    ciphertext = crypto.encrypt(payload(size, 4), [identity.recipient()])
    last_chunk = layout(ciphertext)["tag"][-1][1] - (size % C or (C if size else 0)) - TAG_SIZE
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(ciphertext + ciphertext[last_chunk:], [identity])


@settings(max_examples=30, deadline=None)
@given(key_type=key_types, size=small_sizes)
def test_a_file_for_someone_else_is_not_decrypted(key_type: crypto.KeyType, size: int) -> None:
    ciphertext = crypto.encrypt(payload(size, 5), [crypto.generate_identity(key_type).recipient()])
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(ciphertext, [crypto.generate_identity(key_type)])


# Armor.


@PROPERTY
@given(
    key_type=key_types,
    size=sizes,
    encrypt_shell=shells,
    decrypt_shell=shells,
    data=st.data(),
)
def test_armored_round_trip(
    key_type: crypto.KeyType,
    size: int,
    encrypt_shell: str,
    decrypt_shell: str,
    data: st.DataObject,
) -> None:
    identity = crypto.generate_identity(key_type)
    plaintext = payload(size, size + 1)
    text = encrypt_with(
        encrypt_shell, plaintext, [identity.recipient()], data.draw(cuts(size)), armor=True
    )
    assert text.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
    points = data.draw(cuts(len(text)), label="text cuts")
    assert decrypt_with(decrypt_shell, text, [identity], points) == plaintext


@settings(max_examples=200, deadline=None)
@given(
    blob=st.one_of(
        st.binary(max_size=500),
        st.integers(0, 5000).map(lambda n: random.Random(n).randbytes(n)),
    ),
    data=st.data(),
)
def test_armor_encoder_output_always_passes_the_strict_decoder(
    blob: bytes, data: st.DataObject
) -> None:
    encoder = ArmorEncoder()
    text = b"".join(encoder.update(p) for p in split(blob, data.draw(cuts(len(blob)))))
    text += encoder.finalize()
    lines = text.split(b"\n")
    assert lines[-1] == b""
    assert all(len(line) <= 64 for line in lines[1:-2])
    decoder = ArmorDecoder()
    decoded = b"".join(decoder.update(p) for p in split(text, data.draw(cuts(len(text)))))
    assert decoded + decoder.finalize() == blob


@settings(max_examples=100, deadline=None)
@given(blob=st.binary(min_size=1, max_size=300), data=st.data())
def test_the_strict_decoder_has_one_encoding_per_input(blob: bytes, data: st.DataObject) -> None:
    # Replacing any body character by another that still decodes must be
    # rejected or decode differently: armor is not malleable.
    encoder = ArmorEncoder()
    text = encoder.update(blob) + encoder.finalize()
    body_start = text.index(b"\n") + 1
    body_end = text.rindex(b"-----END")
    index = data.draw(st.integers(body_start, body_end - 1), label="index")
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n"
    replacement = data.draw(st.sampled_from(alphabet).filter(lambda c: c != text[index]))
    changed = bytearray(text)
    changed[index] = replacement
    decoder = ArmorDecoder()
    try:
        decoded = decoder.update(bytes(changed)) + decoder.finalize()
    except crypto.DecryptionError:
        return
    assert decoded != blob
