"""What a member's field client reads at its door, against a real
``shoal serve``: the organization's notes, and replies as ciphertext
(``/org``, ``/sealed-replies``; docs/api.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _member_server_kit import AGE, API, Member, World, served
from _server_kit import reply_item

from shoal import crypto


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with served(tmp_path_factory.mktemp("members")) as made:
        yield made


def reply(world: World, member: Member, text: str = "a reply") -> str:
    """A reply the member's handler stored, as the desk seals one."""
    recipient = world.client.get(
        f"{API}/handler/contacts/{member.contact_id}", headers=world.handler(member.door)
    ).json()["recipient"]
    compartment = world.kit.compartments[member.door]
    body = reply_item(
        recipient, text, world.kit, member.door, member.contact_id, compartment.handlers[0]
    )
    answer = world.client.post(
        f"{API}/handler/contacts/{member.contact_id}/replies",
        content=body,
        headers=world.handler(member.door) | AGE,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_the_door_shows_its_root_key_and_its_own_notes_only(world: World) -> None:
    member = world.member()
    answer = world.client.get(member.url("org"), headers=member.auth)
    assert answer.status_code == 200
    found = answer.json()
    assert set(found) == {"root", "organization", "commands", "epochs"}
    assert found["root"] == world.kit.root_key
    root = crypto.NoteVerifier.parse(found["root"])
    assert crypto.open_note(found["organization"], [root]).text
    (command,) = found["commands"]
    assert crypto.open_note(command, [root]).text
    (epoch,) = found["epochs"]
    text = crypto.open_note(epoch, [world.kit.command.verifier]).text
    assert "\ndoor north\n" in text
    assert world.client.get(member.url("org")).status_code == 401
    south = world.client.get(f"{API}/doors/south/org", headers=member.auth)
    assert south.status_code == 401


def test_replies_are_listed_fetched_as_ciphertext_and_deleted(world: World) -> None:
    member, other = world.member(), world.member()
    first, second = reply(world, member, "first"), reply(world, member, "second")
    reply(world, other, "not for this member")

    listed = world.client.get(member.url("sealed-replies"), headers=member.auth)
    assert listed.status_code == 200
    replies = listed.json()["replies"]
    assert [r["id"] for r in replies] == [first, second]
    assert all(set(r) == {"id", "size", "day"} for r in replies)

    fetched = world.client.get(member.url(f"sealed-replies/{first}"), headers=member.auth)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "application/octet-stream"
    assert len(fetched.content) == replies[0]["size"]
    # The field client opens it with the identity its codename derives.
    organization = world.kit.organization
    keys = crypto.derive_contact_keys(member.codename, organization.salt, organization.key_type)
    envelope, text = crypto.decrypt_item(fetched.content, [keys.identity])
    assert text == b"first"
    assert envelope.header["contact"] == member.contact_id

    blobs = world.stored.blobs()
    deleted = world.client.delete(member.url(f"sealed-replies/{first}"), headers=member.auth)
    assert deleted.status_code == 204
    assert len(world.stored.blobs()) == len(blobs) - 1
    listed = world.client.get(member.url("sealed-replies"), headers=member.auth)
    assert [r["id"] for r in listed.json()["replies"]] == [second]
    assert (
        world.client.get(member.url(f"sealed-replies/{first}"), headers=member.auth).status_code
        == 404
    )
    assert (
        world.client.delete(member.url(f"sealed-replies/{first}"), headers=member.auth).status_code
        == 404
    )


def test_another_contacts_reply_is_404_and_stays(world: World) -> None:
    member, other, south = world.member(), world.member(), world.member("south")
    theirs = reply(world, other)
    for stranger in (member, south):
        at_own = f"{API}/doors/{stranger.door}/sealed-replies/{theirs}"
        assert world.client.get(at_own, headers=stranger.auth).status_code == 404
        assert world.client.delete(at_own, headers=stranger.auth).status_code == 404
    # The owner at another door is no session there.
    at_south = f"{API}/doors/south/sealed-replies/{theirs}"
    assert world.client.get(at_south, headers=other.auth).status_code == 401
    assert world.client.get(other.url(f"sealed-replies/{theirs}"), headers=other.auth).is_success
    # Items the contact sent are no replies.
    sent = world.client.post(
        member.url("submissions"), headers=member.auth, files=[("message", (None, "hello"))]
    ).json()["items"][0]
    assert (
        world.client.get(member.url(f"sealed-replies/{sent}"), headers=member.auth).status_code
        == 404
    )
    assert (
        world.client.delete(member.url(f"sealed-replies/{sent}"), headers=member.auth).status_code
        == 404
    )
