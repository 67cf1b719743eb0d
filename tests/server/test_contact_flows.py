"""The contact's pages, flow by flow, in process (fake clock): languages,
the practice step, once-only forms, idle sessions, refused uploads that
give the message back, reply deletion and the offer of services.

The same flows run in a real browser in tests/browser.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import httpx
import pytest
from _server_kit import FakeClock, OrgKit, Stored, TestClient, handler_token, reply_item

import _pages_kit as kit
from shoal import crypto
from shoal.server import create_app
from shoal.server._i18n import Catalogs, negotiate
from shoal.server._sessions import IDLE
from shoal.store import schema

NORTH = "/d/north"
UK = {"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"}


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


def write_message(client: TestClient, text: str = "hello") -> httpx.Response:
    return client.post(
        kit.submit_action(client), files=[("message", (None, text))], follow_redirects=False
    )


# Languages.


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("uk-UA,uk;q=0.9,en-US;q=0.8", "uk"),
        ("en-US,en;q=0.5", "en"),  # what Tor Browser sends, whoever uses it
        ("ru", "ru"),
        ("crh-UA", "crh"),
        ("de-DE,ru;q=0.3,uk;q=0.7", "uk"),
        ("uk;q=0, ru;q=0.1", "ru"),
        ("fr, de", "en"),
        ("", "en"),
        ("uk;q=abc, ru", "ru"),
        (";;;,,,q=", "en"),
    ],
)
def test_accept_language_picks_the_best_of_four(header: str, language: str) -> None:
    assert negotiate(header) == language


def test_pages_speak_the_browsers_language(client: TestClient, catalogs: Catalogs) -> None:
    page = client.get(f"{NORTH}/", headers=UK)
    assert '<html lang="uk">' in page.text
    assert catalogs.gettext("uk", "First time here: get a codename") in page.text
    assert "First time here" not in page.text
    # No chosen language to carry: links stay plain.
    assert f'href="{NORTH}/login"' in page.text


def test_a_chosen_language_travels_with_every_link_form_and_redirect(client: TestClient) -> None:
    page = client.get(f"{NORTH}/?lang=ru", headers=UK)
    assert '<html lang="ru">' in page.text
    assert f'href="{NORTH}/login?lang=ru"' in page.text
    assert f'action="{NORTH}/first-contact?lang=ru"' in page.text
    # The switcher offers every language, each named in itself.
    for code, name in (("uk", "Українська"), ("en", "English"), ("crh", "Qırımtatarca")):  # noqa: RUF001
        assert (
            f'href="{NORTH}/?lang={code}" lang="{code}" hreflang="{code}">{name}</a>' in page.text
        )
    assert '<strong lang="ru" aria-current="page">Русский</strong>' in page.text
    codename = kit.new_contact(client)
    client.cookies.delete("shoal_session")
    token = kit.form_token(client, f"{NORTH}/login")
    answer = client.post(
        f"{NORTH}/login?lang=ru",
        data={"codename": codename, "form_token": token},
        follow_redirects=False,
    )
    assert answer.headers["location"] == f"{NORTH}/submit?notice=logged-in&lang=ru"
    assert '<html lang="ru">' in client.get(answer.headers["location"]).text


def test_an_unknown_language_is_ignored_never_echoed(client: TestClient) -> None:
    page = client.get(f"{NORTH}/?lang=CANARY%3Cb%3E")
    assert page.status_code == 200 and '<html lang="en">' in page.text
    assert "CANARY" not in page.text


def test_errors_come_in_the_contacts_language(client: TestClient, catalogs: Catalogs) -> None:
    page = client.get("/d/west/", headers=UK)
    assert page.status_code == 404
    assert catalogs.gettext("uk", "There is no door here.") in page.text
    api = client.post("/api/v1/doors/west/contacts", headers=UK)
    assert api.json() == {"error": catalogs.gettext("uk", "There is no door here.")}
    assert api.json()["error"] != "There is no door here."


# The codename: shown once, then typed back.


def test_the_practice_step_comes_before_anything_else(client: TestClient, stored: Stored) -> None:
    page = kit.first_contact(client)
    codename = kit.codename_from(page.text)
    for path in ("submit", "replies"):
        gate = client.get(f"{NORTH}/{path}", follow_redirects=False)
        assert gate.headers["location"] == f"{NORTH}/practice?notice=practice-first"
    wrong = kit.practice(client, crypto.generate_codename())
    assert wrong.status_code == 401 and 'class="error"' in wrong.text
    assert "not the codename you were given" in wrong.text
    right = kit.practice(client, "  " + codename.upper() + " ")
    assert right.status_code == 303
    assert right.headers["location"] == f"{NORTH}/submit?notice=practiced"
    assert client.get(f"{NORTH}/submit", follow_redirects=False).status_code == 200
    assert stored.rows(schema.Contact) == 1


def test_a_lost_codename_starts_over_and_leaves_no_contact(
    client: TestClient, stored: Stored
) -> None:
    kit.first_contact(client)
    token = kit.form_token(client, f"{NORTH}/practice")
    gone = client.post(f"{NORTH}/start-over", data={"form_token": token}, follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == f"{NORTH}/"
    assert stored.rows(schema.Contact) == 0 and stored.rows(schema.Session) == 0


def test_starting_over_never_deletes_a_contact_who_sent_something(
    client: TestClient, stored: Stored
) -> None:
    kit.new_contact(client)
    assert write_message(client).status_code == 303
    token = client.cookies["shoal_form"]
    client.post(f"{NORTH}/start-over", data={"form_token": token}, follow_redirects=False)
    assert stored.rows(schema.Contact) == 1 and stored.rows(schema.Item) == 1
    assert stored.rows(schema.Session) == 0


def test_the_codename_page_comes_back_in_another_language_only_for_its_own_codename(
    client: TestClient, catalogs: Catalogs
) -> None:
    page = kit.first_contact(client)
    codename = kit.codename_from(page.text)
    form = {"form_token": client.cookies["shoal_form"], "codename": codename, "lang": "uk"}
    again = client.post(f"{NORTH}/codename?lang=uk", data=form, follow_redirects=False)
    assert again.status_code == 200 and '<html lang="uk">' in again.text
    assert kit.codename_from(again.text) == codename
    assert catalogs.gettext("uk", "Your codename") in again.text
    # Anything else is not shown: the page is no echo service.
    other = crypto.generate_codename()
    refused = client.post(
        f"{NORTH}/codename", data=form | {"codename": other}, follow_redirects=False
    )
    assert refused.status_code == 303 and other not in refused.text


# Forms that act once.


def test_pressing_get_a_codename_twice_makes_one_contact(
    client: TestClient, stored: Stored
) -> None:
    landing = client.get(f"{NORTH}/").text
    form = {"form_token": kit.hidden(landing, "form_token"), "once": kit.hidden(landing, "once")}
    first = client.post(f"{NORTH}/first-contact", data=form, follow_redirects=False)
    assert first.status_code == 200
    again = client.post(f"{NORTH}/first-contact", data=form, follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == f"{NORTH}/practice?notice=already-codename"
    assert stored.rows(schema.Contact) == 1
    page = client.get(again.headers["location"])
    assert "You already received a codename" in page.text


@pytest.mark.parametrize("once", [None, "", "short", "A" * 22 + "<"])
def test_a_first_contact_without_a_proper_once_is_refused(
    client: TestClient, stored: Stored, once: str | None
) -> None:
    landing = client.get(f"{NORTH}/").text
    form = {"form_token": kit.hidden(landing, "form_token")}
    if once is not None:
        form["once"] = once
    answer = client.post(f"{NORTH}/first-contact", data=form, follow_redirects=False)
    assert answer.status_code == 403 and stored.rows(schema.Contact) == 0


def test_sending_the_same_submit_form_twice_stores_it_once(
    client: TestClient, stored: Stored
) -> None:
    kit.new_contact(client)
    action = kit.submit_action(client)
    files = [("message", (None, "twice")), ("files", ("a.txt", b"a", "text/plain"))]
    first = client.post(action, files=files, follow_redirects=False)
    assert first.headers["location"] == f"{NORTH}/submit?notice=sent"
    again = client.post(action, files=files, follow_redirects=False)
    assert again.headers["location"] == f"{NORTH}/submit?notice=already-sent"
    assert stored.rows(schema.Item) == 2 and len(stored.blobs()) == 2
    assert "stored only once" in client.get(again.headers["location"]).text
    # A fresh page is a fresh form.
    assert write_message(client, "again, on purpose").status_code == 303
    assert stored.rows(schema.Item) == 3


# Idle sessions and long uploads.


def test_an_idle_session_ends_with_a_clear_page(
    client: TestClient, clock: FakeClock, stored: Stored
) -> None:
    kit.new_contact(client)
    clock.advance(seconds=IDLE.total_seconds() - 60)
    assert client.get(f"{NORTH}/submit", follow_redirects=False).status_code == 200
    clock.advance(seconds=IDLE.total_seconds() - 60)  # still alive: the visit moved it on
    assert client.get(f"{NORTH}/replies", follow_redirects=False).status_code == 200
    clock.advance(seconds=IDLE.total_seconds() + 1)
    ended = client.get(f"{NORTH}/submit", follow_redirects=False)
    assert ended.headers["location"] == f"{NORTH}/login?notice=idle"
    page = client.get(ended.headers["location"])
    assert "without activity" in page.text and 'role="alert"' in page.text
    assert stored.rows(schema.Session) == 0


def test_a_submission_after_the_session_ended_says_nothing_was_sent(
    client: TestClient, clock: FakeClock, stored: Stored
) -> None:
    kit.new_contact(client)
    action = kit.submit_action(client)
    clock.advance(seconds=IDLE.total_seconds() + 1)
    page = client.post(action, files=[("message", (None, "late"))], follow_redirects=False)
    assert page.status_code == 401
    assert "nothing was sent" in page.text and 'name="codename"' in page.text
    assert stored.rows(schema.Item) == 0 and stored.blobs() == []


def test_a_long_upload_does_not_log_its_sender_out(
    client: TestClient, clock: FakeClock, stored: Stored
) -> None:
    kit.new_contact(client)
    action = kit.submit_action(client)
    boundary = "b0undary"

    def slow_body() -> Iterator[bytes]:
        yield (
            f"--{boundary}\r\nContent-Disposition: form-data; name=files; filename=big.bin\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for _ in range(3):
            clock.advance(seconds=IDLE.total_seconds())  # an hour per piece
            yield b"x" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    answer = client.post(
        action,
        content=slow_body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == f"{NORTH}/submit?notice=sent"
    assert stored.rows(schema.Item) == 1
    assert client.get(f"{NORTH}/submit", follow_redirects=False).status_code == 200


# A refused upload gives the message back.


@pytest.mark.parametrize(
    ("limits", "files", "status", "says"),
    [
        ({"max_files": 2, "max_body": 10_000_000}, 3, 413, "Too many files"),
        ({"max_body": 400_000}, 2, 413, "too large"),
    ],
)
def test_a_refused_upload_keeps_the_message_and_stores_nothing(
    make_client: Callable[..., TestClient],
    stored: Stored,
    limits: dict[str, int],
    files: int,
    status: int,
    says: str,
) -> None:
    client = make_client(**limits)
    kit.new_contact(client)
    typed = "What I saw <b>at the bridge</b>\nsecond line"
    body = [("message", (None, typed))] + [
        ("files", (f"f{i}.bin", b"z" * 250_000, "application/octet-stream")) for i in range(files)
    ]
    page = client.post(kit.submit_action(client), files=body, follow_redirects=False)
    assert page.status_code == status
    assert says in page.text
    assert (
        '<textarea id="message" name="message" rows="10">'
        "What I saw &lt;b&gt;at the bridge&lt;/b&gt;\nsecond line</textarea>"
    ) in page.text
    assert "files have to be chosen again" in page.text
    assert stored.rows(schema.Item) == 0 and stored.blobs() == []


def test_an_empty_submission_is_refused_in_words(client: TestClient, stored: Stored) -> None:
    kit.new_contact(client)
    page = client.post(
        kit.submit_action(client),
        files=[("message", (None, "")), ("files", ("", b"", "application/octet-stream"))],
    )
    assert page.status_code == 400 and "Write a message or choose a file" in page.text
    assert stored.rows(schema.Item) == 0


# Replies: read, delete one, delete all.


def handler_reply(client: TestClient, test_org: OrgKit, text: str) -> str:
    north = test_org.compartments["north"]
    token = handler_token(client, north.handlers[0], north.compartment_id)
    auth = {"Authorization": f"Bearer {token}"}
    items = client.get("/api/v1/handler/items", headers=auth).json()["items"]
    contact_id = items[-1]["contact"]
    recipient = client.get(f"/api/v1/handler/contacts/{contact_id}", headers=auth).json()[
        "recipient"
    ]
    item = reply_item(recipient, text, test_org, "north", contact_id, north.handlers[0])
    url = f"/api/v1/handler/contacts/{contact_id}/replies"
    made = client.post(url, content=item, headers=auth)
    assert made.status_code == 201
    return str(made.json()["id"])


def test_a_contact_deletes_one_reply_then_all(
    client: TestClient, test_org: OrgKit, stored: Stored
) -> None:
    kit.new_contact(client)
    assert write_message(client).status_code == 303
    first = handler_reply(client, test_org, "first answer")
    handler_reply(client, test_org, "second answer")
    handler_reply(client, test_org, "third answer")
    page = client.get(f"{NORTH}/replies").text
    assert all(t in page for t in ("first answer", "second answer", "third answer"))
    token = client.cookies["shoal_form"]
    one = client.post(
        f"{NORTH}/replies/{first}/delete", data={"form_token": token}, follow_redirects=False
    )
    assert one.headers["location"] == f"{NORTH}/replies?notice=deleted"
    page = client.get(one.headers["location"]).text
    assert "first answer" not in page and "second answer" in page
    assert "The reply was deleted." in page
    assert stored.rows(schema.Item) == 3 and len(stored.blobs()) == 3
    confirm = client.get(f"{NORTH}/replies/delete")
    assert confirm.status_code == 200 and "cannot undo" in confirm.text
    everything = client.post(
        f"{NORTH}/replies/delete", data={"form_token": token}, follow_redirects=False
    )
    assert everything.headers["location"] == f"{NORTH}/replies?notice=all-deleted"
    page = client.get(everything.headers["location"]).text
    assert "answer" not in page and "No replies yet" in page
    # The contact's own message stays; only replies go, rows and ciphertext.
    assert stored.rows(schema.Item) == 1 and len(stored.blobs()) == 1


def test_a_contact_cannot_delete_another_contacts_reply(
    make_client: Callable[..., TestClient], test_org: OrgKit, stored: Stored
) -> None:
    alice, bob = make_client(), make_client()
    kit.new_contact(alice)
    assert write_message(alice).status_code == 303
    reply = handler_reply(alice, test_org, "for alice")
    kit.new_contact(bob)
    token = bob.cookies["shoal_form"]
    bob.post(f"{NORTH}/replies/{reply}/delete", data={"form_token": token})
    bob.post(f"{NORTH}/replies/delete", data={"form_token": token})
    assert "for alice" in alice.get(f"{NORTH}/replies").text
    assert stored.rows(schema.Item) == 2


# Offers of services.


@pytest.fixture
def services_client(data_dir: Path, make_client: Callable[..., TestClient]) -> Iterator[TestClient]:
    folder = data_dir / "questionnaires"
    folder.mkdir()
    example = resources.files("shoal.server").joinpath("questionnaire_example.toml")
    with resources.as_file(example) as path:
        shutil.copy(path, folder / "north.toml")
    yield make_client()


def services_form(client: TestClient) -> tuple[str, dict[str, str]]:
    page = client.get(f"{NORTH}/services")
    assert page.status_code == 200, page.text
    return page.text, {
        "form_token": kit.hidden(page.text, "form_token"),
        "once": kit.hidden(page.text, "once"),
    }


def test_a_door_without_a_questionnaire_takes_no_offers(client: TestClient) -> None:
    kit.new_contact(client)
    assert "Offer your services" not in client.get(f"{NORTH}/submit").text
    assert client.get(f"{NORTH}/services").status_code == 404


def test_an_offer_of_services_is_checked_kept_and_sealed_for_the_compartment(
    services_client: TestClient, test_org: OrgKit, stored: Stored
) -> None:
    client = services_client
    landing = client.get(f"{NORTH}/").text
    assert 'name="next" value="services"' in landing
    page = kit.first_contact(client, next="services")
    codename = kit.codename_from(page.text)
    token = kit.form_token(client, f"{NORTH}/practice")
    done = client.post(
        f"{NORTH}/practice",
        data={"form_token": token, "codename": codename, "next": "services"},
        follow_redirects=False,
    )
    assert done.headers["location"] == f"{NORTH}/services?notice=practiced-services"
    html, form = services_form(client)
    assert "Offer your services" in html and 'type="checkbox"' in html and "<select" in html
    # Skills left out (required), a note typed: refused, the note kept.
    note = "I can drive at night <i>"
    refused = client.post(
        f"{NORTH}/services",
        data={**form, "region": "kyiv", "anything_else": note},
        follow_redirects=False,
    )
    assert refused.status_code == 400
    assert "Please choose at least one." in refused.text
    assert 'aria-invalid="true"' in refused.text or 'class="field invalid"' in refused.text
    assert "I can drive at night &lt;i&gt;" in refused.text
    assert '<option value="kyiv" selected>' in refused.text
    assert stored.rows(schema.Item) == 0
    _, form = services_form(client)
    sent = client.post(
        f"{NORTH}/services",
        data={
            **form,
            "skills": ["first_aid", "transport"],
            "region": "kyiv",
            "reach": "weekly",
            "anything_else": note,
        },
        follow_redirects=False,
    )
    assert sent.headers["location"] == f"{NORTH}/submit?notice=applied"
    again = client.post(
        f"{NORTH}/services",
        data={**form, "skills": ["first_aid"], "reach": "weekly"},
        follow_redirects=False,
    )
    assert again.headers["location"] == f"{NORTH}/services?notice=already-sent"
    with stored.session() as db:
        (item,) = db.query(schema.Item).all()
    ciphertext = (stored.data_dir / "blobs").rglob(item.blob_id)
    blob = next(p for p in ciphertext if p.is_file()).read_bytes()
    handler = test_org.compartments["north"].handlers[0]
    envelope, content = crypto.decrypt_item(blob, [handler.identity])
    assert envelope.header["kind"] == "application" and envelope.signer is None
    answers = json.loads(content)
    assert answers["language"] == "en"
    by_name = {a["name"]: a for a in answers["answers"]}
    assert by_name["skills"]["value"] == ["first_aid", "transport"]
    assert by_name["anything_else"]["value"] == note
    assert by_name["reach"]["value"] == "weekly"
    # The other compartment's handler cannot read it.
    south = test_org.compartments["south"].handlers[0]
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_item(blob, [south.identity])


def test_an_offer_needs_a_session(services_client: TestClient) -> None:
    gate = services_client.get(f"{NORTH}/services", follow_redirects=False)
    assert gate.status_code == 303 and gate.headers["location"] == f"{NORTH}/login"


# Doors, cookies, weight.


def test_a_door_tells_nothing_of_another(client: TestClient) -> None:
    kit.new_contact(client)
    for path in ("/", "/submit", "/replies", "/login", "/practice", "/goodbye"):
        assert "south" not in client.get(f"{NORTH}{path}").text
    # A session of another door opens nothing there, and is not called idle.
    assert client.get("/d/south/submit", follow_redirects=False).headers["location"] == (
        "/d/south/login"
    )


def test_cookies_are_secure_behind_tls(data_dir: Path, clock: FakeClock) -> None:
    with TestClient(create_app(data_dir, clock=clock), base_url="https://127.0.0.1") as client:
        landing = client.get(f"{NORTH}/")
        assert "; secure" in landing.headers["set-cookie"].lower()
        page = kit.first_contact(client)
        assert "; secure" in page.headers["set-cookie"].lower()
        assert "shoal_session=" in page.headers["set-cookie"]


def test_the_session_cookie_holds_nothing_derived_from_the_codename(client: TestClient) -> None:
    page = kit.first_contact(client)
    codename = kit.codename_from(page.text)
    cookie = client.cookies["shoal_session"]
    assert re.fullmatch(r"[0-9a-f]{32}\.[A-Za-z0-9_-]{43}", cookie)
    for word in codename.split():
        assert word not in cookie
    assert set(client.cookies.keys()) == {"shoal_session", "shoal_form"}


def test_every_page_is_small(services_client: TestClient) -> None:
    client = services_client
    css = len(gzip.compress(client.get("/static/style.css").content))
    weights = {"landing": client.get(f"{NORTH}/")}
    weights["codename"] = kit.first_contact(client)
    kit.practice(client, kit.codename_from(weights["codename"].text))
    for name in ("practice", "login", "submit", "replies", "services", "goodbye"):
        weights[name] = client.get(f"{NORTH}/{name}")
    for name, page in weights.items():
        assert page.status_code == 200, name
        assert len(gzip.compress(page.content)) + css < 50_000, name


# A page left open too long: its form token is stale.


def test_a_stale_submit_form_gives_the_message_back_on_our_own_page_only(
    client: TestClient, stored: Stored
) -> None:
    kit.new_contact(client)
    action = kit.submit_action(client)
    stale = re.sub(r"form_token=[^&]+", "form_token=" + "B" * 43, action)
    body = [
        ("message", (None, "kept <across> the refusal")),
        ("files", ("a.txt", b"a", "text/plain")),
    ]
    own = client.post(stale, files=body, headers={"Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 403
    assert "kept &lt;across&gt; the refusal</textarea>" in own.text
    assert "This page had expired" in own.text
    # Not the same site, or the browser does not say: refused, nothing shown.
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {}):
        other = client.post(stale, files=body, headers=headers)
        assert other.status_code == 403 and "across" not in other.text
    assert stored.rows(schema.Item) == 0 and stored.blobs() == []


def test_a_stale_services_form_comes_back_filled_in(
    services_client: TestClient, stored: Stored
) -> None:
    client = services_client
    kit.new_contact(client)
    _, form = services_form(client)
    answers = {"skills": ["translation"], "region": "kyiv", "anything_else": "weekends <only>"}
    stale = {**form, "form_token": "B" * 43, **answers}
    page = client.post(f"{NORTH}/services", data=stale, headers={"Sec-Fetch-Site": "same-origin"})
    assert page.status_code == 403 and "This page had expired" in page.text
    assert "weekends &lt;only&gt;</textarea>" in page.text
    assert 'value="translation" checked' in page.text
    assert '<option value="kyiv" selected>' in page.text
    other = client.post(f"{NORTH}/services", data=stale, headers={"Sec-Fetch-Site": "cross-site"})
    assert other.status_code == 403 and "weekends" not in other.text
    assert stored.rows(schema.Item) == 0


def test_a_submission_to_no_door_is_the_error_page(client: TestClient) -> None:
    kit.new_contact(client)
    action = kit.submit_action(client).replace("/d/north/", "/d/nowhere/")
    page = client.post(action, files=[("message", (None, "hello"))], follow_redirects=False)
    assert page.status_code == 404
    assert "There is no door here." in page.text and 'name="message"' not in page.text
