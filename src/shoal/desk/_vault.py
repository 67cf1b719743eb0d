"""What the desk itself knows, encrypted at rest: an append-only log of records.

The desk UI must be instant at 100,000 items, but the items are age files
sealed to the whole compartment (one post-quantum decapsulation each: about
15 s for 100,000 here) and the desk's own knowledge — grades, notes, tags,
what was read, each item's decrypted summary — must never lie in plaintext
on the laptop. So each item is decrypted once, at sync, and what the UI
needs of it becomes a JSON record; records are appended in batches to
``DIR/vault/<n>-log.age``, each an age file sealed to this desk's own
recipients only. Unlocking reads the vault in order and rebuilds the
in-memory index (:mod:`._library`): one decapsulation per file, then
ChaCha20-Poly1305 at memory speed. ``bench/desk_ui.py`` measures it.

Compaction writes everything current as one ``<n>-snapshot.age`` (a
higher number than every log before it), makes it durable, and only then
deletes the older files: a crash at any point leaves either the old files
or the snapshot, and replay starts at the newest snapshot, so a record is
never lost nor counted twice. Every file is written through
:class:`shoal.trusted.PendingFile` (temporary name, fsync, rename).

Records are plain JSON objects with a ``"t"`` type; the vault does not
interpret them. A vault file that does not decrypt is an error, never
skipped: losing a grade silently would be worse than refusing to unlock.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import crypto, trusted
from .errors import NotReadyError

_NAME = re.compile(r"\A([0-9]{8})-(log|snapshot)\.age\Z")
#: Logs replayed before a compaction is worth it: each costs one
#: decapsulation at unlock (about 0.15 ms classic, 1 ms hybrid).
COMPACT_AFTER = 64


class Vault:
    def __init__(
        self,
        folder: Path,
        recipients: Sequence[crypto.Recipient],
        identities: Sequence[crypto.Identity],
    ) -> None:
        self._folder = folder
        self._recipients = list(recipients)
        self._identities = list(identities)

    def _files(self) -> list[tuple[int, str, Path]]:
        if not self._folder.exists():
            return []
        found = []
        for path in self._folder.iterdir():
            match = _NAME.match(path.name)
            if match:
                found.append((int(match.group(1)), match.group(2), path))
        return sorted(found)

    def _live(self) -> list[tuple[int, str, Path]]:
        """The newest snapshot and every log after it."""
        files = self._files()
        snapshots = [i for i, (_, kind, _) in enumerate(files) if kind == "snapshot"]
        return files[snapshots[-1] :] if snapshots else files

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, oldest first."""
        for _, _, path in self._live():
            yield from self._read(path)

    def _read(self, path: Path) -> Iterator[dict[str, Any]]:
        try:
            with path.open("rb") as raw:
                reader = io.BufferedReader(crypto.decrypt_reader(raw, self._identities), 1 << 20)
                for line in reader:
                    record = json.loads(line)
                    if not isinstance(record, dict):
                        raise ValueError("not a record")
                    yield record
        except (crypto.CryptoError, ValueError) as exc:
            raise NotReadyError(
                f"{path.name} in the desk's vault does not open with this desk's keys: "
                "damaged, or written by another desk"
            ) from exc

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Add ``records`` durably, as one new log file (nothing if empty)."""
        self._write(records, "log")

    def compact(self, records: Iterable[dict[str, Any]]) -> None:
        """Replace the whole vault by ``records`` (everything current)."""
        old = self._files()
        self._write(records, "snapshot", force=True)
        for _, _, path in old:
            path.unlink(missing_ok=True)

    @property
    def needs_compaction(self) -> bool:
        return len(self._live()) > COMPACT_AFTER

    def _write(self, records: Iterable[dict[str, Any]], kind: str, *, force: bool = False) -> None:
        trusted.make_private_dir(self._folder)
        files = self._files()
        number = files[-1][0] + 1 if files else 1
        written = 0
        with trusted.PendingFile(self._folder) as pending:
            with crypto.encrypt_writer(pending.file, self._recipients) as writer:
                buffered = io.BufferedWriter(writer, 1 << 20)  # type: ignore[type-var]
                for record in records:
                    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
                    buffered.write(line.encode() + b"\n")
                    written += 1
                buffered.flush()
            if written or force:
                try:
                    # Never over another writer's file of the same number.
                    pending.commit(self._folder / f"{number:08d}-{kind}.age", replace=False)
                except FileExistsError:
                    raise NotReadyError(
                        "another process wrote to this desk's vault at the same time: "
                        "nothing was added; close the other desk UI"
                    ) from None
