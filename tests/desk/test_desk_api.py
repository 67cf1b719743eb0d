"""The desk's HTTP adapter against a server that misbehaves (shoal.desk._api)."""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx
import pytest

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
