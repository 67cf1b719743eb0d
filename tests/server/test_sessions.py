"""Contacts' sessions: neither the database nor the cookie alone names anyone."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from _server_kit import FakeClock
from sqlalchemy.orm import Session

from shoal import crypto
from shoal.server._config import load_config
from shoal.server._sessions import LIFETIME, ContactSessions
from shoal.server.errors import UnauthorizedError
from shoal.store import create_db_engine, schema, session_factory

CONTACT = "ab" * 16


@pytest.fixture
def db(data_dir: Path) -> Iterator[Session]:
    engine = create_db_engine(load_config(data_dir).database)
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


@pytest.fixture
def identity() -> crypto.AgeIdentity:
    return crypto.generate_identity()


def test_a_session_opens_with_its_token(
    db: Session, clock: FakeClock, identity: crypto.AgeIdentity
) -> None:
    sessions = ContactSessions(clock)
    token = sessions.create(db, CONTACT, identity)
    db.commit()
    opened = sessions.open(db, token)
    assert opened.contact_id == CONTACT
    assert opened.identity.secret_string() == identity.secret_string()
    assert CONTACT not in repr(opened) and "SECRET" not in repr(opened)


def test_the_stored_record_holds_neither_contact_nor_identity(
    db: Session, clock: FakeClock, identity: crypto.AgeIdentity
) -> None:
    token = ContactSessions(clock).create(db, CONTACT, identity)
    db.commit()
    (row,) = db.query(schema.Session).all()
    assert token.split(".")[0] == row.id
    for secret in (CONTACT.encode(), identity.secret_string().encode()):
        assert secret not in row.record
    # ...and the cookie holds only the random id and the random key.
    assert CONTACT not in token and len(base64.urlsafe_b64decode(token.split(".")[1] + "=")) == 32


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t.split(".")[0] + "." + base64.urlsafe_b64encode(bytes(32)).decode().rstrip("="),
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: "0" * 32 + "." + t.split(".")[1],
        lambda t: t.split(".")[0],
        lambda t: t + "=",
        lambda t: "",
    ],
)
def test_a_wrong_token_opens_nothing_and_ends_nothing(
    db: Session, clock: FakeClock, identity: crypto.AgeIdentity, damage: object
) -> None:
    sessions = ContactSessions(clock)
    token = sessions.create(db, CONTACT, identity)
    db.commit()
    wrong = damage(token)  # type: ignore[operator]
    with pytest.raises(UnauthorizedError):
        sessions.open(db, wrong)
    sessions.end(db, wrong)
    db.commit()
    assert sessions.open(db, token).contact_id == CONTACT


def test_a_session_expires_after_two_hours_and_its_row_goes(
    db: Session, clock: FakeClock, identity: crypto.AgeIdentity
) -> None:
    sessions = ContactSessions(clock)
    token = sessions.create(db, CONTACT, identity)
    db.commit()
    clock.advance(seconds=LIFETIME.total_seconds() - 1)
    sessions.open(db, token)
    clock.advance(seconds=1)
    with pytest.raises(UnauthorizedError):
        sessions.open(db, token)
    assert db.query(schema.Session).count() == 0


def test_ending_a_session_deletes_its_row(
    db: Session, clock: FakeClock, identity: crypto.AgeIdentity
) -> None:
    sessions = ContactSessions(clock)
    token = sessions.create(db, CONTACT, identity)
    db.commit()
    sessions.end(db, token)
    db.commit()
    assert db.query(schema.Session).count() == 0
    with pytest.raises(UnauthorizedError):
        sessions.open(db, token)


def test_rows_of_dead_sessions_are_swept(
    db: Session, clock: FakeClock, identity: crypto.AgeIdentity
) -> None:
    sessions = ContactSessions(clock)
    sessions.create(db, CONTACT, identity)
    db.commit()
    clock.advance(days=2)
    sessions.create(db, CONTACT, identity)
    db.commit()
    assert db.query(schema.Session).count() == 1


def test_lifetime_is_two_hours() -> None:
    assert timedelta(hours=2) == LIFETIME
