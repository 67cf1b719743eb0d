"""The audit log's Merkle tree, proofs, checkpoints and the desk's decisions.

Oracles, so that no test checks the code against itself: roots computed by
hand from the RFC 9162 definition; the RFC 6962 vectors that
transparency-dev/merkle publishes (testonly/constants.go), which every other
implementation is tested against; and, for tampering, the rule that a proof
verifies only if it is exactly the proof the generator makes for those
parameters (the minimal proof is unique, so anything else needs a collision).
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal import crypto
from shoal.org._tlog import (
    EMPTY_ROOT,
    MAX_SIZE,
    Checkpoint,
    CheckpointError,
    HashSource,
    LogState,
    MemoryHashSource,
    Prover,
    TlogError,
    TlogForkError,
    TlogProofError,
    TlogRollbackError,
    advance,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    open_checkpoint,
    root,
    same_history,
    sign_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from shoal.org.errors import OrgError


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaves_of(n: int, tag: bytes = b"entry") -> list[bytes]:
    return [leaf_hash(tag + i.to_bytes(4, "big")) for i in range(n)]


def raises_proof(check: Callable[[], None]) -> bool:
    try:
        check()
    except TlogProofError:
        return True
    return False


# --- hashing, by hand ------------------------------------------------------


def test_leaf_and_node_hashes_are_domain_separated_sha256() -> None:
    assert leaf_hash(b"abc") == sha(b"\x00abc")
    assert node_hash(b"L" * 32, b"R" * 32) == sha(b"\x01" + b"L" * 32 + b"R" * 32)
    assert sha(b"") == EMPTY_ROOT
    assert leaf_hash(b"") == bytes.fromhex(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


def test_small_trees_by_hand() -> None:
    h = [leaf_hash(bytes([i])) for i in range(8)]
    n = node_hash
    assert root([]) == sha(b"")
    assert root(h[:1]) == h[0]
    assert root(h[:2]) == n(h[0], h[1])
    # Size 3 splits at 2 (the largest power of two below 3), not in the middle.
    assert root(h[:3]) == n(n(h[0], h[1]), h[2])
    left4 = n(n(h[0], h[1]), n(h[2], h[3]))
    assert root(h[:7]) == n(left4, n(n(h[4], h[5]), h[6]))
    assert root(h[:8]) == n(left4, n(n(h[4], h[5]), n(h[6], h[7])))


def test_small_proofs_by_hand() -> None:
    h = [leaf_hash(bytes([i])) for i in range(8)]
    n = node_hash
    assert inclusion_proof(h[:1], 0) == []
    assert inclusion_proof(h[:3], 0) == [h[1], h[2]]
    assert inclusion_proof(h[:3], 2) == [n(h[0], h[1])]
    assert inclusion_proof(h[:7], 6) == [n(h[4], h[5]), n(n(h[0], h[1]), n(h[2], h[3]))]
    assert inclusion_proof(h[:8], 5) == [h[4], n(h[6], h[7]), n(n(h[0], h[1]), n(h[2], h[3]))]
    # RFC 9162 2.1.4.3's example: from 3 leaves to 7.
    assert consistency_proof(h[:7], 3, 7) == [
        h[2],
        h[3],
        n(h[0], h[1]),
        n(n(h[4], h[5]), h[6]),
    ]
    # From a power of two, MTH(D[0:m]) is left out: the verifier has it.
    assert consistency_proof(h[:7], 4, 7) == [n(n(h[4], h[5]), h[6])]
    assert consistency_proof(h[:8], 0, 8) == []
    assert consistency_proof(h[:8], 8, 8) == []


# transparency-dev/merkle testonly/constants.go: data, not code.
REF_DATA = [
    bytes.fromhex(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
REF_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
REF_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
REF_CONSISTENCY = {
    (2, 8): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


def test_reference_vectors_from_transparency_dev() -> None:
    hashes = [leaf_hash(d) for d in REF_DATA]
    for size, expected in enumerate(REF_ROOTS):
        assert root(hashes[:size]).hex() == expected, size
    for (index, size), proof in REF_INCLUSION.items():
        assert [p.hex() for p in inclusion_proof(hashes[:size], index)] == proof
        verify_inclusion(
            hashes[index], index, size, [bytes.fromhex(p) for p in proof], root(hashes)
        )
    for (m, n), proof in REF_CONSISTENCY.items():
        assert [p.hex() for p in consistency_proof(hashes, m, n)] == proof
        verify_consistency(
            m, n, root(hashes[:m]), root(hashes[:n]), [bytes.fromhex(p) for p in proof]
        )


# --- inclusion ----------------------------------------------------------------

unique_leaves = st.lists(st.binary(max_size=6), unique=True, min_size=1, max_size=40).map(
    lambda data: [leaf_hash(d) for d in data]
)


def flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def tampered_lists(proof: list[bytes], bit: int) -> list[list[bytes]]:
    """Every proof one edit away: each element with a bit flipped, each
    element dropped, an element added at each end, neighbours swapped."""
    out = []
    for i in range(len(proof)):
        out.append([*proof[:i], flip(proof[i], bit), *proof[i + 1 :]])
        out.append(proof[:i] + proof[i + 1 :])
    for extra in (sha(b"x"), *proof[:1]):
        out.append([*proof, extra])
        out.append([extra, *proof])
    out.extend(
        [*proof[:i], proof[i + 1], proof[i], *proof[i + 2 :]]
        for i in range(len(proof) - 1)
        if proof[i] != proof[i + 1]
    )
    return out


@given(unique_leaves, st.integers(0, 255))
def test_every_inclusion_proof_verifies_and_every_tampering_is_refused(
    hashes: list[bytes], bit: int
) -> None:
    size = len(hashes)
    head = root(hashes)
    for index in range(size):
        proof = inclusion_proof(hashes, index)
        verify_inclusion(hashes[index], index, size, proof, head)
        for bad in tampered_lists(proof, bit):
            assert raises_proof(lambda b=bad: verify_inclusion(hashes[index], index, size, b, head))
        assert raises_proof(
            lambda: verify_inclusion(flip(hashes[index], bit), index, size, proof, head)
        )
        assert raises_proof(
            lambda: verify_inclusion(hashes[index], index, size, proof, flip(head, bit))
        )
        for other in range(-1, size + 2):
            if other != index:
                assert raises_proof(
                    lambda o=other: verify_inclusion(hashes[index], o, size, proof, head)
                )


@given(unique_leaves, st.data())
def test_an_inclusion_proof_does_not_verify_against_another_tree_head(
    hashes: list[bytes], data: st.DataObject
) -> None:
    """A proof for size n against the genuine head of another size fails."""
    size = data.draw(st.integers(1, len(hashes)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(hashes[:size], index)
    for other in range(index + 1, len(hashes) + 1):
        if other != size:
            head = root(hashes[:other])
            assert raises_proof(
                lambda o=other, h=head: verify_inclusion(hashes[index], index, o, proof, h)
            )
    for other in (-1, 0, index):  # sizes that cannot hold the index at all
        if other <= index:
            assert raises_proof(
                lambda o=other: verify_inclusion(
                    hashes[index], index, o, proof, root(hashes[:size])
                )
            )


@given(unique_leaves, st.data())
def test_with_one_root_a_wrong_size_passes_only_where_the_hashing_is_the_same(
    hashes: list[bytes], data: st.DataObject
) -> None:
    size = len(hashes)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(hashes, index)
    head = root(hashes)
    for other in range(index + 1, 2 * size + 3):
        if other != size and not raises_proof(
            lambda o=other: verify_inclusion(hashes[index], index, o, proof, head)
        ):
            # The verifier consumed exactly the path of (index, other).
            assert len(inclusion_proof(leaves_of(other), index)) == len(proof)


def test_an_inclusion_proof_binds_the_root_not_the_size_alone() -> None:
    """Why callers must take size and root from one checkpoint (see the
    module docstring): index 0 of 3 leaves hashes exactly like index 0 of 4."""
    h = leaves_of(4)
    proof = inclusion_proof(h[:3], 0)
    verify_inclusion(h[0], 0, 4, proof, root(h[:3]))  # the same two hashings
    with pytest.raises(TlogProofError):
        verify_inclusion(h[0], 0, 4, proof, root(h))


@pytest.mark.parametrize(
    ("index", "size", "proof_len", "why"),
    [
        (0, 0, 0, "index outside the tree"),
        (3, 3, 1, "index outside the tree"),
        (-1, 3, 1, "index outside the tree"),
        (0, 1, 1, "too long"),
        (0, 4, 1, "too short"),
    ],
)
def test_inclusion_rejection_reasons(index: int, size: int, proof_len: int, why: str) -> None:
    with pytest.raises(TlogProofError, match=why):
        verify_inclusion(sha(b"l"), index, size, [sha(b"p")] * proof_len, sha(b"r"))


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_hashes_of_the_wrong_length_are_refused(length: int) -> None:
    h = leaves_of(5)
    good = inclusion_proof(h, 2)
    odd = b"\x07" * length
    for args in (
        (odd, 2, 5, good, root(h)),
        (h[2], 2, 5, good, odd),
        (h[2], 2, 5, [*good[:-1], odd], root(h)),
    ):
        with pytest.raises(TlogProofError, match="32-byte"):
            verify_inclusion(*args)
    with pytest.raises(TlogProofError, match="32-byte"):
        verify_consistency(2, 5, odd, root(h), consistency_proof(h, 2, 5))


# --- consistency ------------------------------------------------------------


def check_consistency_pair(hashes: list[bytes], m: int, n: int, bit: int) -> None:
    """Verify the proof for (m, n) and refuse every tampering of it."""
    root_m, root_n = root(hashes[:m]), root(hashes[:n])
    proof = consistency_proof(hashes, m, n)
    verify_consistency(m, n, root_m, root_n, proof)
    for bad in tampered_lists(proof, bit):
        assert raises_proof(lambda b=bad: verify_consistency(m, n, root_m, root_n, b)), (m, n, bad)
    assert raises_proof(lambda: verify_consistency(m, n, flip(root_m, bit), root_n, proof))
    # Every tree extends the empty one: from size 0 to a larger size, the
    # second root is unconstrained.
    unconstrained = m == 0 < n
    assert (
        raises_proof(lambda: verify_consistency(m, n, root_m, flip(root_n, bit), proof))
        != unconstrained
    )
    # Against the genuine head of another size, only that size's own proof passes.
    for other_m in range(n + 1):
        if other_m != m:
            passed = not raises_proof(
                lambda o=other_m: verify_consistency(o, n, root(hashes[:o]), root_n, proof)
            )
            assert passed == (proof == consistency_proof(hashes, other_m, n)), (m, other_m, n)
    for other_n in range(m, len(hashes) + 1):
        if other_n != n:
            passed = not raises_proof(
                lambda o=other_n: verify_consistency(m, o, root_m, root(hashes[:o]), proof)
            )
            assert passed == (proof == consistency_proof(hashes, m, other_n)), (m, n, other_n)
    for other in (-1, n + 1):
        assert raises_proof(lambda o=other: verify_consistency(o, n, root_m, root_n, proof))


def test_every_consistency_pair_up_to_17_leaves() -> None:
    hashes = leaves_of(17)
    for n in range(18):
        for m in range(n + 1):
            check_consistency_pair(hashes, m, n, bit=(m * 31 + n) % 256)


@given(unique_leaves, st.data())
def test_random_consistency_proofs_verify_and_tampering_is_refused(
    hashes: list[bytes], data: st.DataObject
) -> None:
    n = data.draw(st.integers(0, len(hashes)), label="n")
    m = data.draw(st.integers(0, n), label="m")
    check_consistency_pair(hashes, m, n, data.draw(st.integers(0, 255), label="bit"))


def test_the_trivial_consistency_cases() -> None:
    h = leaves_of(5)
    verify_consistency(0, 5, EMPTY_ROOT, root(h), [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(5, 5, root(h), root(h), [])
    with pytest.raises(TlogProofError, match="is empty"):
        verify_consistency(0, 5, EMPTY_ROOT, root(h), [h[0]])
    with pytest.raises(TlogProofError, match="is empty"):
        verify_consistency(5, 5, root(h), root(h), [h[0]])
    with pytest.raises(TlogProofError, match="two different roots"):
        verify_consistency(4, 4, root(h[:4]), root(h), [])
    with pytest.raises(TlogProofError, match="empty tree"):
        verify_consistency(0, 5, root(h), root(h), [])
    with pytest.raises(TlogProofError, match="empty consistency proof"):
        verify_consistency(3, 5, root(h[:3]), root(h), [])


# --- the right edge and the provers ---------------------------------------


@given(st.lists(st.binary(max_size=4), max_size=70))
def test_the_right_edge_root_matches_full_recomputation_after_every_append(
    data: list[bytes],
) -> None:
    state = LogState()
    hashes: list[bytes] = []
    assert state.root == EMPTY_ROOT
    for d in data:
        old_size = state.size
        state, finished = state.append(leaf_hash(d))
        hashes.append(leaf_hash(d))
        assert state.size == len(hashes)
        assert state.root == root(hashes)
        assert len(state.edge) <= state.size.bit_length()
        # The finished subtrees are exactly the perfect ones ending here.
        assert [(s.level, s.index) for s in finished] == [
            (level, old_size >> level)
            for level in range(1, 64)
            if (old_size + 1) % (1 << level) == 0
        ]
        for s in finished:
            assert s.hash == root(hashes[s.index << s.level : (s.index + 1) << s.level])


@given(unique_leaves, st.sampled_from([None, 1, 2, 3, 7]))
def test_stored_subtrees_change_no_proof(hashes: list[bytes], store_level: int | None) -> None:
    source = MemoryHashSource(store_level)
    for h in hashes:
        source.append(h)
    prover = Prover(source)
    n = len(hashes)
    assert prover.root(n) == source.state.root == root(hashes)
    assert prover.state(n) == source.state
    for i in range(n):
        assert prover.inclusion_proof(i, n) == inclusion_proof(hashes, i)
    for m in range(n + 1):
        assert prover.consistency_proof(m, n) == consistency_proof(hashes, m, n)
        assert prover.state(m).root == root(hashes[:m])


def test_log_state_refuses_a_corrupt_row() -> None:
    with pytest.raises(ValueError):
        LogState(3, (sha(b"a"),))
    with pytest.raises(ValueError):
        LogState(1, (b"short",))
    with pytest.raises(ValueError):
        LogState(-1, ())
    with pytest.raises(ValueError):
        LogState().append(b"short")


def test_the_memory_source_stores_the_levels_it_is_asked_to() -> None:
    source = MemoryHashSource(store_level=2)
    for h in leaves_of(8):
        source.append(h)
    assert source.subtree(1, 0) is None
    assert source.subtree(2, 1) == root(leaves_of(8)[4:])
    assert source.subtree(3, 0) == root(leaves_of(8))
    assert MemoryHashSource(None).append(sha(b"a")).size == 1


def test_a_full_log_refuses_another_entry() -> None:
    full = LogState(MAX_SIZE, (sha(b"e"),) * MAX_SIZE.bit_count())
    with pytest.raises(ValueError, match="full"):
        full.append(sha(b"one more"))


def test_provers_refuse_impossible_requests() -> None:
    h = leaves_of(4)
    with pytest.raises(ValueError):
        inclusion_proof(h, 4)
    with pytest.raises(ValueError):
        consistency_proof(h, 3, 2)
    with pytest.raises(ValueError):
        consistency_proof(h, 2, 5)
    with pytest.raises(IndexError):
        MemoryHashSource().leaf(0)


class CountingSource:
    """A HashSource view that counts reads and hides stored levels below
    ``min_level``, as a database adapter storing only those would."""

    def __init__(self, source: HashSource, min_level: int | None) -> None:
        self.source, self.min_level = source, min_level
        self.leaf_reads = self.lookups = 0

    def leaf(self, index: int) -> bytes:
        self.leaf_reads += 1
        return self.source.leaf(index)

    def subtree(self, level: int, index: int) -> bytes | None:
        if self.min_level is None or level < self.min_level:
            return None
        self.lookups += 1
        return self.source.subtree(level, index)


BIG = 100_000


@pytest.fixture(scope="module")
def big_log() -> MemoryHashSource:
    source = MemoryHashSource(store_level=1)
    for i in range(BIG):
        source.append(leaf_hash(i.to_bytes(4, "big")))
    return source


@pytest.mark.parametrize(
    ("min_level", "leaf_bound", "samples"),
    [(1, 4, 300), (5, 4 * 32, 300), (None, 2 * BIG, 3)],
    ids=["all-nodes", "from-level-5", "leaves-only"],
)
def test_proof_cost_over_100k_leaves(
    big_log: MemoryHashSource, min_level: int | None, leaf_bound: int, samples: int
) -> None:
    """Prints the time per proof (not asserted); asserts the reads it needs."""
    head = big_log.state.root
    rng = random.Random(min_level or 0)
    counting = CountingSource(big_log, min_level)
    prover = Prover(counting)
    worst_leaves = worst_lookups = 0
    started = time.perf_counter()
    for _ in range(samples):
        index = rng.randrange(BIG)
        before = (counting.leaf_reads, counting.lookups)
        proof = prover.inclusion_proof(index, BIG)
        worst_leaves = max(worst_leaves, counting.leaf_reads - before[0])
        worst_lookups = max(worst_lookups, counting.lookups - before[1])
        verify_inclusion(big_log.leaf(index), index, BIG, proof, head)
    inclusion_ms = (time.perf_counter() - started) * 1000 / samples
    started = time.perf_counter()
    for _ in range(samples):
        m = rng.randrange(1, BIG)
        before = (counting.leaf_reads, counting.lookups)
        proof = prover.consistency_proof(m, BIG)
        worst_leaves = max(worst_leaves, counting.leaf_reads - before[0])
        worst_lookups = max(worst_lookups, counting.lookups - before[1])
        verify_consistency(m, BIG, Prover(big_log).root(m), head, proof)
    consistency_ms = (time.perf_counter() - started) * 1000 / samples
    print(
        f"\n{BIG} leaves, stored nodes from level {min_level}: inclusion "
        f"{inclusion_ms:.3f} ms, consistency {consistency_ms:.3f} ms per proof "
        f"(worst: {worst_leaves} leaf reads, {worst_lookups} node lookups)"
    )
    assert worst_leaves <= leaf_bound
    assert worst_lookups <= 4 * BIG.bit_length()


# --- checkpoints ---------------------------------------------------------------

SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
ORIGIN = "shoal.example/log"


def test_the_spec_example_body_round_trips() -> None:
    checkpoint = Checkpoint.parse(SPEC_BODY)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint.body() == SPEC_BODY


origins = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), exclude_characters="+"),
    min_size=1,
    max_size=30,
).filter(lambda s: not any(c.isspace() for c in s))
extension_lines = st.text(
    st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=20
).filter(lambda s: "\x7f" not in s)


@given(
    origins,
    st.integers(1, MAX_SIZE),
    st.binary(min_size=32, max_size=32),
    st.lists(extension_lines, max_size=3),
)
def test_checkpoint_bodies_round_trip(
    origin: str, size: int, head: bytes, extensions: list[str]
) -> None:
    checkpoint = Checkpoint(origin, size, head, tuple(extensions))
    body = checkpoint.body()
    assert body.count("\n") == 3 + len(extensions)
    assert Checkpoint.parse(body) == checkpoint
    assert Checkpoint.parse(Checkpoint(origin, 0, EMPTY_ROOT).body()).size == 0


GOOD_ROOT = base64.b64encode(sha(b"root")).decode()
GOOD = f"{ORIGIN}\n12\n{GOOD_ROOT}\n"


def test_the_base_of_the_malformed_bodies_is_good() -> None:
    assert Checkpoint.parse(GOOD) == Checkpoint(ORIGIN, 12, sha(b"root"))
    assert Checkpoint.parse(GOOD + "ext\n").extensions == ("ext",)


def stray_bits(encoded: str) -> str:
    """The same 32 bytes with the unused low bits of the last character set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(encoded[-2])
    return encoded[:-2] + alphabet[last | 1] + "="


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(GOOD.replace("\n12\n", "\n012\n"), id="leading-zero"),
        pytest.param(GOOD.replace("\n12\n", "\n00\n"), id="double-zero"),
        pytest.param(GOOD.replace("\n12\n", "\n+12\n"), id="plus-sign"),
        pytest.param(GOOD.replace("\n12\n", "\n-1\n"), id="negative"),
        pytest.param(GOOD.replace("\n12\n", "\n1_2\n"), id="underscore"),
        pytest.param(GOOD.replace("\n12\n", "\n 12\n"), id="space-size"),
        pytest.param(GOOD.replace("\n12\n", "\n\u0661\u0662\n"), id="arabic-digits"),
        pytest.param(GOOD.replace("\n12\n", f"\n{MAX_SIZE + 1}\n"), id="size-too-big"),
        pytest.param(GOOD.replace("\n12\n", "\n" + "9" * 5000 + "\n"), id="size-huge"),
        pytest.param(GOOD.replace("\n12\n", "\n\n"), id="empty-size"),
        pytest.param(GOOD.replace(GOOD_ROOT, GOOD_ROOT.replace("=", "")), id="no-padding"),
        pytest.param(GOOD.replace(GOOD_ROOT, "*" + GOOD_ROOT[1:]), id="bad-base64"),
        pytest.param(GOOD.replace(GOOD_ROOT, GOOD_ROOT.replace("+", "-")[:-1] + "-"), id="urlsafe"),
        pytest.param(GOOD.replace(GOOD_ROOT, stray_bits(GOOD_ROOT)), id="non-canonical"),
        pytest.param(GOOD.replace(GOOD_ROOT, base64.b64encode(b"x" * 31).decode()), id="31-bytes"),
        pytest.param(GOOD.replace(GOOD_ROOT, base64.b64encode(b"x" * 33).decode()), id="33-bytes"),
        pytest.param(GOOD.replace(GOOD_ROOT, base64.b64encode(b"x" * 64).decode()), id="64-bytes"),
        pytest.param(GOOD[:-1], id="missing-final-newline"),
        pytest.param(GOOD + "ext", id="missing-newline-after-extension"),
        pytest.param(GOOD + "\n", id="extra-blank-line"),
        pytest.param(GOOD.replace("\n12\n", "\n\n12\n"), id="blank-line-inside"),
        pytest.param(GOOD + "ext\n\n", id="blank-after-extension"),
        pytest.param("\n" + GOOD.split("\n", 1)[1], id="empty-origin"),
        pytest.param("shoal example/log" + GOOD[len(ORIGIN) :], id="space-in-origin"),
        pytest.param("shoal.example+log" + GOOD[len(ORIGIN) :], id="plus-in-origin"),
        pytest.param("shoal.example\tlog" + GOOD[len(ORIGIN) :], id="tab-in-origin"),
        pytest.param("shoal.example\u2003log" + GOOD[len(ORIGIN) :], id="em-space-in-origin"),
        pytest.param("shoal.example\x00log" + GOOD[len(ORIGIN) :], id="nul-in-origin"),
        pytest.param(GOOD.replace("\n", "\r\n"), id="crlf"),
        pytest.param(GOOD + "ext\x7f\n", id="control-in-extension"),
        pytest.param(f"{ORIGIN}\n12\n", id="two-lines"),
        pytest.param("", id="empty"),
        pytest.param(GOOD.replace("\n12\n", "\n0\n"), id="empty-tree-with-a-root"),
    ],
)
def test_malformed_checkpoint_bodies_are_refused(body: str) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.parse(body)


def test_checkpoint_values_are_checked_on_construction() -> None:
    for args in (
        ("", 1, sha(b"r")),
        ("a b", 1, sha(b"r")),
        (ORIGIN, -1, sha(b"r")),
        (ORIGIN, 1, b"short"),
        (ORIGIN, 0, sha(b"r")),
    ):
        with pytest.raises(CheckpointError):
            Checkpoint(*args)
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, 1, sha(b"r"), ("two\nlines",))
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, 1, sha(b"r"), ("",))


def log_key(seed: int, name: str = ORIGIN) -> crypto.NoteSigner:
    return crypto.NoteSigner(name, crypto.SigningKey(bytes([seed]) * 32))


def test_signed_checkpoints_open_with_the_right_key_and_origin_only() -> None:
    state = LogState()
    for h in leaves_of(5):
        state, _ = state.append(h)
    checkpoint = state.checkpoint(ORIGIN)
    key = log_key(1)
    note = sign_checkpoint(checkpoint, key)
    assert note.startswith(checkpoint.body() + "\n\u2014 " + ORIGIN + " ")
    assert open_checkpoint(note, key.verifier, ORIGIN) == checkpoint
    assert open_checkpoint(note.encode(), key.verifier, ORIGIN) == checkpoint
    with pytest.raises(crypto.SignatureError):
        open_checkpoint(note, log_key(2).verifier, ORIGIN)  # another key, same name
    with pytest.raises(crypto.SignatureError):
        open_checkpoint(note, log_key(1, "other.example/log").verifier, ORIGIN)
    with pytest.raises(CheckpointError, match="expected"):
        open_checkpoint(note, key.verifier, "other.example/log")
    with pytest.raises(crypto.SignatureError):
        open_checkpoint(note.replace("\n5\n", "\n6\n"), key.verifier, ORIGIN)
    # A witness's extra signature, from a key we do not know, is ignored.
    cosigned = note + log_key(3, "witness.example").signature_line(checkpoint.body())
    assert open_checkpoint(cosigned, key.verifier, ORIGIN) == checkpoint


def test_a_signed_note_that_is_not_a_checkpoint_is_refused_after_verification() -> None:
    key = log_key(1)
    note = crypto.sign_note(f"{ORIGIN}\n05\n{GOOD_ROOT}\n", [key])
    with pytest.raises(CheckpointError):
        open_checkpoint(note, key.verifier, ORIGIN)


# --- the desk's and command's decisions -----------------------------------


class Log:
    """A server's view of one log, for the decision tests."""

    def __init__(self, hashes: Sequence[bytes]) -> None:
        self.hashes = list(hashes)

    def checkpoint(self, size: int) -> Checkpoint:
        return Checkpoint(ORIGIN, size, root(self.hashes[:size]))

    def proof(self, m: int, n: int) -> list[bytes]:
        return consistency_proof(self.hashes, m, n)


def test_advance_accepts_growth_and_standing_still() -> None:
    log = Log(leaves_of(20))
    known = advance(None, log.checkpoint(3), [])
    for size in (3, 4, 8, 13, 20, 20):
        known = advance(known, log.checkpoint(size), log.proof(known.size, size))
        assert known == log.checkpoint(size)
    assert advance(log.checkpoint(0), log.checkpoint(7), []) == log.checkpoint(7)


def test_advance_detects_a_rollback() -> None:
    log = Log(leaves_of(20))
    with pytest.raises(TlogRollbackError, match="seen at size 9, now shows size 5"):
        advance(log.checkpoint(9), log.checkpoint(5), log.proof(5, 9))


def test_advance_detects_a_rewrite() -> None:
    honest = Log(leaves_of(20))
    rewritten = Log([*honest.hashes[:6], leaf_hash(b"forged"), *honest.hashes[7:]])
    known = honest.checkpoint(9)
    # A consistent-looking proof from the rewritten log does not help it.
    with pytest.raises(TlogForkError, match="not shown to extend size 9"):
        advance(known, rewritten.checkpoint(15), rewritten.proof(9, 15))
    with pytest.raises(TlogForkError, match="two different roots for size 9"):
        advance(known, rewritten.checkpoint(9), [])
    # Rewriting only after what the desk has seen is just growth.
    assert advance(honest.checkpoint(6), rewritten.checkpoint(15), rewritten.proof(6, 15))


def test_advance_refuses_a_bad_proof_and_other_logs() -> None:
    log = Log(leaves_of(20))
    proof = log.proof(5, 12)
    with pytest.raises(TlogForkError):
        advance(log.checkpoint(5), log.checkpoint(12), proof[:-1])
    with pytest.raises(TlogForkError):
        advance(log.checkpoint(5), log.checkpoint(12), [*proof, proof[0]])
    with pytest.raises(TlogProofError):
        advance(None, log.checkpoint(12), proof)
    other = Checkpoint("other.example/log", 12, log.checkpoint(12).root)
    with pytest.raises(CheckpointError):
        advance(log.checkpoint(5), other, proof)


def test_the_error_tree() -> None:
    for error in (TlogProofError, CheckpointError, TlogRollbackError, TlogForkError):
        assert issubclass(error, TlogError)
    assert issubclass(TlogError, OrgError)
    assert not issubclass(TlogForkError, TlogProofError)


@given(st.integers(1, 30), st.integers(0, 30), st.integers(0, 30))
def test_same_history_accepts_any_two_heads_of_one_log(size: int, a: int, b: int) -> None:
    log = Log(leaves_of(size))
    a, b = min(a, size), min(b, size)
    proof = log.proof(min(a, b), max(a, b))
    same_history(log.checkpoint(a), log.checkpoint(b), proof)
    same_history(log.checkpoint(b), log.checkpoint(a), proof)


@settings(max_examples=50)
@given(st.integers(1, 30), st.integers(0, 29), st.data())
def test_same_history_detects_a_split_view(size: int, fork_at: int, data: st.DataObject) -> None:
    """Two desks shown histories that differ from entry ``fork_at`` on."""
    fork_at = min(fork_at, size - 1)
    one = Log(leaves_of(size, b"one"))
    two = Log(one.hashes[:fork_at] + leaves_of(size - fork_at, b"two"))
    a = data.draw(st.integers(fork_at + 1, size), label="a")
    b = data.draw(st.integers(fork_at + 1, size), label="b")
    # Whoever asks, the server can only prove one of its two logs.
    for prover in (one, two):
        proof = prover.proof(min(a, b), max(a, b))
        with pytest.raises(TlogForkError):
            same_history(one.checkpoint(a), two.checkpoint(b), proof)
    with pytest.raises(CheckpointError):
        same_history(one.checkpoint(a), Checkpoint("x.example", b, two.checkpoint(b).root), [])
