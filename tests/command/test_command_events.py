# ruff: noqa: RUF001 (Cyrillic letters are the point of the reports here)
"""Command's events: forwarded reports grouped across compartments.

First the pure core (:mod:`shoal.command._events`) on forwards crafted
here, as a desk seals them: who is believed (a handler of the compartment
the forward names) and who is refused; headers parsed defensively; events
grouped across compartments and never summed; nothing that names a
contact shown. Then end to end: the demo organization behind a real
``shoal serve`` with a third compartment, members' signed reports at two
doors forwarded through the real desk to the third, whose desk syncs and
exports them (``shoal desk forwards-export``), and ``shoal command events``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _served_org import Org, serve_demo
from member_kit import DeskDir, Member, run
from shoal import crypto, trusted
from shoal.command._events import (
    TWO_DOORS,
    Handler,
    as_json,
    events,
    lines,
    open_forwards,
)
from shoal.command._state import Layout as CommandLayout
from shoal.corroborate import Settings
from shoal.desk._pseudonym import pseudonym
from shoal.desk._state import load_index
from shoal.desk._workbench import Workbench

READING = crypto.generate_identity()
ALICE, BOB, CAROL = (crypto.SigningKey.generate() for _ in range(3))
NORTH, SOUTH = "a" * 32, "b" * 32
SIGNERS = {
    ALICE.verify_key: {NORTH: Handler("alice", "north")},
    BOB.verify_key: {SOUTH: Handler("bob", "south")},
}
SETTINGS = Settings()
KHARKIV = {"lat": 49.9935, "lon": 36.2304, "cell_m": 0}
LVIV = {"lat": 49.8397, "lon": 24.0297, "cell_m": 0}
UK = "Колона з 12 танків пройшла через міст на Салтівці у Харкові о 14:00, номер 4471"
RU = "Колонна из 12 танков прошла через мост на Салтовке в Харькове в 14:00, номер 4471"
PHOTO_SHA = "5" * 64
CONTACT = "c" * 32


def header(compartment: str, **extra: Any) -> dict[str, Any]:
    """A forward's header as Workbench.forward writes it; ``extra``
    replaces or adds fields ("original" is merged)."""
    original = {
        "kind": "report",
        "day": "2026-11-23",
        "time": "2026-11-23T05:40:00Z",
        "standing": "signed by the member's key recorded at vetting",
        "credibility": "2",
        "reliability": "B",
        "sha256": None,
        "dhash": None,
        **extra.pop("original", {}),
    }
    return {
        "kind": "forward",
        "time": "2026-11-24T09:00:00Z",
        "from": compartment,
        "from_door": "north" if compartment == NORTH else "south",
        "to": "c" * 32,
        "handler": "h" * 32,
        "original": original,
        "place": KHARKIV,
        "corroboration": {"independent": 1, "sources": 1, "reasons": ["1 report from 1 source"]},
        **extra,
    }


def sealed(signer: Any, head: dict[str, Any], text: str = UK) -> bytes:
    return crypto.encrypt_item([READING.recipient()], head, text.encode(), signer)


def opened_events(files: list[tuple[str, bytes]]) -> tuple[list[Any], tuple[str, ...]]:
    opened = open_forwards(files, READING, SIGNERS)
    return list(events(opened.forwards, SETTINGS)), opened.refused


# -- the pure core -----------------------------------------------------------------


def test_alike_reports_from_two_compartments_are_one_event_never_two_confirmations() -> None:
    found, refused = opened_events([
        ("n1", sealed(ALICE, header(NORTH), UK)),
        ("s1", sealed(BOB, header(SOUTH), RU)),
        ("s2", sealed(BOB, header(SOUTH, place=LVIV), "Обстріл вокзалу у Львові, двоє поранених")),
    ])  # fmt: skip

    assert refused == ()
    assert [sorted(f.report.key for f in e.forwards) for e in found] == [["n1", "s1"], ["s2"]]
    both = found[0]
    # Each desk found one independent source behind its report: one person
    # can write to two doors, so command counts 1, not 2.
    assert (both.independence.sources, both.independence.independent) == (2, 1)
    assert any("one person can write to two doors" in r for r in both.independence.reasons)
    assert both.suggestion.grade == "2"  # one source graded B: probably true
    shown = "\n".join(lines(both))
    assert f"compartment 'north' ({NORTH})  2026-11-23  report  Колона з 12 танків" in shown
    assert "compartment 'south'" in shown and "suggested credibility: 2" in shown
    assert "its desk: 1 report from 1 source" in shown
    assert as_json(both)["independent"] == 1
    assert "two doors" in TWO_DOORS


def test_the_same_photo_forwarded_by_two_compartments_is_one_origin() -> None:
    """No words, no time, no place: the file and the picture still link them."""
    image = {"original": {"sha256": PHOTO_SHA, "time": None}, "name": "photo.png"}
    near = {"original": {"dhash": "00ff00ff00ff00f1", "time": None}, "name": "p.png"}
    found, _ = opened_events([
        ("n1", sealed(ALICE, header(NORTH, **image, time=None, place=None), "")),
        ("s1", sealed(BOB, header(SOUTH, **image, time=None, place=None), "")),
        ("s2", sealed(BOB, header(SOUTH, **near, place=LVIV), "")),
        ("n2", sealed(ALICE, header(NORTH, original={"dhash": "00ff00ff00ff00f0"}), "")),
    ])  # fmt: skip

    assert sorted(sorted(f.report.key for f in e.forwards) for e in found) == [
        ["n1", "s1"],
        ["n2", "s2"],
    ]
    photo = next(e for e in found if {f.report.key for f in e.forwards} == {"n1", "s1"})
    assert "the same photo came from 2 of them" in photo.independence.reasons[0]
    assert "(a file)" in "\n".join(lines(photo))


class Replayed:
    """A handler's key with a signature they made over other bytes: a
    forward whose header was changed after it was signed."""

    def __init__(self, handler: crypto.SigningKey) -> None:
        self.verify_key = handler.verify_key
        self._signature = handler.sign(b"the header as the handler signed it")

    def sign(self, message: bytes) -> bytes:
        return self._signature


def test_forwards_command_cannot_verify_are_refused_and_never_grouped() -> None:
    stranger = crypto.SigningKey.generate()
    elsewhere = crypto.encrypt_item(
        [crypto.generate_identity().recipient()], header(NORTH), UK.encode(), ALICE
    )
    files = [
        ("unsigned", sealed(None, header(NORTH))),
        ("stranger", sealed(stranger, header(NORTH))),
        ("other compartment", sealed(ALICE, header(SOUTH))),  # alice is no handler of south
        ("broken signature", sealed(Replayed(ALICE), header(NORTH))),
        ("not for command", elsewhere),
        ("not a forward", sealed(ALICE, {**header(NORTH), "kind": "audit"})),
        ("junk", b"age-encryption.org/v1\n"),
    ]

    found, refused = opened_events([*files, ("good", sealed(BOB, header(SOUTH), RU))])

    assert [r.split(":")[0] for r in refused] == [name for name, _ in files]
    assert "signature is broken" in refused[3] and "never counted" in refused[0]
    assert [[f.report.key for f in e.forwards] for e in found] == [["good"]]


@pytest.mark.parametrize(
    ("changes", "attribute", "expected"),
    [
        ({"place": {"lat": 200, "lon": 36.2}}, "spot", None),
        ({"place": {"lat": True, "lon": 36.2}}, "spot", None),
        ({"place": {"lat": float("nan"), "lon": 36.2}}, "spot", None),
        ({"place": "49.99,36.23"}, "spot", None),
        ({"place": {**KHARKIV, "cell_m": -5}}, "cell", 0),
        ({"place": {**KHARKIV, "cell_m": 10**9}}, "cell", 0),
        ({"place": {**KHARKIV, "cell_m": 10_000}}, "cell", 10_000),
        ({"corroboration": {"independent": "3"}}, "declared", 0),
        ({"corroboration": {"independent": True}}, "declared", 0),
        ({"corroboration": {"independent": 10**9}}, "declared", 0),
        ({"corroboration": {"independent": -1}}, "declared", 0),
        ({"corroboration": [3]}, "declared", 0),
        ({"corroboration": {"independent": 3}}, "declared", 3),
        ({"original": {"sha256": "A" * 64}}, "sha256", ()),
        ({"original": {"sha256": "a" * 63}}, "sha256", ()),
        ({"original": {"sha256": "a" * 64}}, "sha256", ("a" * 64,)),
        ({"original": {"dhash": "0123"}}, "dhash", ()),
        ({"original": {"dhash": 255}}, "dhash", ()),
        ({"original": {"dhash": "00000000000000ff"}}, "dhash", (255,)),
        # When the report says it happened, with its zone; never when it was
        # forwarded (the header's own "time"), never a guessed zone.
        ({"original": {"time": "yesterday"}}, "time", None),
        ({"original": {"time": "2026-11-23T05:40:00"}}, "time", None),
        ({"original": {"time": "2026-11-23T05:40:00+02:00"}}, "time", 1_795_405_200.0),
        ({"original": {"time": 10.0**12}}, "time", None),
        ({"original": {"time": None}, "time": "2026-11-24T09:00:00Z"}, "time", None),
        ({"original": {"time": None}, "time": None}, "time", None),
        ({"original": "a string"}, "credibility", None),
        ({"original": {"credibility": "9"}}, "credibility", None),
        ({"original": {"reliability": "b"}}, "reliability", None),
        ({"original": {"day": "23.11.2026"}}, "day", None),
        ({"original": {"kind": "Report\x1b"}}, "kind", None),
        ({"corroboration": {"independent": 1, "reasons": "all good"}}, "said", ()),
        ({"corroboration": {"independent": 1, "reasons": ["x" * 900, 5]}}, "said", ("x" * 300,)),
    ],
)
def test_each_header_field_is_parsed_for_its_type_and_bounds(
    changes: dict[str, Any], attribute: str, expected: object
) -> None:
    head = header(NORTH)
    for key, value in changes.items():
        head[key] = (
            {**head[key], **value} if key == "original" and isinstance(value, dict) else value
        )
    (forward,) = open_forwards([("n1", sealed(ALICE, head))], READING, SIGNERS).forwards
    report = forward.report
    found = {
        "spot": report.spot,
        "cell": report.spot.cell_m if report.spot else None,
        "declared": report.declared,
        "sha256": report.sha256,
        "dhash": report.dhash,
        "time": report.time,
        "credibility": forward.credibility,
        "reliability": forward.reliability,
        "day": forward.day,
        "kind": forward.kind,
        "said": forward.said,
    }[attribute]
    assert found == expected
    assert report.verified and report.source is None and report.compartment == NORTH


def test_nothing_that_names_a_contact_is_shown_even_if_a_desk_put_it_in() -> None:
    """A forward carries no contact; a desk that added one anyway (or a
    contact's pseudonym) still gets none of it shown: only chosen fields are."""
    named = pseudonym(NORTH, CONTACT)
    head = header(
        NORTH,
        contact=CONTACT,
        pseudonym=named,
        original={"contact": CONTACT, "pseudonym": named, "standing": f"contact {CONTACT}"},
    )
    found, _ = opened_events([("n1", sealed(ALICE, head, "\x1b[31mred\u202e text"))])
    shown = "\n".join(lines(found[0])) + json.dumps(as_json(found[0]), ensure_ascii=False)
    assert CONTACT not in shown and named not in shown
    assert "\x1b" not in shown and "\u202e" not in shown and "red" in shown


# -- end to end ----------------------------------------------------------------------

HQ = "hq"
PLACE = {"lat": 49.9935, "lon": 36.2304, "cell_m": 500}
WORK_FACTOR = "14"  # keystores open in ~50 ms, as the demo's
BROKEN = "not a forward command can open, or its signature is broken"


class Quiet:
    def expect(self, count: int) -> None:
        pass

    def advance(self) -> None:
        pass


def add_compartment(served: Org, door: str) -> DeskDir:
    """A third compartment with one handler, through command's, the
    handler's and the operator's command lines, as the demo makes its two."""
    root, command_dir = served.root, served.root / "command"
    passphrase = root / "passphrases" / f"desk-{door}.passphrase"
    passphrase.write_text("a passphrase for the third desk\n")
    command_pass = root / "passphrases" / "command.passphrase"
    desk = DeskDir(root / f"desk-{door}", passphrase)
    escrow = crypto.parse_identity((root / "passphrases" / "escrow.key").read_text().strip())
    run("desk", "keygen", "--dir", str(desk.folder), "--passphrase-file", str(passphrase),
        "--work-factor", WORK_FACTOR)  # fmt: skip
    at = ["--dir", str(command_dir), "--door", door]
    run("command", "compartment", "add", *at)
    run("command", "compartment", "policy", *at, "--escrow", str(escrow.recipient()))
    run("command", "handler", "add", *at, "--bundle", str(desk.folder / "enrollment.txt"))
    run("command", "epoch", *at, "--passphrase-file", str(command_pass))
    state = json.loads((command_dir / "organization.json").read_text())
    run("desk", "enroll", "--dir", str(desk.folder), "--server", served.url,
        "--root-key", (command_dir / "root.vkey").read_text().strip(), "--door", door,
        "--compartment", state["compartments"][door]["id"])  # fmt: skip
    run("admin", "import", "--data", str(root / "server"),
        str(command_dir / "notes" / f"epoch-{door}-1.note"))  # fmt: skip
    desk.run("sync")
    return desk


def member_report(served: Org, door: str, text: str) -> tuple[str, str]:
    """A member of ``door`` vetted (key recorded) sends a signed report
    with a place; forwarded by the door's handler to HQ. (contact, item)."""
    desk = DeskDir.of(served, door)
    desk.run("sync")
    member = Member(served, door)
    epoch = desk.trust().current
    offer = member.offer_key(epoch)
    desk.run("sync")
    contact = desk.list_lines()[offer].split("contact ")[1].split()[0]
    desk.run("move", contact, "in-contact", "--reason", "answered")
    desk.run("move", contact, "vetting", "--reason", "met, key compared",
             "--member-key", member.key_text)  # fmt: skip
    _, item, _ = member.report(epoch, text, {}, place=PLACE)
    bench = Workbench.unlock(desk.layout, desk.passphrase_file.read_text().strip())
    try:
        bench.sync(Quiet(), Quiet())
        bench.forward(item, HQ)
    finally:
        bench.close()
    return contact, item


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    org = serve_demo(tmp_path_factory.mktemp("events"))
    try:
        yield org
    finally:
        org.stop()


def test_command_groups_forwards_across_compartments_and_refuses_a_forged_one(
    served: Org, tmp_path: Path
) -> None:
    hq = add_compartment(served, HQ)
    contacts = [member_report(served, "news", UK)[0], member_report(served, "field", RU)[0]]
    Member(served, HQ).offer_key(hq.trust().current)  # HQ's own contact: not a forward
    hq.run("sync")

    exported = tmp_path / "forwards"
    said = run("desk", "forwards-export", "--dir", str(hq.folder), str(exported)).stdout
    index = load_index(hq.layout).items
    held = {i.item_id for i in index if i.direction == "forwarded"}
    assert said.startswith("2 forwarded item(s) written") and len(held) == 2 < len(index)
    files = sorted(exported.iterdir())
    assert [p.name for p in files] == sorted(f"{i}.age" for i in held)
    # As synced: the desk decrypted nothing to export them.
    assert all(p.read_bytes() == hq.layout.item_path(p.stem).read_bytes() for p in files)

    # A seizer edits a forward: news's handler's key, the header changed
    # (declaring 5 independent sources), the signature no longer its own.
    command_dir = served.root / "command"
    command_pass = served.root / "passphrases" / "command.passphrase"
    keystore = CommandLayout(command_dir).command_keystore
    reading = trusted.unlock_keystore(keystore, command_pass.read_text().strip()).identities[0]
    envelope, content = crypto.decrypt_item(files[0].read_bytes(), [reading])
    signer = next(
        DeskDir.of(served, door).keystore().signing_key
        for door in ("news", "field")
        if DeskDir.of(served, door).keystore().signing_key.verify_key == envelope.signer
    )
    forged_head = {**envelope.header, "corroboration": {"independent": 5, "sources": 5}}
    forged = tmp_path / "forged.age"
    forged.write_bytes(
        crypto.encrypt_item([reading.recipient()], forged_head, content, Replayed(signer))
    )

    out = tmp_path / "events.json"
    shown = run(
        "command", "events", "--dir", str(command_dir), "--passphrase-file", str(command_pass),
        "--json", str(out), *map(str, files), str(forged),
    ).stdout  # fmt: skip

    value = json.loads(out.read_text())
    (event,) = value["events"]
    assert sorted(r["door"] for r in event["reports"]) == ["field", "news"]
    assert [r["declared"] for r in event["reports"]] == [1, 1]
    assert (event["sources"], event["independent"]) == (2, 1)  # never summed
    assert any("one person can write to two doors" in r for r in event["reasons"])
    assert event["suggested"]["grade"] == "6"  # one source, not graded
    assert value["refused"] == [f"forged: {BROKEN}"]
    assert TWO_DOORS in shown and "Event of 2 reports, 1 independent" in shown
    assert "compartment 'news'" in shown and "Колона з 12 танків" in shown
    assert f"forged: {BROKEN}" in shown.split("Refused, never grouped (1):")[1]
    # Nothing names the contacts behind the reports.
    compartments = json.loads((command_dir / "organization.json").read_text())
    names = [*contacts, *(pseudonym(compartments["compartments"][d]["id"], c)
                          for d, c in zip(("news", "field"), contacts, strict=True))]  # fmt: skip
    for name in names:
        assert name not in shown and name not in out.read_text()
