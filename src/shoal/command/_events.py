"""Command's events: what desks forwarded, grouped across compartments.

Forwards are sealed to the compartment they go to and to command's
reading identity (``shoal.desk._workbench.forward_recipients``). Command,
who never talks to the server, reads them from files a desk exported
(``shoal desk forwards-export``), as it reads audit entries
(:mod:`._audit`): each is opened with command's identity and believed only
if a handler of the compartment it names signed it — a handler of any
epoch command signed for that compartment. What cannot be opened, is not
a forward, or is not signed by such a handler is refused: listed, never
grouped, so that a seized server cannot add a "confirmation".

The forwards then go through :mod:`shoal.corroborate` as reports of the
compartment that forwarded them, each counting as many independent
sources as its desk found behind it (its signed word) and compartments
never added up: one person can write to two doors.

A forward's header is the forwarding handler's signed word, but a handler's
desk can be wrong or taken, so every field is parsed here for its type and
bounds (a field that fails is taken as absent). Nothing in a forward names
a contact, and nothing here would show one: a report is shown by its
compartment, day, kind and first words.

Parsed here rather than with the desk's parsers (``shoal.desk._items``):
command's machine holds the organization's keys and imports nothing of
the desk's. Pure: the files' bytes, command's identity and the handlers'
keys come in; values and lines of text go out.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import corroborate, crypto, org
from ..corroborate import Independence, Report, Settings, Spot, Suggestion

#: Characters of a forward's text weighed for likeness: more only costs time.
MAX_TEXT = 100_000
#: Words of a report shown in the listing.
FIRST_WORDS = 12
#: The widest grid cell a sender can coarsen a place to (as the desk reads it).
MAX_CELL = 1_000_000
#: Reasons of the forwarding desk shown at most, each cut to this length.
MOST_REASONS, REASON_CHARS = 10, 300

#: Said once above the events: why two compartments are never two sources.
TWO_DOORS = (
    "Reports from different compartments may come from one person writing to two doors: "
    "they are never counted as independent of each other on that ground alone."
)

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_GRADES = frozenset("123456")
_RELIABILITIES = frozenset("ABCDEF")
_KIND = re.compile(r"[a-z][a-z0-9-]{0,31}")
#: Not shown: control characters (escape sequences), format characters
#: (bidirectional overrides, zero-width) and surrogates.
_UNSHOWN = frozenset({"Cc", "Cf", "Cs"})


@dataclass(frozen=True)
class Handler:
    """A handler as command's epochs list them, in one compartment."""

    handler_id: str
    door: str


#: Every handler key command ever listed: key → compartment id → handler.
Signers = Mapping[crypto.VerifyKey, Mapping[str, Handler]]


def signers_of(epochs: Iterable[org.Epoch]) -> dict[crypto.VerifyKey, dict[str, Handler]]:
    """The handlers of ``epochs`` (command's own signed notes), by key."""
    found: dict[crypto.VerifyKey, dict[str, Handler]] = {}
    for epoch in epochs:
        for entry in epoch.handlers:
            found.setdefault(entry.verify_key, {})[epoch.compartment_id] = Handler(
                entry.handler_id, epoch.door
            )
    return found


@dataclass(frozen=True)
class Forward:
    """One forward command could verify, as it is shown and weighed."""

    report: Report
    #: The forwarding compartment's door and handler (from command's epochs).
    door: str
    handler: str
    #: The original's day received and kind, as the forwarding desk says.
    day: str | None
    kind: str | None
    #: The forwarded file's name, if a file was forwarded (never shown).
    file: str | None
    #: The forwarding handler's credibility grade of the report (1 to 6),
    #: and their desk's reliability grade of its source (A to F).
    credibility: str | None
    reliability: str | None
    #: What the forwarding desk said it found, in its words.
    said: tuple[str, ...]


@dataclass(frozen=True)
class Opened:
    forwards: tuple[Forward, ...]
    #: Files refused, each "name: why".
    refused: tuple[str, ...]


def open_forwards(
    files: Iterable[tuple[str, bytes]], identity: crypto.Identity, signers: Signers
) -> Opened:
    """``files``: (key, ciphertext) pairs, the key naming the item (its
    exported file's name); each is opened with ``identity`` and verified
    against ``signers``. One item exported by two desks of a compartment
    has one key: it is weighed once."""
    forwards: dict[str, Forward] = {}
    refused: list[str] = []
    for key, sealed in files:
        try:
            envelope, content = crypto.decrypt_item(sealed, [identity])
        except crypto.CryptoError:
            # A signature that does not verify fails here too: the envelope
            # checks it, and a forged item is no item.
            refused.append(f"{key}: not a forward command can open, or its signature is broken")
            continue
        header = envelope.header
        if header.get("kind") != "forward":
            refused.append(f"{key}: not a forward")
            continue
        compartment = header.get("from")
        handler = None
        if envelope.signer is not None and isinstance(compartment, str):
            handler = signers.get(envelope.signer, {}).get(compartment)
        if handler is None or not isinstance(compartment, str):
            refused.append(
                f"{key}: not signed by a handler of the compartment it names: never counted"
            )
            continue
        forwards[key] = _forward(key, header, content, compartment, handler)
    return Opened(tuple(forwards.values()), tuple(refused))


def _forward(
    key: str, header: Mapping[str, Any], content: bytes, compartment: str, handler: Handler
) -> Forward:
    original = header.get("original")
    original = original if isinstance(original, Mapping) else {}
    name = header.get("name")
    file = name if isinstance(name, str) else None
    text = "" if file is not None else content.decode("utf-8", errors="replace")[:MAX_TEXT]
    corroboration = header.get("corroboration")
    corroboration = corroboration if isinstance(corroboration, Mapping) else {}
    declared = corroboration.get("independent")
    if not _whole(declared, 0, corroborate.MAX_DECLARED):
        declared = 0
    sha256 = original.get("sha256")
    dhash = original.get("dhash")
    # When it happened, as the original says; else when it was forwarded.
    # When the report says it happened; never when it was forwarded, which
    # would join reports forwarded the same day however far apart they were.
    when = corroborate.instant(original.get("time"))
    report = Report(
        key=key,
        source=None,
        verified=True,
        compartment=compartment,
        time=when,
        spot=_spot(header.get("place")),
        text=text,
        sha256=(sha256,) if isinstance(sha256, str) and _HEX64.fullmatch(sha256) else (),
        dhash=(int(dhash, 16),) if isinstance(dhash, str) and _HEX16.fullmatch(dhash) else (),
        declared=declared,
    )
    said = corroboration.get("reasons")
    said = said if isinstance(said, list) else []
    return Forward(
        report=report,
        door=handler.door,
        handler=handler.handler_id,
        day=_matching(original.get("day"), _DAY),
        kind=_matching(original.get("kind"), _KIND),
        file=file,
        credibility=_one_of(original.get("credibility"), _GRADES),
        reliability=_one_of(original.get("reliability"), _RELIABILITIES),
        said=tuple(_printable(r)[:REASON_CHARS] for r in said[:MOST_REASONS] if isinstance(r, str)),
    )


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _matching(value: object, pattern: re.Pattern[str]) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def _one_of(value: object, allowed: frozenset[str]) -> str | None:
    return value if isinstance(value, str) and value in allowed else None


def _spot(value: object) -> Spot | None:
    if not isinstance(value, Mapping):
        return None
    lat, lon, cell = value.get("lat"), value.get("lon"), value.get("cell_m", 0)
    if not (_number(lat) and _number(lon)):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # type: ignore[operator]
        return None
    if not _whole(cell, 0, MAX_CELL):
        cell = 0  # a place whose cell is unreadable is still a place: as given
    return Spot(float(lat), float(lon), cell)  # type: ignore[arg-type]


@dataclass(frozen=True)
class CommandEvent:
    """Forwards telling of one event, and what stands behind it."""

    forwards: tuple[Forward, ...]
    independence: Independence
    suggestion: Suggestion


def events(forwards: Sequence[Forward], settings: Settings) -> tuple[CommandEvent, ...]:
    """The forwards grouped into events: most independent sources first,
    then the newest."""
    by_key = {f.report.key: f for f in forwards}
    reliability = {k: f.reliability for k, f in by_key.items()}
    grouping = corroborate.Grouping.of((f.report for f in forwards), settings)
    found = []
    for event in grouping.events():
        members = tuple(by_key[r.key] for r in event.reports)
        weighed = corroborate.independence(event.reports, lambda r: reliability[r.key])
        grades = [f.credibility for f in members]
        found.append(CommandEvent(members, weighed, corroborate.suggest(weighed, grades)))
    return tuple(sorted(found, key=_rank))


def _rank(event: CommandEvent) -> tuple[int, float, str]:
    times = [f.report.time for f in event.forwards if f.report.time is not None]
    newest = max(times, default=-1.0)
    return (-event.independence.independent, -newest, event.forwards[0].report.key)


def first_words(forward: Forward) -> str:
    if forward.file is not None:
        return "(a file)"
    words = forward.report.text.split()
    shown = " ".join(words[:FIRST_WORDS]) + (" …" if len(words) > FIRST_WORDS else "")
    return _printable(shown)


def _printable(text: str) -> str:
    """``text`` safe for a terminal, whatever a contact wrote."""
    return "".join(
        "\ufffd" if unicodedata.category(c) in _UNSHOWN else c for c in text.replace("\n", " ")
    )


def lines(event: CommandEvent) -> list[str]:
    """The event as shown: its reports, what stands behind it, the suggestion."""
    weighed = event.independence
    out = [f"Event of {_count(len(event.forwards), 'report')}, {weighed.independent} independent"]
    for f in event.forwards:
        repeat = "  (repeats an earlier report)" if f.report.key in weighed.repeats else ""
        out.append(
            f"  {f.report.key}  compartment {f.door!r} ({f.report.compartment})  "
            f"{f.day or '?'}  {f.kind or '?'}  "
            f"{first_words(f)}{repeat}"
        )
        out.extend(f"      its desk: {reason}" for reason in f.said)
    out.extend(f"  - {reason}" for reason in weighed.reasons)
    out.append(f"  suggested credibility: {event.suggestion.grade}")
    out.extend(f"    - {reason}" for reason in event.suggestion.reasons)
    return out


def as_json(event: CommandEvent) -> dict[str, Any]:
    """The event as ``--json`` writes it: what :func:`lines` shows."""
    weighed = event.independence
    return {
        "reports": [
            {
                "key": f.report.key,
                "compartment": f.report.compartment,
                "door": f.door,
                "day": f.day,
                "kind": f.kind,
                "first_words": first_words(f),
                "repeats": f.report.key in weighed.repeats,
                "declared": f.report.declared,
                "its_desk_said": list(f.said),
            }
            for f in event.forwards
        ],
        "sources": weighed.sources,
        "independent": weighed.independent,
        "reasons": list(weighed.reasons),
        "suggested": {"grade": event.suggestion.grade, "reasons": list(event.suggestion.reasons)},
    }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
