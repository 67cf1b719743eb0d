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
from shoal.server._sessions import IDLE, RENEWED, ContactSessions
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
    token = sessions.create(db, CONTACT, identity, practiced=True)
    db.commit()
    opened = sessions.open(db, token)
    assert opened.contact_id == CONTACT
    assert opened.identity.secret_string() == identity.secret_string()
    assert CONTACT not in repr(opened) and "SECRET" not in repr(opened)


def test_the_stored_record_holds_neither_contact_nor_identity(
    db: Session, clock: FakeClock, identity: crypto.AgeIdentity
) -> None:
    token = ContactSessions(clock).create(db, CONTACT, identity, practiced=True)
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
    token = sessions.create(db, CONTACT, identity, practiced=True)
    db.commit()
    wrong = damage(token)  # type: ignore[operator]
    with pytest.raises(UnauthorizedError):
        sessions.open(db, wrong)
    sessions.end(db, wrong)
    db.commit()
    assert sessions.open(db, token).contact_id == CONTACT


def test_a_session_ends_after_an_idle_hour_and_its_row_goes(
    db: Session, clock: FakeClock, identity: crypto.AgeIdentity
) -> None:
    sessions = ContactSessions(clock)
    token = sessions.create(db, CONTACT, identity, practiced=True)
    db.commit()
    clock.advance(seconds=IDLE.total_seconds() - 1)
    sessions.open(db, token)
    clock.advance(seconds=IDLE.total_seconds())
    with pytest.raises(UnauthorizedError):
        sessions.open(db, token)
    assert db.query(schema.Session).count() == 0


def test_each_use_restarts_the_idle_time(
    db: Session, clock: FakeClock, identity: crypto.AgeIdentity
) -> None:
    sessions = ContactSessions(clock)
    token = sessions.create(db, CONTACT, identity, practiced=True)
    db.commit()
    for _ in range(5):  # five idle-times long in all, never idle for one
        clock.advance(seconds=IDLE.total_seconds() - 60)
        sessions.open(db, token)
    (row,) = db.query(schema.Session).all()
    before = row.record
    clock.advance(seconds=RENEWED.total_seconds() + 1)
    sessions.open(db, token)
    # A new record each time: the end time is inside the ciphertext only.
    assert db.query(schema.Session).one().record != before


def test_a_use_soon_after_a_renewal_writes_nothing(
    db: Session, clock: FakeClock, identity: crypto.AgeIdentity
) -> None:
    """Within RENEWED of its last renewal a session is only read: a contact
    sending a message and its files costs no session write each."""
    sessions = ContactSessions(clock)
    token = sessions.create(db, CONTACT, identity, practiced=True)
    db.commit()
    before = db.query(schema.Session).one().record
    clock.advance(seconds=RENEWED.total_seconds() - 1)
    assert sessions.open(db, token).renewal_due(clock()) is False
    sessions.renew(db, token)
    db.commit()
    assert db.query(schema.Session).one().record == before
    # Its end has not moved: an idle hour from creation ends it.
    clock.advance(seconds=IDLE.total_seconds() - RENEWED.total_seconds() + 2)
    with pytest.raises(UnauthorizedError):
        sessions.open(db, token)


def test_renew_keeps_a_session_that_a_long_upload_outlasted(
    db: Session, clock: FakeClock, identity: crypto.AgeIdentity
) -> None:
    sessions = ContactSessions(clock)
    token = sessions.create(db, CONTACT, identity, practiced=True)
    db.commit()
    sessions.open(db, token)  # the upload starts
    clock.advance(seconds=IDLE.total_seconds() * 3)  # and takes three hours
    sessions.renew(db, token)
    db.commit()
    assert sessions.open(db, token).contact_id == CONTACT


def test_practice_is_recorded_and_only_ever_turned_on(
    db: Session, clock: FakeClock, identity: crypto.AgeIdentity
) -> None:
    sessions = ContactSessions(clock)
    token = sessions.create(db, CONTACT, identity, practiced=False)
    db.commit()
    assert sessions.open(db, token).practiced is False
    sessions.renew(db, token, practiced=True)
    db.commit()
    assert sessions.open(db, token).practiced is True
    sessions.renew(db, token)
    db.commit()
    assert sessions.open(db, token).practiced is True


def test_ending_a_session_deletes_its_row(
    db: Session, clock: FakeClock, identity: crypto.AgeIdentity
) -> None:
    sessions = ContactSessions(clock)
    token = sessions.create(db, CONTACT, identity, practiced=True)
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
    sessions.create(db, CONTACT, identity, practiced=True)
    db.commit()
    clock.advance(days=2)
    sessions.create(db, CONTACT, identity, practiced=True)
    db.commit()
    assert db.query(schema.Session).count() == 1


def test_idle_time_is_an_hour() -> None:
    assert timedelta(hours=1) == IDLE
