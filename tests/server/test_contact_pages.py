"""The contact's HTML pages: plain forms, no JavaScript, strict headers."""

from __future__ import annotations

import re

import pytest
from _server_kit import OrgKit, Stored, TestClient, handler_token, reply_item

from shoal.server._headers import SECURITY_HEADERS
from shoal.store import schema

NORTH = "/d/north"


def assert_secure(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value, name
    assert headers["Content-Security-Policy"] == (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def assert_no_script(html: str) -> None:
    assert "<script" not in html.lower()
    assert not re.search(r"\son[a-z]+=", html, re.IGNORECASE)
    assert "javascript:" not in html.lower()


def codename_from(html: str) -> str:
    match = re.search(r'<p class="codename">([a-z -]+)</p>', html)
    assert match, html
    return match.group(1)


def first_contact(client: TestClient) -> str:
    page = client.post(f"{NORTH}/first-contact", follow_redirects=False)
    assert page.status_code == 200
    return codename_from(page.text)


def test_the_landing_page_offers_both_ways_in_as_forms(client: TestClient) -> None:
    page = client.get(f"{NORTH}/")
    assert page.status_code == 200
    assert_secure(page)
    assert_no_script(page.text)
    assert f'action="{NORTH}/first-contact"' in page.text
    assert f'href="{NORTH}/login"' in page.text
    assert 'href="/static/style.css"' in page.text


def test_first_contact_shows_the_codename_once_and_sets_a_strict_cookie(
    client: TestClient, stored: Stored
) -> None:
    page = client.post(f"{NORTH}/first-contact", follow_redirects=False)
    assert_secure(page)
    assert len(codename_from(page.text).split()) == 7
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("shoal_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Max-Age" not in cookie and "expires" not in cookie.lower()
    assert stored.rows(schema.Contact) == 1
    # The cookie is all it takes to write.
    assert client.get(f"{NORTH}/submit", follow_redirects=False).status_code == 200


def test_login_with_a_wrong_codename_shows_the_form_again(client: TestClient) -> None:
    page = client.post(
        f"{NORTH}/login", data={"codename": "CANARY wrong words"}, follow_redirects=False
    )
    assert page.status_code == 401
    assert_secure(page)
    assert 'name="codename"' in page.text and 'class="error"' in page.text
    assert "CANARY" not in page.text
    assert "set-cookie" not in page.headers


def test_login_with_the_codename_sets_the_cookie_and_goes_to_the_form(
    client: TestClient,
) -> None:
    codename = first_contact(client)
    client.cookies.clear()
    assert client.get(f"{NORTH}/submit", follow_redirects=False).headers["location"] == (
        f"{NORTH}/login"
    )
    answer = client.post(f"{NORTH}/login", data={"codename": codename}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{NORTH}/submit"
    assert "shoal_session=" in answer.headers["set-cookie"]
    form = client.get(f"{NORTH}/submit")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text
    assert 'name="message"' in form.text and 'name="files"' in form.text


def test_a_plain_form_post_submits_and_redirects(client: TestClient, stored: Stored) -> None:
    first_contact(client)
    answer = client.post(
        f"{NORTH}/submit",
        files=[
            ("message", (None, "seen from the window")),
            ("files", ("a.jpg", b"\xff\xd8\xff", "image/jpeg")),
            ("files", ("", b"", "application/octet-stream")),
        ],
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{NORTH}/submit?sent=1"
    assert "Sent." in client.get(answer.headers["location"]).text
    assert stored.rows(schema.Item) == 2


def test_a_refused_submission_shows_an_error_page(client: TestClient) -> None:
    first_contact(client)
    page = client.post(f"{NORTH}/submit", files=[("message", (None, ""))])
    assert page.status_code == 400
    assert_secure(page)
    assert 'class="error"' in page.text and f'href="{NORTH}/"' in page.text


def test_the_forms_never_accept_a_bearer(client: TestClient) -> None:
    client.post(f"{NORTH}/first-contact")
    session = client.cookies["shoal_session"]
    client.cookies.clear()
    page = client.get(
        f"{NORTH}/submit", headers={"Authorization": f"Bearer {session}"}, follow_redirects=False
    )
    assert page.status_code == 303


def test_replies_show_what_a_handler_signed_escaped_and_nothing_forged(
    client: TestClient, test_org: OrgKit
) -> None:
    first_contact(client)
    assert client.post(f"{NORTH}/submit", files=[("message", (None, "hello"))]).status_code == 200
    north = test_org.compartments["north"]
    token = handler_token(client, north.handlers[0], north.compartment_id)
    auth = {"Authorization": f"Bearer {token}"}
    contact_id = client.get("/api/v1/handler/items", headers=auth).json()["items"][0]["contact"]
    recipient = client.get(f"/api/v1/handler/contacts/{contact_id}", headers=auth).json()[
        "recipient"
    ]
    signed = reply_item(
        recipient, "<b>We hear you</b>\nline two", test_org, "north", contact_id, north.handlers[0]
    )
    forged = reply_item(recipient, "FORGED", test_org, "north", contact_id, None)
    for item in (signed, forged):
        url = f"/api/v1/handler/contacts/{contact_id}/replies"
        assert client.post(url, content=item, headers=auth).status_code == 201
    page = client.get(f"{NORTH}/replies")
    assert page.status_code == 200
    assert_secure(page)
    assert "&lt;b&gt;We hear you&lt;/b&gt;\nline two" in page.text
    assert "<b>We hear" not in page.text and "FORGED" not in page.text


def test_logout_ends_the_session_and_clears_the_cookie(client: TestClient, stored: Stored) -> None:
    first_contact(client)
    answer = client.post(f"{NORTH}/logout", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"{NORTH}/"
    assert 'shoal_session=""' in answer.headers["set-cookie"]
    assert stored.rows(schema.Session) == 0


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/d/west/", 404),
        ("GET", "/d/west/login", 404),
        ("GET", "/d/North/", 404),
        ("GET", f"{NORTH}/nowhere", 404),
        ("DELETE", f"{NORTH}/", 405),
    ],
)
def test_error_pages_are_html_with_the_headers(
    client: TestClient, method: str, path: str, status: int
) -> None:
    page = client.request(method, path)
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert_secure(page)


@pytest.mark.parametrize("path", ["/", "/nowhere", "/static/style.css", "/openapi.json"])
def test_every_response_carries_the_headers(client: TestClient, path: str) -> None:
    assert_secure(client.get(path))


def test_the_server_lists_no_doors(client: TestClient) -> None:
    answer = client.get("/")
    assert answer.status_code == 404
    assert "north" not in answer.text and "south" not in answer.text
