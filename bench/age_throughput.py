"""age v1 throughput and per-message cost: shoal against its ceiling and its peers.

Part A (issue #2), payload throughput on one large stream (1 GiB by default),
X25519 keys because pyrage and the age CLI have no hybrid type (shoal's
payload speed does not depend on the key type: only the header differs):

* ``raw_chacha``: pyca/cryptography ChaCha20-Poly1305 over the same number of
  64 KiB chunks from memory, no I/O. The physical ceiling for shoal, which
  uses exactly this AEAD per STREAM chunk; ``ratio_to_raw`` = shoal / raw is
  the share of that ceiling shoal reaches. It is an in-cache ceiling: one hot
  64 KiB chunk, no file.
* ``raw_chacha_file``: the same AEAD fed from the same files in the least
  Python possible (readinto a reused buffer, one AEAD call per 64 KiB slice;
  decrypt reads a file of bare sealed chunks in chunk-aligned blocks). The
  ceiling once reading the file is counted; ``ratio_to_raw_file`` is what
  shoal's own framing (headers, nonces, buffering, iterators) costs.
* ``shoal``: encrypt copies the page-cached plaintext file (unbuffered, into a
  reused 1 MiB buffer) into ``crypto.encrypt_writer``; decrypt iterates
  ``crypto.decrypt_reader(...).chunks()``. That is how callers use it.
* ``pyrage`` (Rust age behind PyO3): ``encrypt_io`` / ``decrypt_io``. It pulls
  its input with ``read(8192)`` calls, so it gets a 1 MiB ``BufferedReader``,
  its most favourable file object.
* ``age_cli`` (Go): ``age -r … -o /dev/null`` and ``age -d -i … -o /dev/null``,
  timed around the subprocess (process start-up included, a few ms).

Every implementation reads the same files and discards its output (a Python
sink, or ``/dev/null``). The ciphertext is made once by shoal (in 1 MiB
writes, as it writes every file: Linux caches a file written in 64 KiB
pieces in small folios, and every reader then reads it about half as fast);
the age CLI's decryption of it is checked against the plaintext's SHA-256.
The best of ``--repeat`` rounds is reported, implementations interleaved in
each round so that machine drift hits them alike.

Part B (issue #3), one 1 KiB message with ``crypto.encrypt`` /
``crypto.decrypt``, for 1, 3 and 10 recipients, X25519 against the hybrid
mlkem768x25519 type: header size and median times. Decryption is timed with
the first recipient's identity and with the last one's (trial decryption
walks every stanza before it, the worst case). If the npm package
``age-encryption`` is installed for the interop tests, the same is measured
under node for hybrid, one recipient, as a peer reference.

Usage: ``.venv/bin/python bench/age_throughput.py [--size-mib 1024] [--repeat 3]``.
JSON lines go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pyrage  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from shoal import crypto

MIB = 1 << 20
CHUNK = 64 * 1024
READ_BLOCK = MIB
MESSAGE_SIZE = 1024
RECIPIENT_COUNTS = (1, 3, 10)
ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "interop" / "node"

Buffer = bytes | bytearray | memoryview


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


class Sink:
    """A writable file object that drops what it is given (and counts it)."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, data: Buffer) -> int:
        n = len(data)
        self.count += n
        return n

    def flush(self) -> None:
        pass


# ---------------------------------------------------------------- Part A


def write_plaintext(path: Path, size: int) -> str:
    """Random bytes in 1 MiB pieces (memory stays flat); returns the SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(size // MIB):
            piece = os.urandom(MIB)
            digest.update(piece)
            f.write(piece)
    return digest.hexdigest()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def raw_encrypt(n_chunks: int) -> float:
    aead = ChaCha20Poly1305(os.urandom(32))
    chunk = os.urandom(CHUNK)
    nonce = bytes(12)

    def run() -> None:
        for _ in range(n_chunks):
            aead.encrypt(nonce, chunk, None)

    return timed(run)


def raw_decrypt(n_chunks: int) -> float:
    aead = ChaCha20Poly1305(os.urandom(32))
    nonce = bytes(12)
    sealed = aead.encrypt(nonce, os.urandom(CHUNK), None)

    def run() -> None:
        for _ in range(n_chunks):
            aead.decrypt(nonce, sealed, None)

    return timed(run)


RAW_KEY = bytes(range(32))
RAW_NONCE = bytes(12)
SEALED_CHUNK = CHUNK + 16
SEALED_BLOCK = 16 * SEALED_CHUNK


def write_raw_sealed(plain: Path, sealed: Path) -> None:
    """The plaintext as bare sealed 64 KiB chunks, for :func:`raw_file_decrypt`."""
    aead = ChaCha20Poly1305(RAW_KEY)
    view = memoryview(bytearray(CHUNK))
    # Written in 1 MiB pieces like the other files (see part_a on folios).
    with open(plain, "rb", buffering=0) as src, open(sealed, "wb", buffering=READ_BLOCK) as out:
        while n := src.readinto(view):
            out.write(aead.encrypt(RAW_NONCE, view[:n], None))


def raw_file_encrypt(plain: Path) -> float:
    """Raw AEAD fed from the plaintext file: shoal's ceiling once I/O is counted."""
    aead = ChaCha20Poly1305(RAW_KEY)
    view = memoryview(bytearray(READ_BLOCK))
    start = time.perf_counter()
    with open(plain, "rb", buffering=0) as src:
        while n := src.readinto(view):
            for pos in range(0, n, CHUNK):
                aead.encrypt(RAW_NONCE, view[pos : min(pos + CHUNK, n)], None)
    return time.perf_counter() - start


def raw_file_decrypt(sealed: Path) -> float:
    """Raw AEAD over a file of sealed chunks, read in chunk-aligned blocks (no copies)."""
    aead = ChaCha20Poly1305(RAW_KEY)
    view = memoryview(bytearray(SEALED_BLOCK))
    start = time.perf_counter()
    with open(sealed, "rb", buffering=0) as src:
        while n := src.readinto(view):
            for pos in range(0, n, SEALED_CHUNK):
                aead.decrypt(RAW_NONCE, view[pos : min(pos + SEALED_CHUNK, n)], None)
    return time.perf_counter() - start


def shoal_encrypt(plain: Path, recipient: crypto.Recipient, size: int) -> float:
    view = memoryview(bytearray(READ_BLOCK))
    sink = Sink()
    start = time.perf_counter()
    with (
        open(plain, "rb", buffering=0) as src,
        crypto.encrypt_writer(sink, [recipient]) as writer,  # type: ignore[arg-type]
    ):
        while n := src.readinto(view):
            writer.write(view[:n])
    elapsed = time.perf_counter() - start
    assert sink.count > size, "shoal encrypt produced too little"
    return elapsed


def shoal_decrypt(ct: Path, identity: crypto.Identity, size: int) -> float:
    count = 0
    start = time.perf_counter()
    with open(ct, "rb", buffering=0) as src:
        for piece in crypto.decrypt_reader(src, [identity]).chunks():
            count += len(piece)
    elapsed = time.perf_counter() - start
    assert count == size, f"shoal decrypted {count} bytes, expected {size}"
    return elapsed


def pyrage_encrypt(plain: Path, recipient: Any, size: int) -> float:
    sink = Sink()
    start = time.perf_counter()
    with open(plain, "rb", buffering=READ_BLOCK) as src:
        pyrage.encrypt_io(src, sink, [recipient])
    elapsed = time.perf_counter() - start
    assert sink.count > size, "pyrage encrypt produced too little"
    return elapsed


def pyrage_decrypt(ct: Path, identity: Any, size: int) -> float:
    sink = Sink()
    start = time.perf_counter()
    with open(ct, "rb", buffering=READ_BLOCK) as src:
        pyrage.decrypt_io(src, sink, [identity])
    elapsed = time.perf_counter() - start
    assert sink.count == size, f"pyrage decrypted {sink.count} bytes, expected {size}"
    return elapsed


def age_cli(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True)
    return time.perf_counter() - start


def shoal_encrypt_to(plain: Path, ct: Path, recipient: crypto.Recipient) -> None:
    """The ciphertext every decryptor reads, written as shoal writes files."""
    view = memoryview(bytearray(READ_BLOCK))
    with (
        open(plain, "rb", buffering=0) as src,
        open(ct, "wb", buffering=0) as out,
        crypto.encrypt_writer(out, [recipient]) as w,
    ):
        while n := src.readinto(view):
            w.write(view[:n])


def verify_ciphertext(ct: Path, keyfile: Path, plain_sha256: str, age_bin: str | None) -> None:
    """The age CLI's plaintext of shoal's file must be the original, byte for
    byte (or shoal's own, where the CLI is missing)."""
    digest = hashlib.sha256()
    if age_bin is not None:
        with subprocess.Popen(
            [age_bin, "-d", "-i", str(keyfile), str(ct)], stdout=subprocess.PIPE
        ) as age:
            assert age.stdout is not None
            while piece := age.stdout.read(MIB):
                digest.update(piece)
        if age.returncode != 0:
            raise SystemExit("the age CLI could not decrypt shoal's ciphertext")
    else:
        identity = crypto.parse_identity(keyfile.read_text())
        with open(ct, "rb", buffering=0) as src:
            for piece in crypto.decrypt_reader(src, [identity]).chunks():
                digest.update(piece)
    if digest.hexdigest() != plain_sha256:
        raise SystemExit("the decrypted ciphertext does not match the plaintext")


def part_a(size_mib: int, repeat: int, age_bin: str | None) -> None:
    size = size_mib * MIB
    n_chunks = size // CHUNK
    identity = crypto.generate_identity(crypto.KeyType.X25519)
    recipient = identity.recipient()
    secret = identity.secret_string()
    py_identity = pyrage.x25519.Identity.from_str(secret)
    py_recipient = py_identity.to_public()
    assert str(py_recipient) == str(recipient), "pyrage and shoal disagree on the recipient"

    tmp = Path(tempfile.mkdtemp(prefix="shoal-bench-"))
    try:
        plain, ct, keyfile = tmp / "plain.bin", tmp / "cipher.age", tmp / "key.txt"
        sealed = tmp / "raw-sealed.bin"
        keyfile.write_text(secret + "\n")
        keyfile.chmod(0o600)
        log(f"writing {size_mib} MiB of random plaintext to {plain}")
        plain_sha256 = write_plaintext(plain, size)
        # Made once by shoal, which writes files in 1 MiB pieces: Linux
        # caches a file written in 64 KiB pieces (as the age CLI writes) in
        # small folios, and every reader then reads it about half as fast.
        log("making the ciphertext once")
        shoal_encrypt_to(plain, ct, recipient)
        log("checking the age CLI's decryption of it against the plaintext hash")
        verify_ciphertext(ct, keyfile, plain_sha256, age_bin)
        log("sealing the plaintext as bare chunks for the raw-over-file reference")
        write_raw_sealed(plain, sealed)

        runners: dict[str, dict[str, Callable[[], float]]] = {
            "encrypt": {
                "raw_chacha": lambda: raw_encrypt(n_chunks),
                "raw_chacha_file": lambda: raw_file_encrypt(plain),
                "shoal": lambda: shoal_encrypt(plain, recipient, size),
                "pyrage": lambda: pyrage_encrypt(plain, py_recipient, size),
            },
            "decrypt": {
                "raw_chacha": lambda: raw_decrypt(n_chunks),
                "raw_chacha_file": lambda: raw_file_decrypt(sealed),
                "shoal": lambda: shoal_decrypt(ct, identity, size),
                "pyrage": lambda: pyrage_decrypt(ct, py_identity, size),
            },
        }
        if age_bin is not None:
            runners["encrypt"]["age_cli"] = lambda: age_cli(
                [age_bin, "-r", str(recipient), "-o", os.devnull, str(plain)]
            )
            runners["decrypt"]["age_cli"] = lambda: age_cli(
                [age_bin, "-d", "-i", str(keyfile), "-o", os.devnull, str(ct)]
            )
        else:
            log("age CLI not found: age_cli figures skipped")

        best: dict[tuple[str, str], float] = {}
        for round_no in range(1, repeat + 1):
            for op, impls in runners.items():
                for name, run in impls.items():
                    seconds = run()
                    key = (op, name)
                    best[key] = min(best.get(key, float("inf")), seconds)
                    log(f"round {round_no} {op:7} {name:15} {size_mib / seconds:8.1f} MiB/s")

        for op, impls in runners.items():
            speed = {name: size_mib / best[(op, name)] for name in impls}
            record: dict[str, Any] = {
                "op": op,
                "size_mib": size_mib,
                "key_type": "x25519",
                "repeat": repeat,
            }
            for name in ("shoal", "raw_chacha", "pyrage", "age_cli", "raw_chacha_file"):
                record[f"{name}_mib_s"] = round(speed[name], 1) if name in speed else None
            record["ratio_to_raw"] = round(speed["shoal"] / speed["raw_chacha"], 3)
            record["ratio_to_raw_file"] = round(speed["shoal"] / speed["raw_chacha_file"], 3)
            record["ratio_to_pyrage"] = round(speed["shoal"] / speed["pyrage"], 3)
            if "age_cli" in speed:
                record["ratio_to_age_cli"] = round(speed["shoal"] / speed["age_cli"], 3)
            emit(record)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- Part B


def header_bytes(ciphertext: bytes) -> int:
    """Length of the header up to and including the MAC line's newline."""
    mac_line = ciphertext.index(b"\n---")
    return ciphertext.index(b"\n", mac_line + 1) + 1


def part_b(runs: int) -> None:
    """Median time of every (config, op), sampled round-robin so drift hits all alike."""
    message = os.urandom(MESSAGE_SIZE)
    records: list[dict[str, Any]] = []
    tasks: list[tuple[dict[str, Any], str, Callable[[], object]]] = []
    for key_type in (crypto.KeyType.X25519, crypto.KeyType.HYBRID):
        for count in RECIPIENT_COUNTS:
            identities = [crypto.generate_identity(key_type) for _ in range(count)]
            recipients = [i.recipient() for i in identities]
            first, last = identities[0], identities[-1]
            ct = crypto.encrypt(message, recipients)
            for identity in (first, last):
                assert crypto.decrypt(ct, [identity]) == message
            record: dict[str, Any] = {
                "op": "message",
                "impl": "shoal",
                "key_type": "hybrid" if key_type is crypto.KeyType.HYBRID else "x25519",
                "recipients": count,
                "message_bytes": MESSAGE_SIZE,
                "header_bytes": header_bytes(ct),
                "file_bytes": len(ct),
            }
            records.append(record)
            tasks += [
                (record, "encrypt_us", partial(crypto.encrypt, message, recipients)),
                (record, "decrypt_first_us", partial(crypto.decrypt, ct, [first])),
                (record, "decrypt_last_us", partial(crypto.decrypt, ct, [last])),
            ]
    samples: list[list[int]] = [[] for _ in tasks]
    order = list(range(len(tasks)))
    shuffler = random.Random(0)
    log(f"timing {len(tasks)} message operations, {runs} rounds")
    for round_no in range(-min(20, runs), runs):  # negative rounds warm up
        # A fresh order each round, so no operation always follows the same one.
        shuffler.shuffle(order)
        for index in order:
            start = time.perf_counter_ns()
            tasks[index][2]()
            if round_no >= 0:
                samples[index].append(time.perf_counter_ns() - start)
    for (record, key, _), out in zip(tasks, samples, strict=True):
        record[key] = round(statistics.median(out) / 1000, 1)
    for record in records:
        record["runs"] = runs
        emit(record)


NODE_SCRIPT = r"""
import { Encrypter, Decrypter, generateHybridIdentity, identityToRecipient } from "age-encryption";
const runs = Number(process.argv[1]);
const size = Number(process.argv[2]);
const message = new Uint8Array(size);
globalThis.crypto.getRandomValues(message);
const identity = await generateHybridIdentity();
const recipient = await identityToRecipient(identity);
const enc = new Encrypter();
enc.addRecipient(recipient);
const dec = new Decrypter();
dec.addIdentity(identity);
const ct = await enc.encrypt(message);
async function medianUs(fn) {
  for (let i = 0; i < Math.min(50, runs); i++) await fn();
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  samples.sort((a, b) => a - b);
  const mid = samples.length >> 1;
  return samples.length % 2 ? samples[mid] : (samples[mid - 1] + samples[mid]) / 2;
}
const encrypt_us = await medianUs(() => enc.encrypt(message));
const decrypt_us = await medianUs(() => dec.decrypt(ct));
console.log(JSON.stringify({
  identity, ct: Buffer.from(ct).toString("base64"),
  encrypt_us, decrypt_us, node: process.version,
}));
"""


def part_b_node(runs: int) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "age-encryption").is_dir():
        log("node or tests/interop/node/node_modules missing: node peer reference skipped")
        return
    proc = subprocess.run(
        [node, "--input-type=module", "-e", NODE_SCRIPT, str(runs), str(MESSAGE_SIZE)],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        log(f"node peer reference failed, skipped:\n{proc.stderr.strip()}")
        return
    result = json.loads(proc.stdout)
    ct = base64.b64decode(result["ct"])
    # The peer's file must be a real age file: shoal decrypts it.
    assert len(crypto.decrypt(ct, [crypto.parse_identity(result["identity"])])) == MESSAGE_SIZE
    package = json.loads(
        (NODE_DIR / "node_modules" / "age-encryption" / "package.json").read_text()
    )
    emit(
        {
            "op": "message",
            "impl": f"age-encryption {package['version']} (node {result['node']})",
            "key_type": "hybrid",
            "recipients": 1,
            "message_bytes": MESSAGE_SIZE,
            "header_bytes": header_bytes(ct),
            "file_bytes": len(ct),
            "encrypt_us": round(result["encrypt_us"], 1),
            "decrypt_first_us": round(result["decrypt_us"], 1),
            "decrypt_last_us": round(result["decrypt_us"], 1),
            "runs": runs,
        }
    )


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="stream size (default 1024)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, best kept (default 3)")
    parser.add_argument("--messages", type=int, default=300, help="runs per message timing")
    parser.add_argument("--skip-stream", action="store_true", help="only part B")
    parser.add_argument("--skip-messages", action="store_true", help="only part A")
    args = parser.parse_args()
    if args.size_mib < 1 or args.repeat < 1 or args.messages < 1:
        parser.error("sizes and counts must be positive")

    if not args.skip_stream:
        part_a(args.size_mib, args.repeat, shutil.which("age"))
    if not args.skip_messages:
        part_b(args.messages)
        part_b_node(args.messages)


if __name__ == "__main__":
    main()
