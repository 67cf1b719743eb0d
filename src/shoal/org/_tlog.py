"""The audit log's pure core: an RFC 9162 Merkle tree with C2SP checkpoints.

Why a Merkle tree log. The server is assumed seized (DESIGN, "The audit
log"). It stores the log of who did what and signs its head, but it must not
be able to rewrite history quietly: drop an entry, reorder two, or show one
desk a history that another desk never sees (a *split view*). A Merkle tree
makes each of those detectable with logarithmic proofs: a desk that
remembers the last checkpoint it saw asks for a *consistency proof* on each
sync and refuses a head that does not extend it (:func:`advance`); command
compares the checkpoints that desks send along with their uploads
(:func:`same_history`); anyone holding an entry can ask for an *inclusion
proof* that it is in the tree the server signed.

Why this format. The hashing and both proof algorithms are exactly RFC 9162
section 2.1 (the same tree as RFC 6962); the signed head is a C2SP
checkpoint (reference/tlog-checkpoint.md) carried in a C2SP signed note
(:mod:`shoal.crypto`). Existing tools (the Go ``tlog`` package, witnesses,
monitors) read the same bytes, and the algorithms have been reviewed far
more than anything we would invent.

Layout of this module:

* hashing: :func:`leaf_hash`, :func:`node_hash`, :data:`EMPTY_ROOT`;
* :class:`LogState`, the log's *right edge*: the roots of the perfect
  subtrees that make up the tree (one per set bit of its size, so at most
  log2(n)+1 hashes). Appending and computing the new root cost O(log n)
  hashes and need no stored leaf;
* :class:`HashSource`, the small interface proof generation reads stored
  hashes through (the server backs it with its tables), with
  :class:`MemoryHashSource` for tests, and :class:`Prover`, which builds
  proofs from a source; :func:`root`, :func:`inclusion_proof` and
  :func:`consistency_proof` are the same over a plain list of leaf hashes;
* :func:`verify_inclusion`, :func:`verify_consistency` (RFC 9162 2.1.3.2
  and 2.1.4.2, step by step);
* :class:`Checkpoint`, :func:`sign_checkpoint`, :func:`open_checkpoint`;
* the desk's and command's decisions: :func:`advance`, :func:`same_history`.

The cost of proofs. The prover computes each subtree hash it needs
recursively, asking the source first for the hash of every perfect, aligned
subtree (``HashSource.subtree``) and only reading leaves below what the
source stores. A source that stores every internal node :class:`LogState`
reports on append (about one row per leaf) answers any proof with at most
about 2·log2(n) lookups and a few hashes for the unfinished right edge; one
that stores nodes from level L up adds at most about 2·2^L leaf reads; one
that stores only leaves costs O(n) reads and hashes per proof (fine for a
few thousand entries, not for a million). Memory is O(log n) in every case:
leaves are read one at a time. ``tests/org/test_tlog.py`` prints the times
for 100,000 leaves; on the development machine, from an in-memory source:
0.03 ms per inclusion or consistency proof with every node stored (at most
2 leaf reads and 21 lookups), 0.05 ms with nodes from level 5 up (32 leaf
reads), 90 ms with leaves only. A database adds its round trips per read.

Dangerous edges, for whoever calls this:

* An inclusion proof binds a leaf to a *root*, not to a size: the proof for
  index 0 of a 3-leaf tree also "verifies" for size 4 against that same
  root, because the verifier does the same hashing. Always take size and
  root from one verified checkpoint, never from two places.
* Never parse a checkpoint body that no trusted key signed
  (:func:`open_checkpoint` verifies first; :meth:`Checkpoint.parse` alone is
  for bodies already verified, and for tests).
* :func:`advance` is only as good as the desk's memory: persist the
  checkpoint it returns before acting on anything the new head covers, or a
  crash lets a server roll the desk back.

Deviations from RFC 9162, all stricter: proof elements, leaf hashes and
roots must be exactly 32 bytes; a consistency proof from size 0 must be
empty and the size-0 root must be SHA-256 of the empty string (RFC 9162
defines consistency only for 0 < m < n; for m == n we require an empty
proof and equal roots). Checkpoints: the origin must also contain no
control characters (the C2SP spec only recommends no spaces and no '+',
which we require, since the origin should also be the log's note key
name); sizes are at most 2^63-1; the root must be canonical base64; a
size-0 checkpoint must carry the empty tree's root.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from .. import crypto
from .errors import OrgError

HASH_SIZE = 32
#: MTH({}) = SHA-256() (RFC 9162 2.1.1): the root of the empty tree.
EMPTY_ROOT = hashlib.sha256(b"").digest()
#: Domain separation between leaves and interior nodes (RFC 9162 2.1.1);
#: without it a node could be passed off as a leaf (a second preimage).
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
#: Tree sizes fit a signed 64-bit integer, as in every other tlog tool.
MAX_SIZE = (1 << 63) - 1

_SIZE_LINE = re.compile(r"\A(?:0|[1-9][0-9]{0,18})\Z")
_ROOT_LINE = re.compile(r"\A[A-Za-z0-9+/]{43}=\Z")
_ORIGIN = re.compile(r"\A[^\s+]+\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class TlogError(OrgError):
    """A log proof, checkpoint or head that must not be trusted.

    ::

        TlogError
        ├── TlogProofError     an inclusion or consistency proof does not verify
        ├── CheckpointError    a checkpoint body is malformed or names
        │                      another log
        ├── TlogRollbackError  a head smaller than one already seen
        └── TlogForkError      two heads that cannot share one history
                               (a rewrite, or a split view)
    """


class TlogProofError(TlogError):
    """A proof does not verify: wrong hashes, wrong length, or out of range."""


class CheckpointError(TlogError):
    """A checkpoint body is malformed, or is not for the expected origin."""


class TlogRollbackError(TlogError):
    """The log shows a smaller tree than one already seen."""


class TlogForkError(TlogError):
    """Two heads of one log cannot be shown consistent: history was rewritten
    or different parties are shown different histories."""


# --- hashing (RFC 9162 2.1.1) ---------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one log entry."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: an interior node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise TlogProofError(f"{what} is not a {HASH_SIZE}-byte hash")


# --- the right edge ---------------------------------------------------------


@dataclass(frozen=True)
class Subtree:
    """A perfect subtree finished by an append: leaves
    ``[index * 2**level, (index + 1) * 2**level)``, and its hash."""

    level: int
    index: int
    hash: bytes


@dataclass(frozen=True)
class LogState:
    """A log's size and right edge: all a server needs to append and sign.

    ``edge`` holds the roots of the perfect subtrees the tree is made of,
    largest (leftmost) first, one for each set bit of ``size``. The server
    keeps this row; appending costs O(log n) hashes and reads nothing.
    """

    size: int = 0
    edge: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.size <= MAX_SIZE:
            raise ValueError("log size out of range")
        if len(self.edge) != self.size.bit_count():
            raise ValueError("a log's edge has one hash per set bit of its size")
        if any(len(h) != HASH_SIZE for h in self.edge):
            raise ValueError("edge hashes are 32 bytes")

    @property
    def root(self) -> bytes:
        """The tree head, folded from the right: O(log n) hashes."""
        if not self.edge:
            return EMPTY_ROOT
        value = self.edge[-1]
        for left in reversed(self.edge[:-1]):
            value = node_hash(left, value)
        return value

    def append(self, leaf: bytes) -> tuple[LogState, tuple[Subtree, ...]]:
        """The state with ``leaf`` (a :func:`leaf_hash`) appended, and the
        perfect subtrees (level >= 1) this append finished, lowest first.

        A server that stores those subtrees makes every later proof cheap
        (see the module docstring); it may keep only the levels it wants.
        """
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        if self.size == MAX_SIZE:
            raise ValueError("the log is full")
        edge = list(self.edge)
        value, level = leaf, 0
        finished: list[Subtree] = []
        # Each trailing set bit of the old size is a perfect subtree of the
        # same height as the one being carried: merge them, like binary +1.
        while (self.size >> level) & 1:
            value = node_hash(edge.pop(), value)
            level += 1
            finished.append(Subtree(level, self.size >> level, value))
        edge.append(value)
        return LogState(self.size + 1, tuple(edge)), tuple(finished)

    def checkpoint(self, origin: str) -> Checkpoint:
        return Checkpoint(origin, self.size, self.root)


# --- proof generation ---------------------------------------------------------


class HashSource(Protocol):
    """Where a :class:`Prover` reads a log's stored hashes.

    The server backs this with its tables: leaf hashes by index, and
    optionally the :class:`Subtree` hashes that :meth:`LogState.append`
    reports. Both are immutable once written (the log only grows), so any
    cache in front of them is always valid.
    """

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``; the prover only asks for stored ones."""
        ...

    def subtree(self, level: int, index: int) -> bytes | None:
        """The stored hash of a perfect subtree (level >= 1), or None.

        Answer None without a query for levels that are never stored: the
        prover asks at every level on its way down.
        """
        ...


class MemoryHashSource:
    """An in-memory log: appends like a server and serves as a HashSource.

    Stores every leaf and the finished subtrees from ``store_level`` up
    (None: leaves only), exactly what a database-backed source would keep.
    """

    def __init__(self, store_level: int | None = 1) -> None:
        self.state = LogState()
        self._store_level = store_level
        self._leaves: list[bytes] = []
        self._nodes: dict[tuple[int, int], bytes] = {}

    @property
    def size(self) -> int:
        return self.state.size

    def append(self, leaf: bytes) -> LogState:
        self.state, finished = self.state.append(leaf)
        self._leaves.append(leaf)
        if self._store_level is not None:
            for node in finished:
                if node.level >= self._store_level:
                    self._nodes[(node.level, node.index)] = node.hash
        return self.state

    def leaf(self, index: int) -> bytes:
        if not 0 <= index < len(self._leaves):
            raise IndexError("no such leaf")
        return self._leaves[index]

    def subtree(self, level: int, index: int) -> bytes | None:
        return self._nodes.get((level, index))


class _SequenceSource:
    def __init__(self, leaves: Sequence[bytes]) -> None:
        self._leaves = leaves

    def leaf(self, index: int) -> bytes:
        return self._leaves[index]

    def subtree(self, level: int, index: int) -> bytes | None:
        return None


class Prover:
    """Builds RFC 9162 proofs (2.1.3.1, 2.1.4.1) from a :class:`HashSource`.

    The caller chooses the tree size: it must not exceed what the source
    holds (the server checks a requested size against its own state).
    """

    def __init__(self, source: HashSource) -> None:
        self._source = source

    def subtree_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for 0 <= start < end."""
        if not 0 <= start < end:
            raise ValueError("a subtree needs 0 <= start < end")
        n = end - start
        if n == 1:
            return self._source.leaf(start)
        # Every perfect subtree of an RFC 9162 tree is aligned to its size.
        if n & (n - 1) == 0 and start % n == 0:
            level = n.bit_length() - 1
            stored = self._source.subtree(level, start >> level)
            if stored is not None:
                return stored
        k = _split(n)
        return node_hash(self.subtree_hash(start, start + k), self.subtree_hash(start + k, end))

    def root(self, size: int) -> bytes:
        if size < 0:
            raise ValueError("negative tree size")
        return self.subtree_hash(0, size) if size else EMPTY_ROOT

    def state(self, size: int) -> LogState:
        """The right edge at ``size``, e.g. to rebuild a server's state row."""
        if not 0 <= size <= MAX_SIZE:
            raise ValueError("log size out of range")
        edge: list[bytes] = []
        start = 0
        for bit in reversed(range(size.bit_length())):
            if (size >> bit) & 1:
                edge.append(self.subtree_hash(start, start + (1 << bit)))
                start += 1 << bit
        return LogState(size, tuple(edge))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[size]): the audit path, leaf side first."""
        if not 0 <= index < size:
            raise ValueError("leaf index outside the tree")
        proof: list[bytes] = []
        self._path(index, 0, size, proof)
        return proof

    def _path(self, m: int, start: int, end: int, out: list[bytes]) -> None:
        n = end - start
        if n == 1:
            return
        k = _split(n)
        if m < k:
            self._path(m, start, start + k, out)
            out.append(self.subtree_hash(start + k, end))
        else:
            self._path(m - k, start + k, end, out)
            out.append(self.subtree_hash(start, start + k))

    def consistency_proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[n]); empty when m is 0 or m == n (nothing to prove)."""
        if not 0 <= m <= n:
            raise ValueError("a consistency proof needs 0 <= m <= n")
        proof: list[bytes] = []
        if 0 < m < n:
            self._subproof(m, 0, n, True, proof)
        return proof

    def _subproof(self, m: int, start: int, end: int, whole: bool, out: list[bytes]) -> None:
        n = end - start
        if m == n:
            # SUBPROOF(m, D[m], true) = {}: the verifier already holds MTH(D[0:m]).
            if not whole:
                out.append(self.subtree_hash(start, end))
            return
        k = _split(n)
        if m <= k:
            self._subproof(m, start, start + k, whole, out)
            out.append(self.subtree_hash(start + k, end))
        else:
            self._subproof(m - k, start + k, end, False, out)
            out.append(self.subtree_hash(start, start + k))


def _list_prover(leaf_hashes: Sequence[bytes], size: int) -> Prover:
    if size > len(leaf_hashes):
        raise ValueError("tree size larger than the leaves given")
    return Prover(_SequenceSource(leaf_hashes))


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of all of ``leaf_hashes`` (SHA-256 of nothing for none)."""
    return Prover(_SequenceSource(leaf_hashes)).root(len(leaf_hashes))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The inclusion proof for ``index`` in the tree of all ``leaf_hashes``."""
    size = len(leaf_hashes)
    return _list_prover(leaf_hashes, size).inclusion_proof(index, size)


def consistency_proof(leaf_hashes: Sequence[bytes], m: int, n: int) -> list[bytes]:
    """The consistency proof from the first ``m`` to the first ``n`` leaves."""
    return _list_prover(leaf_hashes, n).consistency_proof(m, n)


# --- verification ---------------------------------------------------------


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` is at ``index`` in the tree of ``size`` with ``root``.

    RFC 9162 2.1.3.2, step by step; raises :class:`TlogProofError`. Take
    ``size`` and ``root`` from one verified checkpoint (module docstring).
    """
    _check_hash(leaf, "the leaf hash")
    _check_hash(root, "the root")
    for element in proof:
        _check_hash(element, "a proof element")
    # 1. leaf_index >= tree_size fails (and negative values make no tree).
    if not 0 <= index < size:
        raise TlogProofError("leaf index outside the tree")
    # 2., 3.
    fn, sn, r = index, size - 1, leaf
    # 4.
    for p in proof:
        # a. More proof than tree: a padded proof is refused, not ignored.
        if sn == 0:
            raise TlogProofError("inclusion proof too long")
        # b.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        # c.
        fn >>= 1
        sn >>= 1
    # 5.
    if sn != 0:
        raise TlogProofError("inclusion proof too short")
    if r != root:
        raise TlogProofError("inclusion proof does not lead to the root")


def verify_consistency(
    m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of size ``n`` with ``root_n`` extends the tree of
    size ``m`` with ``root_m``: RFC 9162 2.1.4.2; raises TlogProofError."""
    _check_hash(root_m, "the first root")
    _check_hash(root_n, "the second root")
    for element in proof:
        _check_hash(element, "a proof element")
    if not 0 <= m <= n:
        raise TlogProofError("a consistency proof needs 0 <= m <= n")
    if m in (0, n):
        _verify_nothing_to_prove(m, n, root_m, root_n, proof)
        return
    fr, sr = _consistency_roots(m, n, root_m, proof)
    # 7.
    if fr != root_m:
        raise TlogProofError("consistency proof does not lead to the first root")
    if sr != root_n:
        raise TlogProofError("consistency proof does not lead to the second root")


def _verify_nothing_to_prove(
    m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]
) -> None:
    # Outside RFC 9162 (which has 0 < m < n): the empty tree is a prefix of
    # every tree, and a tree is consistent with itself only if it has one
    # root. Either way there is nothing to prove, so a proof is refused.
    if proof:
        raise TlogProofError("a consistency proof from size 0 or to the same size is empty")
    if m == 0 and root_m != EMPTY_ROOT:
        raise TlogProofError("the root of the empty tree is SHA-256 of nothing")
    if m == n and root_m != root_n:
        raise TlogProofError("two different roots for one tree size")


def _consistency_roots(
    m: int, n: int, root_m: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """Steps 1 to 6 of RFC 9162 2.1.4.2 (0 < m < n): the two roots the
    proof leads to, or TlogProofError when its length does not fit."""
    # 1.
    if not proof:
        raise TlogProofError("empty consistency proof")
    # 2. The proof omits MTH(D[0:m]) when m is a power of two: the verifier has it.
    path = list(proof)
    if m & (m - 1) == 0:
        path.insert(0, root_m)
    # 3.
    fn, sn = m - 1, n - 1
    # 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        # a. More proof than tree: a padded proof is refused, not ignored.
        if sn == 0:
            raise TlogProofError("consistency proof too long")
        # b.
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        # c.
        fn >>= 1
        sn >>= 1
    # 7. (first part)
    if sn != 0:
        raise TlogProofError("consistency proof too short")
    return fr, sr


# --- checkpoints (reference/tlog-checkpoint.md) ---------------------------------


def _check_line(line: str, what: str) -> None:
    if not line:
        raise CheckpointError(f"empty {what} line")
    if _CONTROL.search(line):
        raise CheckpointError(f"control character in the {what} line")


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed head: origin, tree size, root hash, extension lines.

    Shoal writes no extension lines (the spec advises against them: monitors
    cannot audit them); they are kept so that a body round-trips.
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if not _ORIGIN.match(self.origin):
            raise CheckpointError("a checkpoint origin has no spaces and no '+'")
        if not 0 <= self.size <= MAX_SIZE:
            raise CheckpointError("checkpoint tree size out of range")
        if len(self.root) != HASH_SIZE:
            raise CheckpointError("a checkpoint root hash is 32 bytes")
        if self.size == 0 and self.root != EMPTY_ROOT:
            raise CheckpointError("an empty tree's root is SHA-256 of nothing")
        for line in self.extensions:
            _check_line(line, "extension")
            if "\n" in line:
                raise CheckpointError("an extension is one line")

    def body(self) -> str:
        """The note text: each line ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "".join(line + "\n" for line in (*lines, *self.extensions))

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse a checkpoint body strictly: one spelling per checkpoint.

        Only for text a trusted key signed: see :func:`open_checkpoint`.
        """
        if not body.endswith("\n"):
            raise CheckpointError("a checkpoint body ends with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("a checkpoint has an origin, a size and a root")
        origin, size, root_line, *extensions = lines
        for line, what in zip(lines, ("origin", "size", "root"), strict=False):
            _check_line(line, what)
        if not _SIZE_LINE.match(size):
            raise CheckpointError("a tree size is decimal without leading zeros")
        if not _ROOT_LINE.match(root_line):
            raise CheckpointError("a root hash is 32 bytes of padded base64")
        try:
            raw = base64.b64decode(root_line, validate=True)
        except binascii.Error:
            raise CheckpointError("the root hash is not base64") from None
        # The regex fixes the length; this refuses stray bits in the last
        # character, so that no two bodies carry the same root.
        if len(raw) != HASH_SIZE or base64.b64encode(raw).decode() != root_line:
            raise CheckpointError("the root hash is not canonical base64")
        return cls(origin, int(size), raw, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: crypto.NoteSigner) -> str:
    """The checkpoint as a signed note. The spec asks that the signer's key
    name match the origin; the server should name its log key so."""
    return crypto.sign_note(checkpoint.body(), [signer])


def open_checkpoint(note: str | bytes, verifier: crypto.NoteVerifier, origin: str) -> Checkpoint:
    """Verify ``note`` with ``verifier``, then parse it and check its origin.

    Signature and note-format failures come from :mod:`shoal.crypto`
    (``SignatureError``, ``NoteFormatError``); a verified body that is not a
    checkpoint of ``origin`` raises :class:`CheckpointError`.
    """
    checkpoint = Checkpoint.parse(crypto.open_note(note, [verifier]).text)
    if checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint of {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint


# --- decisions: the desk's and command's ---------------------------------------


def advance(known: Checkpoint | None, new: Checkpoint, proof: Sequence[bytes]) -> Checkpoint:
    """The checkpoint a desk should remember after seeing ``new``.

    ``proof`` is the consistency proof from ``known``'s size to ``new``'s.
    With no known checkpoint (a first sync) there is nothing to check and
    the proof must be empty. Raises :class:`TlogRollbackError` for a smaller
    tree, :class:`TlogForkError` when the proof does not show that ``new``
    extends ``known`` (a rewrite, or a server showing this desk another
    history), :class:`CheckpointError` for another log. Persist the result
    before acting on it.
    """
    if known is None:
        if proof:
            raise TlogProofError("a first checkpoint comes with no consistency proof")
        return new
    if new.origin != known.origin:
        raise CheckpointError(f"checkpoint of {new.origin!r}, expected {known.origin!r}")
    if new.size < known.size:
        raise TlogRollbackError(
            f"rollback: the log {known.origin} was seen at size {known.size}, "
            f"now shows size {new.size}"
        )
    _consistent(known, new, proof)
    return new


def same_history(a: Checkpoint, b: Checkpoint, proof: Sequence[bytes]) -> None:
    """Check that two checkpoints (e.g. sent by two desks) can share one history.

    ``proof`` is the consistency proof from the smaller size to the larger
    (empty for equal sizes). Raises :class:`TlogForkError` for a split view:
    one size with two roots, or a larger tree that does not extend the
    smaller; :class:`CheckpointError` if they are of different logs.
    """
    if a.origin != b.origin:
        raise CheckpointError(f"checkpoints of two logs: {a.origin!r} and {b.origin!r}")
    older, newer = (a, b) if a.size <= b.size else (b, a)
    _consistent(older, newer, proof)


def _consistent(older: Checkpoint, newer: Checkpoint, proof: Sequence[bytes]) -> None:
    if older.size == newer.size and older.root != newer.root:
        raise TlogForkError(
            f"fork: the log {older.origin} has two different roots for size {older.size}"
        )
    try:
        verify_consistency(older.size, newer.size, older.root, newer.root, proof)
    except TlogProofError as error:
        raise TlogForkError(
            f"fork: the log {older.origin} at size {newer.size} is not shown to extend "
            f"size {older.size} ({error})"
        ) from error
