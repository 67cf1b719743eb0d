"""The desk's HTTP adapter against a server that misbehaves (shoal.desk._api)."""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx
import pytest
from desk_kit import DOOR, SERVER_URL, Setup

from shoal import crypto
from shoal.desk._api import HandlerAPI
from shoal.desk._state import ItemMeta
from shoal.desk.errors import ServerError, UnreachableError

ITEM = {
    "id": "a" * 32,
    "seq": 1,
    "contact": None,
    "direction": "in",
    "blob": "b" * 64,
    "size": 3,
    "day": "2026-11-23",
}


def api(answer: Callable[[httpx.Request], httpx.Response]) -> HandlerAPI:
    client = httpx.Client(base_url="http://shoal.test", transport=httpx.MockTransport(answer))
    return HandlerAPI(client)


def always(status: int, **kwargs: object) -> HandlerAPI:
    return api(lambda request: httpx.Response(status, **kwargs))


@pytest.mark.parametrize(
    "body",
    [
        {"items": [{**ITEM, "id": "../../etc"}], "next": None},
        {"items": [{**ITEM, "seq": "1"}], "next": None},
        {"items": [{**ITEM, "seq": True}], "next": None},
        {"items": [{**ITEM, "day": "2026-11-23T06:00\x1b"}], "next": None},
        {"items": [{**ITEM, "size": -1}], "next": None},
        {"items": [ITEM]},
        {"items": "nope", "next": None},
        [ITEM],
    ],
)
def test_malformed_item_lists_are_server_errors(body: object) -> None:
    with pytest.raises(ServerError):
        always(200, json=body).items(after=0)


def test_items_at_or_before_the_cursor_are_refused() -> None:
    with pytest.raises(ServerError, match="at or before the cursor"):
        always(200, json={"items": [ITEM], "next": 5}).items(after=1)


def test_a_page_without_items_ends_the_listing_whatever_next_says() -> None:
    page = always(200, json={"items": [], "next": 7}).items(after=7)
    assert page.items == ()
    assert not page.more


def test_an_error_answer_is_shown_without_control_characters() -> None:
    with pytest.raises(ServerError) as raised:
        always(401, json={"error": "go away\x1b[31m"}).items(after=0)
    assert str(raised.value) == "the server refused the list of items (401): go away?[31m"


def test_a_non_json_answer_is_a_server_error() -> None:
    with pytest.raises(ServerError, match="not JSON"):
        always(200, content=b"<html>").organization()


def test_a_transport_failure_is_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(UnreachableError, match="ConnectError"):
        api(refuse).organization()


def test_a_short_blob_is_refused() -> None:
    item = ItemMeta.from_json({**ITEM, "size": 10})
    with pytest.raises(ServerError, match="shorter than announced"):
        always(200, content=b"abc").download(item, io.BytesIO())


def test_a_contact_other_than_the_one_asked_for_is_refused() -> None:
    other = {
        "id": "c" * 32,
        "recipient": str(crypto.generate_identity().recipient()),
        "accepted": True,
    }
    with pytest.raises(ServerError, match="sent another"):
        always(200, json=other).contact("d" * 32)


# Forwarding (docs/api.md, "Handler (desk), JSON").

SEALED = crypto.encrypt(b"a scrubbed report", [crypto.generate_identity().recipient()])


def test_a_forward_posts_the_age_file_to_the_doors_path() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "f" * 32})

    assert api(answer).forward("partner", SEALED) == "f" * 32
    (request,) = seen
    assert (request.method, request.url.path) == ("POST", "/api/v1/handler/forwards/partner")
    assert request.headers["Content-Type"] == "application/octet-stream"
    assert request.content == SEALED


@pytest.mark.parametrize("body", [{"id": "../../etc"}, {"id": 7}, {}, ["f" * 32]])
def test_a_malformed_answer_to_a_forward_is_a_server_error(body: object) -> None:
    with pytest.raises(ServerError, match="forward"):
        always(201, json=body).forward("partner", SEALED)


def test_a_refused_forward_is_a_server_error_with_its_status() -> None:
    refused = always(404, json={"error": "There is no door here."})
    with pytest.raises(ServerError, match=r"refused the forward \(404\): There is no door here"):
        refused.forward("nowhere", SEALED)


@pytest.mark.parametrize("door", ["../contacts/x", "Partner", "", "a/b", "a" * 64])
def test_a_door_not_shaped_like_one_is_never_sent(door: str) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "f" * 32})

    with pytest.raises(ValueError, match="door"):
        api(answer).forward(door, SEALED)
    assert seen == []


def test_the_fake_server_files_a_forward_with_the_target_compartment(setup: Setup) -> None:
    partner = setup.kit.add_compartment("partner")
    setup.kit.sign_epoch("partner")
    setup.server.document = setup.kit.document()
    client = httpx.Client(base_url=SERVER_URL, transport=setup.server.transport())
    desk = HandlerAPI(client)
    desk.login(setup.desk.keystore().signing_key, setup.compartment_id)

    item_id = desk.forward("partner", SEALED)
    (item,) = [i for i in setup.server.items if i.item_id == item_id]
    assert (item.compartment_id, item.contact, item.direction, item.epoch) == (
        partner,
        None,
        "forwarded",
        1,
    )
    assert setup.server.forwarded == {"partner": [SEALED]}
    assert desk.items(after=0).items == ()  # not the sender's item
    with pytest.raises(ServerError, match=r"\(400\): A report cannot be forwarded"):
        desk.forward(DOOR, SEALED)
    with pytest.raises(ServerError, match=r"\(404\)"):
        desk.forward("nowhere", SEALED)
    with pytest.raises(ServerError, match=r"\(400\): A forwarded report must be an age file"):
        desk.forward("partner", b"plaintext")
    assert setup.server.forwarded == {"partner": [SEALED]}
