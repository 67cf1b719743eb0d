"""Every column a seized server's database has is one of the kinds the
design allows it to show (DESIGN.md, "What the server's disk may show").

A fresh database is migrated to the head on both engines and every table
and column it has is looked up in ``KINDS`` below: a column that is not
there fails (a new column must be classified here, with its reason), and
so does one whose type does not fit its kind (a "day" that can hold a time
of day, a count that is text, ciphertext kept as text) or whose name hints
at who connected (an address, a host, a user agent, a referer).

The kinds the issue names are id, compartment id, day, count, flag, padded
size and ciphertext. Four more were needed, each public by design or
derived so that it tells no more than a kind above (see ``EXTRA_KINDS``);
they are listed in the issue's report, not hidden here.

How it was shown to fail: by hand, adding a column ``client_ip`` to a copy
of the migrated tables, dropping ``items.day`` from ``KINDS``, and
classifying ``items.day`` as ``count`` each made a test below fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, types

import _engines
from shoal.store import create_db_engine, migrate

#: The kinds the design allows.
ALLOWED_KINDS = {"id", "compartment id", "day", "count", "flag", "padded size", "ciphertext"}

#: Kinds the allowed ones do not cover, each public by design or no more
#: telling than an allowed kind:
EXTRA_KINDS = {
    # A SHA-256 (or HKDF) output of ciphertext or of a random secret the
    # server never stores: names a blob or a token, no more than an id.
    "digest",
    # A public key or its fingerprint: a contact's age recipient (the
    # server must encrypt to it), a handler's key id (checked at login).
    "public key",
    # A signed note command published (organization, command key, epoch):
    # public material every desk and member verifies.
    "signed note",
    # A name from a fixed public vocabulary or the operator's own
    # configuration: a door (a public URL path), a note's kind, a quota's
    # name, the schema's revision.
    "public label",
}

#: table.column → kind. A new column goes here with its kind, or the design changes.
KINDS = {
    "alembic_version.version_num": "public label",
    "notes.id": "id",
    "notes.kind": "public label",
    "notes.compartment_id": "compartment id",
    "notes.number": "count",
    "notes.body": "signed note",
    "compartments.id": "compartment id",
    "compartments.door": "public label",
    "compartments.epoch": "count",
    "contacts.id": "id",
    "contacts.lookup_id": "digest",
    "contacts.compartment_id": "compartment id",
    "contacts.accepted": "flag",
    "contacts.recipient": "public key",
    "contacts.state": "ciphertext",
    "contacts.day": "day",
    "items.seq": "count",  # arrival order, for the desks' sync cursors
    "items.id": "id",
    "items.compartment_id": "compartment id",
    "items.contact_id": "id",
    "items.direction": "flag",  # "in", "out" or "forwarded"
    "items.blob_id": "digest",
    "items.size": "padded size",
    "items.epoch": "count",
    "items.day": "day",
    "sessions.id": "id",
    "sessions.record": "ciphertext",
    "sessions.day": "day",
    "handler_challenges.id": "id",
    "handler_challenges.nonce": "digest",  # random bytes, sent to the desk
    "handler_challenges.day": "day",
    "handler_tokens.token_hash": "digest",
    "handler_tokens.handler_id": "public key",
    "handler_tokens.compartment_id": "compartment id",
    "handler_tokens.day": "day",
    "spent_forms.id_hash": "digest",
    "spent_forms.day": "day",
    "handler_sync.handler_id": "public key",
    "handler_sync.compartment_id": "compartment id",
    "handler_sync.seq": "count",
    "handler_sync.day": "day",
    "uploads.id": "id",
    "uploads.contact_id": "id",
    "uploads.compartment_id": "compartment id",
    "uploads.size": "padded size",
    "uploads.received": "count",
    "uploads.epoch": "count",
    "uploads.item_id": "id",
    "uploads.day": "day",
    "upload_pieces.upload_id": "id",
    "upload_pieces.offset": "count",
    "upload_pieces.blob_id": "digest",
    "upload_pieces.size": "count",  # a piece of a padded upload
    "quotas.name": "public label",
    "quotas.used": "count",
    "blob_objects.blob_id": "digest",
    "blob_objects.storage_id": "id",
    "blob_objects.size": "padded size",
    "blob_objects.day": "day",
    "blob_chunks.storage_id": "id",
    "blob_chunks.idx": "count",
    "blob_chunks.data": "ciphertext",
    "blob_writes.storage_id": "id",
    "blob_writes.day": "day",
    "alarms.token_hash": "digest",
    "alarms.compartment_id": "compartment id",
    "alarms.blob_id": "digest",
    "alarms.size": "padded size",
    "alarms.epoch": "count",
    "alarms.day": "day",
    "audit_entries.idx": "count",
    "audit_entries.compartment_id": "compartment id",
    "audit_entries.blob_id": "digest",
    "audit_entries.size": "padded size",
    "audit_entries.leaf": "digest",
    "audit_entries.day": "day",
    "audit_nodes.level": "count",
    "audit_nodes.idx": "count",
    "audit_nodes.hash": "digest",
    "audit_head.id": "count",  # always 1: the one row
    "audit_head.size": "count",
    "audit_head.edge": "digest",  # hashes of hashes, concatenated
}

#: The SQL types each kind may have (as the engine reports them back).
TYPES: dict[str, tuple[type[types.TypeEngine[object]], ...]] = {
    "id": (types.String,),
    "compartment id": (types.String,),
    # A date only: never DATETIME or TIMESTAMP, which hold a time of day.
    "day": (types.Date,),
    "count": (types.Integer,),
    "flag": (types.Boolean, types.String),
    "padded size": (types.Integer,),
    "ciphertext": (types._Binary,),
    "digest": (types._Binary, types.String),
    "public key": (types.String,),
    "signed note": (types.String,),
    "public label": (types.String,),
}

#: The longest string an id-like kind may hold, where it is a string: a
#: random id is 32 characters, a flag a short word, a digest in hex 64.
MAX_LENGTH = {"id": 32, "compartment id": 32, "flag": 16, "digest": 64}

#: Name parts that would say a column records who connected.
TELLTALE = re.compile(
    r"(^|_)(ip|ips|ipv4|ipv6|addr|address|host|hostname|referer|referrer|agent|"
    r"user_agent|ua|remote|peer|client|port|mac|geo|location|country|city)(_|$)"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(_engines.empty_database(request.param, tmp_path, request))
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


def columns(engine: Engine) -> dict[str, types.TypeEngine[object]]:
    """Every column of every table, as ``table.column`` → its reported type."""
    inspector = inspect(engine)
    return {
        f"{table}.{column['name']}": column["type"]
        for table in inspector.get_table_names()
        for column in inspector.get_columns(table)
    }


def test_the_kinds_are_the_allowed_ones_and_the_extras_named_above() -> None:
    assert set(KINDS.values()) <= ALLOWED_KINDS | EXTRA_KINDS
    assert set(TYPES) == ALLOWED_KINDS | EXTRA_KINDS


def test_every_column_is_classified(migrated: Engine) -> None:
    found = set(columns(migrated))
    assert sorted(found - set(KINDS)) == [], "columns not classified: say what each is"
    assert sorted(set(KINDS) - found) == [], "classified columns the schema no longer has"


def test_every_column_has_a_type_its_kind_allows(migrated: Engine) -> None:
    wrong = []
    for name, reported in columns(migrated).items():
        kind = KINDS.get(name)
        if kind is None:
            continue  # reported by the test above
        if not isinstance(reported, TYPES[kind]) or isinstance(reported, types.DateTime):
            wrong.append(f"{name}: {kind} as {reported}")
        # Binary lengths are not kept by either engine; a string's are.
        length = getattr(reported, "length", None)
        too_long = length is None or length > MAX_LENGTH.get(kind, length)
        if isinstance(reported, types.String) and kind in MAX_LENGTH and too_long:
            wrong.append(f"{name}: {kind} of length {length}")
    assert wrong == []


def test_no_column_name_hints_at_who_connected(migrated: Engine) -> None:
    assert [name for name in columns(migrated) if TELLTALE.search(name.split(".")[1])] == []


@pytest.mark.parametrize("name", ["client_ip", "remote_addr", "user_agent", "referer", "host"])
def test_the_name_check_catches_telltale_names(name: str) -> None:
    assert TELLTALE.search(name)
    assert not TELLTALE.search("recipient") and not TELLTALE.search("compartment_id")
