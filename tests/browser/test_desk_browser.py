"""The handler's desk UI in a real browser with JavaScript on: Debian's
Chromium driven by Playwright, against a real ``shoal serve`` (the demo
organization, ``org`` in ``conftest.py``) and real ``shoal desk ui``
processes, whose launch link is read from their output.

Contacts write through the server's contact API (the contact side is not
under test here); everything is asserted on what the handler's browser
shows. One desk UI process serves the news desk for the whole module;
each test makes its own contacts, so that tests do not lean on one
another's state, and every tab, when its test ends, must have asked the
desk alone for anything and met no Content-Security-Policy refusal.
Screenshots go to ``build/screenshots/desk-*.png``.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_kit import Browse
from playwright.sync_api import Browser, Page

from _served_org import Org
from desk_browser_kit import (
    DESKTOP,
    PSEUDONYM,
    SERIAL,
    DeskUI,
    Handler,
    Watch,
    folded,
    is_locked,
    lock,
    new_contact,
    open_desk,
    send,
    shoot,
    start_desk_ui,
    telltale_jpeg,
    unlock,
)

pytestmark = pytest.mark.timeout(300)

#: Keeps the sync status line's every text across the page's own reloads.
_STATUS_LOG = """
document.addEventListener("DOMContentLoaded", () => {
  const line = document.getElementById("sync-status");
  if (!line) return;
  new MutationObserver(() => {
    const log = JSON.parse(sessionStorage.getItem("statusLog") || "[]");
    log.push(line.textContent);
    sessionStorage.setItem("statusLog", JSON.stringify(log));
  }).observe(line, {childList: true, characterData: true, subtree: true});
});
"""


def canary(label: str) -> str:
    """A word found in one test's texts only (the search matches prefixes)."""
    return f"{label}{secrets.token_hex(4)}"


# --- fixtures ------------------------------------------------------------------------------


def _checked(watch: Watch) -> None:
    """The rules every desk tab keeps: the desk alone is asked, no CSP refusal."""
    assert watch.requests, "the tab asked for nothing at all"
    assert watch.outside() == []
    assert watch.csp() == []


@pytest.fixture
def handler(chromium: Browser, news: DeskUI) -> Iterator[Handler]:
    """A fresh tab that followed the launch link, on an unlocked news desk."""
    context, page, watch = open_desk(chromium, news)
    if is_locked(page):
        unlock(page, news.passphrase)
    assert not is_locked(page)
    yield Handler(page, news, watch)
    context.close()
    _checked(watch)


# --- 1. launch and unlock ------------------------------------------------------------------


def test_launch_link_sets_the_cookie_and_a_wrong_passphrase_is_refused(
    chromium: Browser, news: DeskUI
) -> None:
    context, page, watch = open_desk(chromium, news)
    if not is_locked(page):
        lock(page)
        page.goto(news.launch)
    assert page.url == news.origin + "/", "the launch link leads to the desk's first page"
    (cookie,) = context.cookies()
    assert cookie["name"] == "shoal_desk"
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["value"] not in page.content(), "the launch token never appears in a page"
    assert folded(page.locator("main h1").inner_text()) == "This desk is locked"
    assert page.locator("#sync-button").count() == 0
    shoot(page, "unlock")

    page.fill("input#passphrase", "not the passphrase at all")
    with page.expect_navigation():
        page.click("button:text-is('Unlock')")
    assert folded(page.locator("p.notice.error[role=alert]").inner_text()) == "Wrong passphrase."
    assert is_locked(page) and page.locator("#sync-button").count() == 0
    assert page.locator("input#passphrase").input_value() == "", "never echoed back"

    unlock(page, news.passphrase)
    assert not is_locked(page)
    assert folded(page.locator("main h1").inner_text()) == "Inbox"
    assert folded(page.locator("p.notice[role=status]").inner_text()).startswith("Unlocked:")
    context.close()
    _checked(watch)


# --- 2. sync and the inbox -----------------------------------------------------------------


def test_sync_shows_progress_and_the_inbox_lists_contacts_newest_first(
    org: Org, handler: Handler
) -> None:
    page = handler.page
    page.context.add_init_script(_STATUS_LOG)
    older, newer = canary("older"), canary("newer")
    send(org, new_contact(org, "news"), f"First contact writes. {older}")
    second = new_contact(org, "news")
    send(org, second, f"Second contact writes. {newer}")
    send(org, second, f"And again. {newer}")

    status = handler.sync()
    assert re.fullmatch(r"Epoch [0-9]+: [0-9]+ new item\(s\)\.", status), status
    log = page.evaluate("JSON.parse(sessionStorage.getItem('statusLog') || '[]')")
    running = [t for t in log if t.endswith("…")]
    assert running, f"no progress shown while the sync ran: {log}"
    progress = re.compile(r"(connecting|downloading|indexing)( [0-9]+ / [0-9]+)?…")
    assert all(progress.fullmatch(t) for t in running), running

    expected = [f"/contacts/{handler.contact(w)}" for w in (newer, older)]
    rows = page.locator("table.inbox tbody tr")
    links = [rows.nth(i).locator("a.contact-link") for i in range(2)]
    assert [a.get_attribute("href") for a in links] == expected, "newest activity first"
    for row, unread in ((rows.nth(0), "2"), (rows.nth(1), "1")):
        assert PSEUDONYM.fullmatch(row.locator("a.contact-link").inner_text()), row.inner_text()
        assert row.locator(".unread-count").inner_text() == unread
        assert row.locator(".state").inner_text() == "new"
        assert "unread" in (row.get_attribute("class") or "")
    shoot(page, "inbox")


# --- 3. a conversation ---------------------------------------------------------------------


def test_conversation_shows_text_files_and_a_cleaned_image_with_its_warnings(
    org: Org, handler: Handler
) -> None:
    page = handler.page
    word = canary("photo")
    send(
        org,
        new_contact(org, "news"),
        f"Photos from the square. {word}",
        [("notes.txt", b"plain notes\n"), ("square.jpg", telltale_jpeg())],
    )
    handler.sync()
    contact = handler.contact(word)
    row = page.locator("table.inbox tbody tr", has=page.locator(f'a[href="/contacts/{contact}"]'))
    assert row.locator(".unread-count").inner_text() == "3"

    handler.press(row.locator("a.contact-link"))
    assert page.url == f"{handler.desk.origin}/contacts/{contact}"
    name, shown_id = folded(page.locator("main h1").inner_text()).rsplit(" ", 1)
    assert PSEUDONYM.fullmatch(name) and shown_id == contact
    assert f"Photos from the square. {word}" in handler.text()
    files = page.locator("article.item p.file")
    assert files.count() == 2
    notes = page.locator("article.item", has=page.locator("span.name", has_text="notes.txt"))
    href = notes.locator("a", has_text="download").get_attribute("href")
    assert href and re.fullmatch(r"/items/[0-9a-f]+/download", href)

    photo = page.locator("article.item", has=page.locator("span.name", has_text="square.jpg"))
    image = photo.locator("img.shown")
    src = image.get_attribute("src")
    assert src and re.fullmatch(r"/items/[0-9a-f]+/image", src)
    assert image.evaluate("img => img.complete && img.naturalWidth") == 64
    shown = page.request.get(handler.desk.origin + src)
    assert shown.headers["content-type"] == "image/png"
    assert shown.body().startswith(b"\x89PNG\r\n\x1a\n")
    assert SERIAL.encode() not in shown.body() and b"Canon" not in shown.body()
    warnings = [folded(t) for t in photo.locator("ul.revealed li").all_inner_texts()]
    assert warnings[0].startswith("GPS position: 50.45"), warnings
    assert any(SERIAL in w for w in warnings), warnings
    shoot(page, "conversation")

    handler.go("/")
    assert row.locator(".unread-count").count() == 0
    assert row.locator("td").nth(3).inner_text() == "0", "reading cleared the unread count"


# --- 4. a reply ----------------------------------------------------------------------------


def test_a_reply_from_the_desk_reaches_the_contact_pages(
    org: Org, handler: Handler, browse: Browse
) -> None:
    page = handler.page
    word = canary("reply")
    writer = new_contact(org, "news")
    send(org, writer, f"Is anyone there? {word}")
    handler.sync()
    contact = handler.contact(word)
    handler.open_contact(contact)
    answer = f"We read you and will answer soon. {canary('answer')}"
    page.fill("#reply-text", answer)
    handler.press(page.get_by_role("button", name="Send reply"))
    assert re.fullmatch(r"Reply \S+ sent, signed and sealed\. .*", handler.notice())

    # The contact, later, through the contact pages (JavaScript off).
    context, _ = browse()
    visitor = context.new_page()
    visitor.goto(f"{org.url}/d/news/login")
    visitor.get_by_label("Codename", exact=True).fill(writer.codename)
    with visitor.expect_navigation():
        visitor.get_by_role("button", name="Continue", exact=True).click()
    visitor.goto(f"{org.url}/d/news/replies")
    replies = visitor.locator("article.reply p.text").all_inner_texts()
    assert [folded(t) for t in replies] == [answer]

    # And the desk shows its own reply, signed, once synced.
    handler.sync()
    handler.open_contact(contact)
    out = page.locator("article.item.out")
    assert folded(out.locator(".text").inner_text()) == answer
    assert "signed by handler" in out.locator(".badge").inner_text()


# --- 5. vetting ----------------------------------------------------------------------------


def _moves(page: Page) -> list[str]:
    return [v for v in page.locator("form.move select[name=to] option").evaluate_all(
        "options => options.map(o => o.value)") if v]  # fmt: skip


def _state(page: Page) -> str:
    return page.locator("aside.vetting h2 .state").inner_text()


def test_vetting_moves_with_reasons_and_records_a_member_key(org: Org, handler: Handler) -> None:
    page = handler.page
    word = canary("vetting")
    send(org, new_contact(org, "news"), f"I would like to help. {word}")
    handler.sync()
    contact = handler.contact(word)
    handler.open_contact(contact)
    assert _state(page) == "new"
    assert _moves(page) == ["in-contact", "suspended", "cut"], "only allowed moves are offered"

    # The form will not go without a reason...
    reason = page.locator("form.move textarea[name=reason]")
    assert reason.evaluate("el => el.required")
    page.locator("form.move select[name=to]").select_option("in-contact")
    url = page.url
    page.locator("form.move button[type=submit]").click()
    assert reason.evaluate("el => el.validity.valueMissing")
    assert page.url == url and _state(page) == "new"
    # ...and the desk refuses one sent without it.
    token = page.locator('form.move input[name="form_token"]').get_attribute("value")
    refused = page.request.post(
        f"{handler.desk.origin}/contacts/{contact}/move",
        form={"form_token": token or "", "to": "in-contact", "reason": ""},
    )
    assert refused.ok and "a transition needs a reason" in refused.text()
    assert 'class="notice error"' in refused.text()
    page.reload()
    assert _state(page) == "new"

    first = f"Answered our questions plainly. {canary('why')}"
    page.locator("form.move select[name=to]").select_option("in-contact")
    reason.fill(first)
    handler.press(page.locator("form.move button[type=submit]"))
    assert handler.notice().startswith("Moved: new → in-contact"), handler.notice()
    assert _state(page) == "in-contact"
    assert _moves(page) == ["vetting", "suspended", "cut"]

    key = base64.b64encode(os.urandom(32)).decode()
    second = f"Vouched for by two members. {canary('why')}"
    page.locator("form.move select[name=to]").select_option("vetting")
    reason.fill(second)
    page.locator("form.move input[name=member_key]").fill(key)
    handler.press(page.locator("form.move button[type=submit]"))
    assert handler.notice().startswith("Moved: in-contact → vetting"), handler.notice()
    assert _state(page) == "vetting"
    assert "member" in _moves(page)
    assert page.locator("aside.vetting code").inner_text() == key
    steps = [folded(s) for s in page.locator("ol.steps li").all_inner_texts()]
    assert len(steps) == 2
    assert "→ in-contact by" in steps[0] and steps[0].endswith(first)
    assert "→ vetting by" in steps[1] and steps[1].endswith(second)
    shoot(page.locator("aside.vetting"), "vetting")


# --- 6. grading, tags, a private note; encrypted at rest -----------------------------------


def _hits(folder: Path, needle: bytes) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_grades_tags_and_a_private_note_survive_a_lock_and_are_encrypted_at_rest(
    org: Org, handler: Handler
) -> None:
    page = handler.page
    message = f"The depot moved overnight. {canary('depot')}"
    send(org, new_contact(org, "news"), message)
    handler.sync()
    contact = handler.contact(message.rsplit(maxsplit=1)[-1])
    handler.open_contact(contact)

    radios = page.locator("form.reliability input[type=radio][name=grade]")
    assert radios.evaluate_all("rs => rs.map(r => r.value)") == list("ABCDEF")
    choices = [folded(t) for t in page.locator("form.reliability label").all_inner_texts()]
    assert choices[1].startswith("B Usually reliable") and choices[5].startswith("F Reliability")
    page.locator("form.reliability input[value=B]").check()
    handler.press(page.get_by_role("button", name="Record reliability"))
    assert handler.notice() == "Source reliability recorded."
    assert page.locator("form.reliability input[value=B]").is_checked()

    item = page.locator("article.item").first
    grades = item.locator("form.grade-form select[name=grade] option")
    assert [v for v in grades.evaluate_all("os => os.map(o => o.value)") if v] == list("123456")
    assert any("Probably true" in t for t in grades.all_inner_texts())
    item.locator("form.grade-form select[name=grade]").select_option("3")
    handler.press(item.locator("form.grade-form button"))
    assert handler.notice() == "Report credibility recorded."
    item.locator("form.tags-form input[name=tags]").fill("convoy,  depot , convoy")
    handler.press(item.locator("form.tags-form button"))
    assert item.locator("span.tag").all_inner_texts() == ["convoy", "depot"]

    note = f"Met once at the market; careful. {canary('note')}"
    page.locator("form.note textarea").fill(note)
    handler.press(page.get_by_role("button", name="Save note"))
    assert handler.notice() == "Note saved (encrypted on this desk)."

    lock(page)
    assert is_locked(page)
    vault = [p for p in (handler.desk.folder / "vault").rglob("*") if p.is_file()]
    assert vault, "the desk keeps its records in its vault"
    for secret in (note, message):
        assert _hits(handler.desk.folder, secret.encode()) == [], "plaintext on the desk's disk"
    unlock(page, handler.desk.passphrase)
    handler.open_contact(contact)
    assert page.locator("form.note textarea").input_value() == note
    assert page.locator("form.reliability input[value=B]").is_checked()
    item = page.locator("article.item").first
    assert item.locator(".grade").inner_text() == "credibility 3"
    assert item.locator("span.tag").all_inner_texts() == ["convoy", "depot"]
    handler.go("/")
    row = page.locator("table.inbox tbody tr", has=page.locator(f'a[href="/contacts/{contact}"]'))
    assert row.locator("td").nth(2).inner_text() == "B"


# --- 7. search -----------------------------------------------------------------------------


def test_search_finds_words_and_filters_by_tag_and_credibility(org: Org, handler: Handler) -> None:
    page = handler.page
    word = canary("roadblock")
    writer = new_contact(org, "news")
    send(org, writer, f"A roadblock north of the river. {word}")
    send(org, writer, f"A roadblock south of the river. {word}")
    handler.sync()
    handler.open_contact(handler.contact(word))
    north = page.locator("article.item", has_text="north of the river")
    north.locator("form.tags-form input[name=tags]").fill(f"tag{word}")
    handler.press(north.locator("form.tags-form button"))
    south = page.locator("article.item", has_text="south of the river")
    south.locator("form.grade-form select[name=grade]").select_option("4")
    handler.press(south.locator("form.grade-form button"))

    handler.go("/")
    page.locator("#quick-search").fill(f"river {word}")
    with page.expect_navigation():
        page.locator("#quick-search").press("Enter")
    summary = folded(page.locator("#search-summary").inner_text())
    assert re.fullmatch(r"2 result\(s\) in [0-9]+(\.[0-9])? ms\.", summary), summary
    rows = page.locator("table.results tbody tr")
    assert rows.count() == 2
    assert "south" in rows.nth(0).inner_text(), "newest first"
    shoot(page, "search")

    page.get_by_label("Tag").select_option(f"tag{word}")
    handler.press(page.get_by_role("button", name="Search", exact=True))
    assert rows.count() == 1 and "north of the river" in rows.nth(0).inner_text()
    assert folded(page.locator("#search-summary").inner_text()).startswith("1 result(s) in ")

    page.get_by_label("Tag").select_option("")
    page.get_by_label("Credibility").select_option("4")
    handler.press(page.get_by_role("button", name="Search", exact=True))
    assert rows.count() == 1 and "south of the river" in rows.nth(0).inner_text()
    assert rows.nth(0).locator("td").nth(4).inner_text() == "4"


# --- 8. forwarding to another compartment --------------------------------------------------


def test_a_forward_reaches_the_other_compartment_without_its_sender(
    org: Org,
    handler: Handler,
    chromium: Browser,
    tmp_path: Path,
) -> None:
    page = handler.page
    text = f"Troops gathering at the station. {canary('forward')}"
    send(org, new_contact(org, "news"), text)
    handler.sync()
    contact = handler.contact(text.rsplit(maxsplit=1)[-1])
    handler.open_contact(contact)
    pseudonym = folded(page.locator("main h1").inner_text()).rsplit(" ", 1)[0]
    item = page.locator("article.item", has_text="Troops gathering")
    item.locator("form.grade-form select[name=grade]").select_option("2")
    handler.press(item.locator("form.grade-form button"))
    handler.press(item.get_by_role("link", name="Forward…"))
    door = page.locator("[name=door]")
    if door.evaluate("el => el.tagName") == "SELECT":
        door.select_option("field")
    else:
        door.fill("field")
    handler.press(page.get_by_role("button", name="Forward", exact=True))
    assert re.fullmatch(r"Forwarded to door field as \S+: scrubbed, sealed and signed\.",
                        handler.notice()), handler.notice()  # fmt: skip
    assert "forwarded to field" in page.locator("article.item", has_text="Troops").inner_text()

    field = start_desk_ui(org, "field", tmp_path, export_dir=tmp_path / "exports")
    try:
        context, other, watch = open_desk(chromium, field)
        unlock(other, field.passphrase)
        receiver = Handler(other, field, watch)
        receiver.sync()
        # No alarm: the forward has exactly the stanzas of field's epoch.
        status = other.locator("#sync-status").inner_text()
        assert "warning" not in status, status
        assert "1 forwarded to this compartment" in receiver.text()
        receiver.press(other.get_by_role("link", name="Forwarded to us"))
        shown = other.locator("article.item", has_text="Troops gathering")
        assert folded(shown.locator(".text").inner_text()) == text
        verdict = shown.locator(".badge.signed").inner_text()
        assert re.fullmatch(r"forwarded by handler [0-9a-f]+ of door news", verdict), verdict
        source = folded(shown.locator(".source").inner_text())
        assert re.fullmatch(
            r"from compartment \S+, received [0-9]{4}-[0-9]{2}-[0-9]{2}, credibility 2", source
        ), source
        assert pseudonym not in receiver.text() and contact not in other.content()
        shoot(other, "forwarded")
        receiver.go("/")
        assert f'href="/contacts/{contact}"' not in other.content()
        context.close()
        _checked(watch)
    finally:
        field.stop()


# --- 9. export -----------------------------------------------------------------------------


def test_export_writes_a_folder_that_verify_manifest_accepts(
    org: Org, handler: Handler, exports: Path
) -> None:
    page = handler.page
    word = canary("export")
    send(org, new_contact(org, "news"), f"Report for export. {word}", [("list.txt", b"a list\n")])
    handler.sync()
    handler.open_contact(handler.contact(word))
    before = set(exports.iterdir())
    boxes = page.locator("article.item input[type=checkbox][name=item]")
    assert boxes.count() == 2
    for i in range(2):
        boxes.nth(i).check()
    handler.press(page.get_by_role("button", name="Export selected reports"))
    assert handler.notice().startswith("Exported 2 report(s) to "), handler.notice()
    (folder,) = set(exports.iterdir()) - before
    names = {p.name for p in folder.iterdir()}
    assert {"reports.json", "reports.csv", "reports.geojson", "manifest.txt"} <= names
    assert word in (folder / "reports.json").read_text("utf-8")
    checked = subprocess.run(
        [sys.executable, "-m", "shoal", "desk", "verify-manifest", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("Manifest verified:")


# --- 10. locking ---------------------------------------------------------------------------


def test_the_lock_button_and_shift_l_lock_the_desk(handler: Handler) -> None:
    page = handler.page
    lock(page)
    assert is_locked(page)
    assert handler.notice().startswith("Locked.")
    handler.go("/search?q=anything")
    assert page.url == handler.desk.origin + "/" and is_locked(page)

    unlock(page, handler.desk.passphrase)
    page.locator("main h1").click()  # the focus on the page, not in a field
    with page.expect_navigation():
        page.keyboard.press("Shift+L")
    assert is_locked(page)
    unlock(page, handler.desk.passphrase)


def test_an_idle_desk_locks_itself(org: Org, chromium: Browser, tmp_path: Path) -> None:
    # The field desk: the news desk's process stays up for the other tests.
    desk = start_desk_ui(org, "field", tmp_path, export_dir=tmp_path / "x", idle_minutes=0.05)
    try:
        context, page, watch = open_desk(chromium, desk)
        unlock(page, desk.passphrase)
        unlocked = time.monotonic()
        assert not is_locked(page)
        # Left alone, the open tab goes to the unlock page by itself (its
        # status poll learns the desk locked; polling is no activity)...
        page.locator("input#passphrase").wait_for(timeout=15_000)
        assert time.monotonic() - unlocked >= 3
        assert folded(page.locator("p.notice.warn").inner_text()) == "Locked after inactivity."
        # ...and the desk stays locked.
        time.sleep(1)
        page.reload()
        assert is_locked(page)
        handler_page = page.request.get(f"{desk.origin}/search?q=a")
        assert 'id="passphrase"' in handler_page.text()
        context.close()
        _checked(watch)
    finally:
        desk.stop()


# --- 11. keyboard --------------------------------------------------------------------------


def _focused(page: Page) -> str:
    return str(page.evaluate("document.activeElement.id"))


def test_keyboard_shortcuts(org: Org, handler: Handler) -> None:
    page = handler.page
    first, second = canary("keys"), canary("keys")
    writer = new_contact(org, "news")
    send(org, writer, f"Older news. {first}")
    send(org, writer, f"More older news. {first}")
    send(org, new_contact(org, "news"), f"Newer news. {second}")
    handler.sync()
    older, newer = handler.contact(first), handler.contact(second)
    handler.open_contact(older)
    items = page.locator("article.item")
    ids = [f"item-{i}" for i in items.evaluate_all("all => all.map(a => a.dataset.item)")]
    assert len(ids) == 2

    page.keyboard.press("j")
    assert _focused(page) == ids[0]
    with page.expect_navigation():
        page.keyboard.press("2")
    # Back on the same item, focused: the next keys go on from there.
    assert page.url.endswith(f"/contacts/{older}#{ids[0]}")
    assert _focused(page) == ids[0]
    page.keyboard.press("j")
    assert _focused(page) == ids[1]
    page.reload()
    assert items.first.locator(".grade").inner_text() == "credibility 2", "persisted"
    assert items.first.locator("form.grade-form select").input_value() == "2"
    assert items.nth(1).locator(".grade").count() == 0

    page.keyboard.press("r")
    assert _focused(page) == "reply-text"
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    assert _focused(page) == "quick-search"
    page.keyboard.press("Escape")
    with page.expect_navigation():
        page.keyboard.press("n")
    assert page.url == f"{handler.desk.origin}/contacts/{newer}"
    with page.expect_navigation():
        page.keyboard.press("g")
    assert page.url == handler.desk.origin + "/"


# --- 12. a malicious contact ---------------------------------------------------------------

HOSTILE_TEXT = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
HOSTILE_NAME = "../../<b>evil</b>.html"
HOSTILE_HTML = b"<html><body><script>window.__pwned=3;fetch('http://example.org/')</script></body>"
LONG_NAME = "x" * 300 + ".pdf"
HOSTILE_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>window.__pwned=4</script>'
    b'<image href="http://example.org/x.png"/></svg>'
)


def test_what_a_malicious_contact_sends_is_shown_as_text_and_downloads(
    org: Org, handler: Handler
) -> None:
    page = handler.page
    word = canary("hostile")
    send(
        org,
        new_contact(org, "news"),
        f"{HOSTILE_TEXT} {word}",
        [
            (HOSTILE_NAME, HOSTILE_HTML),
            ("drawing.svg", HOSTILE_SVG),
            ("broken.jpg", b"\xff\xd8\xff\xe0" + os.urandom(2000)),
            (LONG_NAME, b"%PDF-1.4\n"),
        ],
    )
    handler.sync()
    contact = handler.contact(word)
    handler.open_contact(contact)

    assert f"{HOSTILE_TEXT} {word}" in handler.text(), "the text is shown, as text"
    assert page.locator("main script, main img[src=x], main iframe, main object").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    names = page.locator("article.item span.name").all_inner_texts()
    assert sorted(names) == sorted([HOSTILE_NAME, "drawing.svg", "broken.jpg", LONG_NAME])
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= DESKTOP["width"], f"a long file name widened the page to {width} px"
    assert page.locator("article.item img").count() == 0, "no file here is shown as an image"

    html = page.locator("article.item", has=page.locator("span.name", has_text="evil"))
    href = html.locator("a", has_text="download").get_attribute("href")
    answer = page.request.get(handler.desk.origin + (href or ""))
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert "/" not in answer.headers["content-disposition"].split("filename=")[1].split(";")[0]
    assert answer.body() == HOSTILE_HTML
    with page.expect_download() as download:
        html.locator("a", has_text="download").click()
    assert "/" not in download.value.suggested_filename
    assert page.url.endswith(f"/contacts/{contact}")
    assert page.evaluate("typeof window.__pwned") == "undefined"

    broken = page.locator("article.item", has=page.locator("span.name", has_text="broken.jpg"))
    assert "download only" in broken.locator("ul.revealed").inner_text()

    handler.press(page.get_by_role("link", name="Inbox"))
    assert page.locator(f'table.inbox a[href="/contacts/{contact}"]').count() == 1
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert not [u for u in handler.watch.requests if u.rstrip("/").endswith("/x")]
    console = [t for k, t in handler.watch.console if k == "error"]
    assert not [t for t in console if "Content Security Policy" in t], console


# --- 13. a damaged item --------------------------------------------------------------------


def test_a_damaged_item_is_shown_as_damaged_and_the_rest_works(org: Org, handler: Handler) -> None:
    page = handler.page
    spoiled, kept = canary("spoiled"), canary("kept")
    writer = new_contact(org, "news")
    (damaged,) = send(org, writer, f"This one will be damaged. {spoiled}")
    send(org, writer, f"This one stays whole. {kept}")
    org.desk("news", "sync")  # downloaded by the command line, not indexed yet
    path = handler.desk.folder / "items" / f"{damaged}.age"
    path.write_bytes(os.urandom(path.stat().st_size))

    handler.sync()
    contact = handler.contact(kept)
    handler.open_contact(contact)
    broken = page.locator(f"article#item-{damaged}")
    assert folded(broken.locator("p.corrupt").inner_text()).startswith(
        "This item is damaged and is not shown:"
    )
    assert spoiled not in handler.text()
    assert f"This one stays whole. {kept}" in handler.text()
    handler.go("/")
    assert page.locator(f'table.inbox a[href="/contacts/{contact}"]').count() == 1


# --- 14. no launch link, no desk -----------------------------------------------------------


def test_a_browser_without_the_launch_link_gets_nothing(chromium: Browser, news: DeskUI) -> None:
    context = chromium.new_context(viewport=DESKTOP)
    page = context.new_page()
    for path in ("/", "/search?q=a", "/static/desk.js"):
        answer = page.goto(news.origin + path)
        assert answer is not None and answer.status == 403
        assert folded(page.locator("body").inner_text()) == (
            "Open the desk with the link `shoal desk ui` printed in your terminal."
        )
    context.close()
