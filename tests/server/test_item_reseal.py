"""A desk re-seals a late item to the current epoch, against a real
``shoal serve``: ``PUT /api/v1/handler/items/<id>/sealed`` (docs/api.md).

A field client's outbox may upload an item sealed to an epoch older than
the current one (a handler was cut meanwhile); the desk re-seals it, and
the server swaps the ciphertext, gives the item a new seq so every desk
fetches it again, and deletes the old ciphertext. Here north's epoch 2
drops its second handler.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from _member_server_kit import AGE, API, World, served, upload
from _server_kit import reply_item

from shoal import crypto


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with served(tmp_path_factory.mktemp("reseal")) as made:
        made.new_epoch("north", 2)
        yield made


def late_item(world: World) -> dict[str, Any]:
    """An item a member uploaded sealed to epoch 1, now that 2 is current."""
    item_id = upload(world, world.member(), world.sealed(20_000, "north", 1), epoch=1)
    (item,) = [i for i in world.items() if i["id"] == item_id]
    assert item["epoch"] == 1
    return item


def reseal(world: World, item_id: str, body: bytes, door: str = "north") -> Any:
    return world.client.put(
        f"{API}/handler/items/{item_id}/sealed", content=body, headers=world.handler(door) | AGE
    )


def test_a_late_item_gets_the_new_ciphertext_epoch_and_seq(world: World) -> None:
    item = late_item(world)
    old_blob = world.data_dir / "blobs" / item["blob"][:2] / item["blob"][2:4] / item["blob"]
    assert old_blob.exists()
    resealed = world.sealed(20_000, "north", 2)
    assert crypto.stanza_count(io.BytesIO(resealed)) == 2

    answer = reseal(world, item["id"], resealed)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"id", "seq", "epoch"}
    assert answer.json()["id"] == item["id"]
    assert answer.json()["epoch"] == 2
    assert answer.json()["seq"] > item["seq"]

    (now,) = [i for i in world.items() if i["id"] == item["id"]]
    assert now["seq"] == answer.json()["seq"]
    assert now["epoch"] == 2
    assert (now["contact"], now["direction"], now["day"]) == (
        item["contact"],
        item["direction"],
        item["day"],
    )
    assert world.blob(now["blob"]).content == resealed
    assert not old_blob.exists()
    assert world.blob(item["blob"]).status_code == 404
    # A desk paging from where it was finds the item again.
    page = world.client.get(
        f"{API}/handler/items", params={"after": item["seq"]}, headers=world.handler()
    ).json()["items"]
    assert item["id"] in [i["id"] for i in page]
    # Once current, there is nothing to re-seal.
    again = reseal(world, item["id"], world.sealed(20_000, "north", 2))
    assert again.status_code == 409


def test_a_wrong_number_of_stanzas_is_400_and_changes_nothing(world: World) -> None:
    item = late_item(world)
    blobs = world.stored.blobs()
    # The server counts stanzas (it cannot tell whose they are): epoch 1
    # has three recipients, epoch 2 two.
    too_few = crypto.encrypt(
        b"x", [world.kit.compartments["north"].handlers[0].identity.recipient()]
    )
    for body in (world.sealed(100, "north", 1), too_few):
        assert reseal(world, item["id"], body).status_code == 400
    assert reseal(world, item["id"], b"not an age file at all").status_code == 400
    assert world.stored.blobs() == blobs
    (still,) = [i for i in world.items() if i["id"] == item["id"]]
    assert still == item


def test_only_items_the_compartment_received_are_resealed(world: World) -> None:
    member = world.member()
    recipient = world.client.get(
        f"{API}/handler/contacts/{member.contact_id}", headers=world.handler()
    ).json()["recipient"]
    handler = world.kit.compartments["north"].handlers[0]
    sent = world.client.post(
        f"{API}/handler/contacts/{member.contact_id}/replies",
        content=reply_item(recipient, "a reply", world.kit, "north", member.contact_id, handler),
        headers=world.handler() | AGE,
    )
    assert reseal(world, sent.json()["id"], world.sealed(100, "north", 2)).status_code == 400
    current = upload(world, member, world.sealed(100, "north", 2), epoch=2)
    assert reseal(world, current, world.sealed(100, "north", 2)).status_code == 409


def test_another_compartments_item_is_404_like_none(world: World) -> None:
    item = late_item(world)
    body = world.sealed(100, "south", 1)
    assert reseal(world, item["id"], body, door="south").status_code == 404
    assert reseal(world, "0" * 32, body, door="south").status_code == 404
    anonymous = world.client.put(f"{API}/handler/items/{item['id']}/sealed", content=body)
    assert anonymous.status_code == 401
    (still,) = [i for i in world.items() if i["id"] == item["id"]]
    assert still == item
