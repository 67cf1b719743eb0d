"""The contact's HTML pages: plain forms, no JavaScript, strict headers."""

from __future__ import annotations

import re

import httpx
import pytest
from _server_kit import OrgKit, Stored, TestClient, handler_token, reply_item

import _pages_kit as kit
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


def form_token(client: TestClient, path: str = f"{NORTH}/") -> str:
    return kit.form_token(client, path)


def first_contact(client: TestClient) -> str:
    """A new contact, codename typed back: ready to write."""
    return kit.new_contact(client)


def login(client: TestClient, codename: str) -> httpx.Response:
    return kit.login(client, codename)


def submit_url(client: TestClient) -> str:
    """The submit form's action: the token rides in its query string."""
    return kit.submit_action(client)


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
    page = kit.first_contact(client)
    assert_secure(page)
    assert len(kit.codename_from(page.text).split()) == 7
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("shoal_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Max-Age" not in cookie and "expires" not in cookie.lower()
    assert stored.rows(schema.Contact) == 1
    # The cookie is all it takes to write, once the codename is typed back.
    assert client.get(f"{NORTH}/submit", follow_redirects=False).headers["location"] == (
        f"{NORTH}/practice?notice=practice-first"
    )
    assert kit.practice(client, kit.codename_from(page.text)).status_code == 303
    assert client.get(f"{NORTH}/submit", follow_redirects=False).status_code == 200


def test_login_with_a_wrong_codename_shows_the_form_again(client: TestClient) -> None:
    page = login(client, "CANARY wrong words")
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
    answer = login(client, codename)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{NORTH}/submit?notice=logged-in"
    assert "shoal_session=" in answer.headers["set-cookie"]
    form = client.get(f"{NORTH}/submit")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text
    assert 'name="message"' in form.text and 'name="files"' in form.text


def test_a_plain_form_post_submits_and_redirects(client: TestClient, stored: Stored) -> None:
    first_contact(client)
    answer = client.post(
        submit_url(client),
        files=[
            ("message", (None, "seen from the window")),
            ("files", ("a.jpg", b"\xff\xd8\xff", "image/jpeg")),
            ("files", ("", b"", "application/octet-stream")),
        ],
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{NORTH}/submit?notice=sent"
    assert "Sent." in client.get(answer.headers["location"]).text
    assert stored.rows(schema.Item) == 2


def test_a_refused_submission_shows_the_form_again_with_the_error(client: TestClient) -> None:
    first_contact(client)
    page = client.post(submit_url(client), files=[("message", (None, ""))])
    assert page.status_code == 400
    assert_secure(page)
    assert 'class="error"' in page.text and "Write a message or choose a file" in page.text
    assert 'enctype="multipart/form-data"' in page.text


def test_the_forms_never_accept_a_bearer(client: TestClient) -> None:
    first_contact(client)
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
    sent = client.post(submit_url(client), files=[("message", (None, "hello"))])
    assert sent.status_code == 200, sent.text
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
    token = form_token(client, f"{NORTH}/replies")
    answer = client.post(f"{NORTH}/logout", data={"form_token": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"{NORTH}/goodbye"
    assert 'shoal_session=""' in answer.headers["set-cookie"]
    goodbye = client.get(answer.headers["location"])
    assert goodbye.status_code == 200 and "New Identity" in goodbye.text
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


# Cross-site login forgery: another site must not be able to post these forms.


def assert_refused(answer: httpx.Response, says: str) -> None:
    assert answer.status_code == 403
    assert_secure(answer)
    assert answer.headers["content-type"].startswith("text/html")
    assert 'class="error"' in answer.text and says in answer.text
    assert "shoal_session" not in answer.headers.get("set-cookie", "")


@pytest.mark.parametrize("site", ["cross-site", "same-site", "Cross-Site"])
@pytest.mark.parametrize("page", ["first-contact", "login", "submit", "logout"])
def test_a_post_from_another_site_is_refused_and_logs_nobody_in(
    client: TestClient, stored: Stored, site: str, page: str
) -> None:
    codename = first_contact(client)
    client.cookies.delete("shoal_session")
    token = form_token(client)
    answer = client.post(
        f"{NORTH}/{page}?form_token={token}",
        data={"codename": codename, "form_token": token},
        headers={"Sec-Fetch-Site": site},
        follow_redirects=False,
    )
    assert_refused(answer, "another site")
    assert stored.rows(schema.Contact) == 1 and stored.rows(schema.Session) == 1


@pytest.mark.parametrize("site", ["same-origin", "none"])
def test_a_post_from_this_site_or_typed_passes(client: TestClient, site: str) -> None:
    landing = client.get(f"{NORTH}/").text
    answer = client.post(
        f"{NORTH}/first-contact",
        data={"form_token": kit.hidden(landing, "form_token"), "once": kit.hidden(landing, "once")},
        headers={"Sec-Fetch-Site": site, "Origin": "null"},
        follow_redirects=False,
    )
    assert answer.status_code == 200
    assert "shoal_session=" in answer.headers["set-cookie"]


def test_every_page_with_a_form_sets_a_strict_session_cookie_for_its_token(
    client: TestClient,
) -> None:
    page = client.get(f"{NORTH}/")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("shoal_form=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/d/" in cookie
    assert "Max-Age" not in cookie and "expires" not in cookie.lower()
    token = client.cookies["shoal_form"]
    assert len(token) == 43
    # Once set, every form renders the same token and the cookie is left alone.
    login_page = client.get(f"{NORTH}/login")
    assert "set-cookie" not in login_page.headers
    assert f'name="form_token" value="{token}"' in login_page.text
    first_contact(client)
    submit_page = client.get(f"{NORTH}/submit")
    assert f'action="{NORTH}/submit?form_token={token}&amp;once=' in submit_page.text
    assert f'name="form_token" value="{token}"' in submit_page.text  # the logout button
    assert f'name="form_token" value="{token}"' in client.get(f"{NORTH}/replies").text


def test_a_cookie_that_is_not_a_token_is_replaced_never_echoed(client: TestClient) -> None:
    client.cookies.set("shoal_form", "CANARY<b>", path="/d/")
    page = client.get(f"{NORTH}/")
    assert "CANARY" not in page.text
    assert page.headers["set-cookie"].startswith("shoal_form=")
    refused = client.post(
        f"{NORTH}/first-contact", data={"form_token": "CANARY<b>"}, follow_redirects=False
    )
    assert_refused(refused, "Reload the page")
    assert "CANARY" not in refused.text


@pytest.mark.parametrize("page", ["first-contact", "login", "logout"])
@pytest.mark.parametrize("spoil", ["no cookie", "no field", "wrong field", "wrong cookie"])
def test_a_form_without_its_token_is_refused(
    client: TestClient, stored: Stored, page: str, spoil: str
) -> None:
    codename = first_contact(client)
    client.cookies.delete("shoal_session")
    token = form_token(client)
    data = {"codename": codename, "form_token": token}
    if spoil == "no cookie":
        client.cookies.delete("shoal_form")
    elif spoil == "no field":
        del data["form_token"]
    elif spoil == "wrong field":
        data["form_token"] = token[:-1] + ("A" if token[-1] != "A" else "B")
    else:
        client.cookies.set("shoal_form", "B" * 43, path="/d/")
    answer = client.post(f"{NORTH}/{page}", data=data, follow_redirects=False)
    assert_refused(answer, "Reload the page")
    assert stored.rows(schema.Contact) == 1 and stored.rows(schema.Session) == 1


@pytest.mark.parametrize("query", ["", "?form_token=", "?form_token=" + "A" * 43, "?x=1"])
def test_an_upload_without_its_token_is_refused_before_it_is_read(
    client: TestClient, stored: Stored, query: str
) -> None:
    first_contact(client)
    token = form_token(client, f"{NORTH}/submit")
    answer = client.post(
        f"{NORTH}/submit{query}",
        # In a field it does not count: the token belongs in the query string.
        files=[("message", (None, "planted")), ("form_token", (None, token))],
        follow_redirects=False,
    )
    assert_refused(answer, "Reload the page")
    assert stored.rows(schema.Item) == 0 and stored.blobs() == []


def test_a_refused_logout_leaves_the_session(client: TestClient, stored: Stored) -> None:
    first_contact(client)
    assert client.post(f"{NORTH}/logout", follow_redirects=False).status_code == 403
    assert stored.rows(schema.Session) == 1
    assert client.get(f"{NORTH}/submit", follow_redirects=False).status_code == 200


def test_the_json_api_needs_no_form_token(client: TestClient) -> None:
    made = client.post("/api/v1/doors/north/contacts")
    assert made.status_code == 201
    assert "shoal_form" not in client.cookies
    session = made.json()["session"]
    answer = client.post(
        "/api/v1/doors/north/submissions",
        headers={"Authorization": f"Bearer {session}"},
        files=[("message", (None, "by the API"))],
    )
    assert answer.status_code == 201, answer.text
