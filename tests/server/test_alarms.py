"""A member's silent alarm, against a real ``shoal serve``: stored ahead
with a session (``POST /api/v1/doors/<door>/alarms``), released with the
token alone (``POST /api/v1/alarms/<token>``; docs/api.md)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from _member_server_kit import AGE, API, Member, World, served
from sqlalchemy import inspect, select

from shoal.store import schema


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with served(tmp_path_factory.mktemp("alarms")) as made:
        yield made


def store(world: World, member: Member, body: bytes) -> tuple[int, dict[str, str]]:
    answer = world.client.post(member.url("alarms"), content=body, headers=member.auth | AGE)
    return answer.status_code, answer.json()


def release(world: World, token: str) -> int:
    return world.client.post(f"{API}/alarms/{token}").status_code


def test_a_pending_alarm_is_invisible_until_its_token_releases_it(world: World) -> None:
    member = world.member()
    sealed = world.sealed(0)
    status, created = store(world, member, sealed)
    assert status == 201
    token = created["token"]
    assert len(token) == 43
    # Pending: a row with no contact, a blob no handler can list or fetch.
    assert "contact_id" not in {c.name for c in inspect(schema.Alarm).columns}
    with world.stored.session() as db:
        (alarm,) = db.scalars(select(schema.Alarm)).all()
    assert alarm.compartment_id == world.kit.compartments["north"].compartment_id
    assert alarm.epoch == 1
    before = world.items()
    assert all(i["blob"] != alarm.blob_id for i in before)
    assert world.blob(alarm.blob_id).status_code == 404

    assert release(world, token) == 204
    (released,) = [i for i in world.items() if i["blob"] == alarm.blob_id]
    assert released["contact"] is None
    assert released["direction"] == "in"
    assert released["epoch"] == 1
    assert world.blob(alarm.blob_id).content == sealed
    assert world.stored.rows(schema.Alarm) == 0
    # Spent: the same token again does nothing, and says nothing.
    assert release(world, token) == 204
    assert len(world.items()) == len(before) + 1


def test_an_unknown_token_is_204_and_nothing_happens(world: World) -> None:
    member = world.member()
    store(world, member, world.sealed(0))
    items, alarms = world.stored.rows(schema.Item), world.stored.rows(schema.Alarm)
    for token in (secrets.token_urlsafe(32), "x", "not a token at all", "A" * 500):
        assert release(world, token) == 204
    assert world.stored.rows(schema.Item) == items
    assert world.stored.rows(schema.Alarm) == alarms


def test_only_a_session_at_its_door_stores_an_alarm(world: World) -> None:
    member = world.member()
    sealed = world.sealed(0)
    assert world.client.post(member.url("alarms"), content=sealed, headers=AGE).status_code == 401
    south = world.client.post(f"{API}/doors/south/alarms", content=sealed, headers=member.auth)
    assert south.status_code == 401
    handler = world.client.post(member.url("alarms"), content=sealed, headers=world.handler())
    assert handler.status_code == 401
    nowhere = world.client.post(f"{API}/doors/nowhere/alarms", content=sealed, headers=member.auth)
    assert nowhere.status_code == 404


def test_an_alarm_is_a_small_age_file(world: World) -> None:
    member = world.member()
    alarms, blobs = world.stored.rows(schema.Alarm), world.stored.blobs()
    assert store(world, member, b"no age file here")[0] == 400
    assert store(world, member, world.sealed(70_000))[0] == 413
    assert world.stored.rows(schema.Alarm) == alarms
    assert world.stored.blobs() == blobs
