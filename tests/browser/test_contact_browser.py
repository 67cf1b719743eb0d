"""The contact's pages in a real browser with JavaScript off (Tor Browser's
Safest level): Debian's Chromium driven by Playwright, against a real
``shoal serve`` and the desk command line (fixtures in ``conftest.py``).

Every page a flow reaches is also checked where it stands: its language,
no sideways scrolling at 360 px, a label for every control, WCAG AA colour
contrast, its weight (HTML + CSS, gzipped, printed with ``pytest -s`` and
written to ``build/page-weights.json``), and a full-page screenshot in
``build/screenshots/<lang>-<page>.png``. Every context, when its test ends,
must have asked nothing of any other origin, no script, and met no
Content-Security-Policy refusal (``browse`` in ``conftest.py``).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from browser_kit import (
    DESKTOP,
    MAX_BODY,
    PHONE,
    Browse,
    Pages,
    Weight,
    all_text,
    folded,
    png,
    tabs_to,
    text_of,
)
from browser_kit import T as _T
from playwright.sync_api import Locator, Page

from _served_org import Org
from shoal.server import _messages as msg
from shoal.server import _questionnaire as quest

pytestmark = pytest.mark.timeout(300)

MESSAGE = {
    "uk": "Колона пройшла міст на світанку. canary-msg-41d7",
    "en": "The convoy crossed the bridge at dawn. canary-msg-41d7",
}
REPLIES = {
    "uk": ("Дякуємо, ми отримали ваші файли. canary-reply-1", "Друга відповідь. canary-reply-2"),
    "en": ("Thank you, we have your files. canary-reply-1", "A second reply. canary-reply-2"),
}
LANDING_TITLE = "Secure contact"
GOODBYE = (
    "One more step: in Tor Browser's menu choose New Identity (the broom icon), or close "
    "Tor Browser completely. That clears what this browser remembers of this visit."
)


def go(page: Page, target: Locator) -> None:
    """Click ``target`` and wait for the page it leads to."""
    with page.expect_navigation():
        target.click()


def button(page: Page, lang: str, english: str) -> Locator:
    return page.get_by_role("button", name=_T(lang, english), exact=True)


def link(page: Page, lang: str, english: str) -> Locator:
    return page.get_by_role("link", name=_T(lang, english), exact=True)


def notice(page: Page) -> str:
    return text_of(page, "main p.notice[role=status]")


def error(page: Page) -> str:
    return text_of(page, "main p.error[role=alert]")


def heading(page: Page) -> str:
    return text_of(page, "main h1")


def files_for(tmp_path: Path, lang: str) -> list[Path]:
    photo = tmp_path / ("фото-міст.png" if lang == "uk" else "bridge-photo.png")
    photo.write_bytes(png())
    notes = tmp_path / ("нотатки.txt" if lang == "uk" else "notes.txt")
    notes.write_text(f"{MESSAGE[lang]}\nnotes-canary-88b2\n", "utf-8")
    return [photo, notes]


def landing(page: Page, org: Org, door: str, pages: Pages, *, switch: bool) -> None:
    """The door's first page in ``pages.lang``: by Accept-Language, or chosen
    with the switcher from a browser that asks for English (as Tor Browser does)."""
    lang = pages.lang
    page.goto(f"{org.url}/d/{door}/")
    if switch:
        assert page.evaluate("document.documentElement.lang") == "en"
        go(page, page.locator(f"nav.languages a[hreflang={lang}]"))
        assert f"lang={lang}" in page.url
    assert heading(page) == _T(lang, LANDING_TITLE)
    assert page.locator("nav.languages [aria-current=page]").get_attribute("lang") == lang


def get_codename(page: Page, lang: str, english_button: str) -> str:
    go(page, button(page, lang, english_button))
    assert heading(page) == _T(lang, "Your codename")
    codename = text_of(page, "#codename")
    assert re.fullmatch(r"\S+( \S+){2,}", codename), codename
    return codename


def practice(page: Page, pages: Pages | None, lang: str, codename: str, wrong: bool) -> None:
    """From the codename page, through the practice step."""
    go(page, link(page, lang, "I have kept it: continue"))
    assert heading(page) == _T(lang, "Type your codename back")
    if pages:
        pages.check(page, "practice")
    if wrong:
        page.get_by_label(_T(lang, "Codename"), exact=True).fill("wrong words entirely")
        go(page, button(page, lang, "Check"))
        assert error(page) == _T(lang, msg.PRACTICE_WRONG)
        if pages:
            pages.check(page, "practice-error")
    page.get_by_label(_T(lang, "Codename"), exact=True).fill(codename)
    go(page, button(page, lang, "Check"))


def log_in(page: Page, pages: Pages | None, lang: str, codename: str) -> None:
    """From the landing page, with a wrong codename first."""
    go(page, link(page, lang, "I have a codename"))
    assert heading(page) == _T(lang, "Enter your codename")
    if pages:
        pages.check(page, "login")
    field = page.get_by_label(_T(lang, "Codename"), exact=True)
    field.fill("not my codename at all")
    go(page, button(page, lang, "Continue"))
    assert error(page) == _T(lang, msg.WRONG_CODENAME)
    if pages:
        pages.check(page, "login-error")
    field.fill(codename)
    go(page, button(page, lang, "Continue"))
    assert heading(page) == _T(lang, "Write to us")
    assert notice(page) == _T(lang, msg.LOGGED_IN)


def nav(page: Page, lang: str, english: str) -> Locator:
    return page.locator("nav.account").get_by_role("link", name=_T(lang, english), exact=True)


# --- 1: the whole loop, and every page on the way ---------------------------------------


@pytest.mark.parametrize(
    ("lang", "switch"),
    [pytest.param("uk", True, id="uk-by-switcher"), pytest.param("en", False, id="en")],
)
def test_write_read_the_reply_and_delete_it(
    browse: Browse,
    org: Org,
    weights: dict[str, Weight],
    tmp_path: Path,
    lang: str,
    switch: bool,
) -> None:
    org.desk("news", "sync")
    before = org.desk_items("news")
    context, recorder = browse("en-US,en;q=0.5")
    pages = Pages(recorder, weights, lang)
    page = context.new_page()

    landing(page, org, "news", pages, switch=switch)
    pages.check(page, "landing")
    # The same page on a desktop screen.
    page.set_viewport_size(DESKTOP)
    pages.shoot(page, "landing-wide")
    page.set_viewport_size(PHONE)
    assert page.locator("nav.account").count() == 0

    codename = get_codename(page, lang, "First time here: get a codename")
    pages.check(page, "codename")
    practice(page, pages, lang, codename, wrong=True)

    # The page to write on, said to be reached.
    assert heading(page) == _T(lang, "Write to us")
    assert notice(page) == _T(lang, msg.PRACTICE_DONE)
    pages.check(page, "submit")
    send = button(page, lang, "Send")
    message = page.get_by_label(_T(lang, "Message"), exact=True)
    attach = page.locator("#files")

    # Nothing to send, then too many files: refused, and the message is kept.
    go(page, send)
    assert error(page) == _T(lang, msg.NOTHING_TO_SEND)
    many = []
    for number in range(21):
        one = tmp_path / f"many-{number}.txt"
        one.write_text(str(number))
        many.append(one)
    message.fill(MESSAGE[lang])
    attach.set_input_files(many)
    go(page, send)
    assert error(page) == _T(lang, msg.TOO_MANY_FILES)
    assert notice(page) == _T(lang, msg.CHOOSE_FILES_AGAIN)
    assert message.input_value() == MESSAGE[lang]
    pages.check(page, "submit-error")

    # Sent: the message and two files.
    sent_files = files_for(tmp_path, lang)
    attach.set_input_files(sent_files)
    go(page, send)
    assert notice(page) == _T(lang, msg.SENT)
    assert message.input_value() == ""
    pages.check(page, "submit-sent")

    go(page, nav(page, lang, "Replies"))
    assert heading(page) == _T(lang, "Replies")
    assert page.locator("article.reply").count() == 0
    assert _T(lang, "No replies yet. Come back in a few days.") in all_text(page)
    pages.check(page, "replies-empty")

    # Out, and back in with the codename.
    go(page, page.locator("nav.account").get_by_role("button", name=_T(lang, "Log out")))
    assert heading(page) == _T(lang, "You are logged out")
    assert _T(lang, GOODBYE) in all_text(page)
    # Named as Tor Browser's menu names it in that language.
    assert "New Identity" in all_text(page) or "Нова особистість" in all_text(page)
    pages.check(page, "goodbye")
    go(page, link(page, lang, "Back to the start"))
    assert heading(page) == _T(lang, LANDING_TITLE)
    log_in(page, pages, lang, codename)

    # The handler's side: three items from one contact, vouched for by the server.
    new = org.new_desk_items("news", before)
    assert sorted(line.kind for line in new) == ["file", "file", "message"], new
    assert len({line.contact for line in new}) == 1
    assert all(line.verdict == "vouched for by the server only" for line in new), new
    contact = new[0].contact
    shown = {
        line.kind + line.item_id: org.desk("news", "read", line.item_id).stdout for line in new
    }
    said = "\n".join(shown.values())
    assert MESSAGE[lang] in said
    for sent in sent_files:
        assert f"file {sent.name!r}, {sent.stat().st_size} bytes" in said
    first, second = REPLIES[lang]
    org.desk("news", "reply", contact, "--message", first)

    # The reply, read and deleted.
    go(page, nav(page, lang, "Replies"))
    assert page.locator("article.reply").count() == 1
    assert text_of(page, "article.reply p.text") == first
    pages.check(page, "replies")
    go(
        page,
        page.locator("article.reply").get_by_role("button", name=_T(lang, "Delete this reply")),
    )
    assert notice(page) == _T(lang, msg.REPLY_DELETED)
    assert page.locator("article.reply").count() == 0
    assert first not in page.content()
    pages.check(page, "replies-deleted")

    # A second one, and "delete all" through its confirmation page.
    org.desk("news", "reply", contact, "--message", second)
    org.desk("news", "reply", contact, "--message", first)
    page.reload()
    assert page.locator("article.reply").count() == 2
    go(page, link(page, lang, "Delete all replies"))
    assert heading(page) == _T(lang, "Delete all replies?")
    pages.check(page, "delete-all")
    go(page, button(page, lang, "Delete all replies"))
    assert notice(page) == _T(lang, msg.REPLIES_DELETED)
    assert page.locator("article.reply").count() == 0
    assert second not in page.content()

    # A door that does not exist: the error page, in the same language.
    query = f"?lang={lang}" if switch else ""
    answer = page.goto(f"{org.url}/d/no-such-door/{query}")
    assert answer is not None and answer.status == 404
    assert heading(page) == _T(lang, "Something went wrong")
    pages.check(page, "error-404")


# --- 2: the offer of services ------------------------------------------------------------


@pytest.mark.parametrize("lang", ["uk", "en"])
def test_offer_services_with_a_mistake_then_right(
    browse: Browse, org: Org, weights: dict[str, Weight], lang: str
) -> None:
    org.desk("field", "sync")
    before = org.desk_items("field")
    # Ukrainian here by the browser's Accept-Language.
    context, recorder = browse("uk-UA,uk;q=0.9,en;q=0.5" if lang == "uk" else "en-US,en;q=0.5")
    pages = Pages(recorder, weights, lang)
    page = context.new_page()
    landing(page, org, "field", pages, switch=False)
    pages.check(page, "landing-field")

    codename = get_codename(page, lang, "Offer your services")
    practice(page, None, lang, codename, wrong=False)
    assert heading(page) == questionnaire(org)["title"][lang]
    assert notice(page) == _T(lang, msg.PRACTICE_DONE_SERVICES)
    pages.check(page, "services")

    # Required answers missing (skills, reach): errors by those fields, the rest kept.
    page.locator("#f-region").select_option("kharkiv")
    page.locator("#f-availability-emergencies").check()
    typed = "Можу возити ліки вечорами." if lang == "uk" else "I can drive medicine at night."
    page.locator("#f-anything_else").fill(typed)
    go(page, button(page, lang, "Send my offer"))
    assert error(page) == _T(lang, msg.FIX_ANSWERS)
    assert text_of(page, "#error-skills") == _T(lang, quest.CHOOSE_AT_LEAST_ONE)
    assert text_of(page, "#error-reach") == _T(lang, quest.CHOOSE_ONE)
    for name in ("skills", "reach"):
        field = page.locator(f".field.invalid:has(#error-{name})")
        assert field.count() == 1, name
        assert "error-" + name in (
            field.locator("fieldset").get_attribute("aria-describedby") or ""
        )
    assert page.locator("#error-region, #error-availability, #error-anything_else").count() == 0
    assert page.locator("#f-region").input_value() == "kharkiv"
    assert page.locator("#f-availability-emergencies").is_checked()
    assert page.locator("#f-anything_else").input_value() == typed
    pages.check(page, "services-errors")

    page.locator("#f-skills-transport").check()
    page.locator("#f-skills-first_aid").check()
    page.locator("#f-reach-weekly").check()
    go(page, button(page, lang, "Send my offer"))
    assert heading(page) == _T(lang, "Write to us")
    assert notice(page) == _T(lang, msg.APPLICATION_SENT)
    pages.check(page, "services-sent")

    # At the field desk: one item of kind "application", which the server
    # vouches for as it does for messages and files.
    new = org.new_desk_items("field", before)
    assert [line.kind for line in new] == ["application"], new
    assert new[0].verdict == "vouched for by the server only", new


def questionnaire(org: Org) -> dict[str, Any]:
    """The field door's questionnaire, as its operator wrote it."""
    path = org.root / "server" / "questionnaires" / "field.toml"
    return tomllib.loads(path.read_text("utf-8"))


# --- 3: one door says nothing of another ------------------------------------------------


def test_a_news_contact_never_sees_the_field_door(browse: Browse, org: Org) -> None:
    context, recorder = browse("uk-UA,uk;q=0.9")
    page = context.new_page()
    page.goto(f"{org.url}/d/news/")
    assert heading(page) == _T("uk", LANDING_TITLE)
    assert button(page, "uk", "Offer your services").count() == 0
    assert page.locator("input[name=next][value=services]").count() == 0
    codename = get_codename(page, "uk", "First time here: get a codename")
    practice(page, None, "uk", codename, wrong=False)
    assert heading(page) == _T("uk", "Write to us")
    assert page.locator("nav.account a[href*='services']").count() == 0
    assert nav(page, "uk", "Offer your services").count() == 0
    go(page, nav(page, "uk", "Replies"))
    go(page, page.locator("nav.account").get_by_role("button", name=_T("uk", "Log out")))
    go(page, link(page, "uk", "Back to the start"))
    log_in(page, None, "uk", codename)
    answer = page.goto(f"{org.url}/d/news/services")
    assert answer is not None and answer.status == 404

    # The news session does not open the field door.
    for where in ("submit", "replies", "services", "replies/delete"):
        page.goto(f"{org.url}/d/field/{where}")
        assert re.search(r"/d/field/login(\?|$)", page.url), (where, page.url)
        assert page.locator("nav.account").count() == 0
        assert page.locator("#codename[type=password]").count() == 1
    # …and is still good at news.
    page.goto(f"{org.url}/d/news/submit")
    assert page.url.endswith("/d/news/submit")

    news_pages = [d for d in recorder.documents if "/d/news/" in d.url]
    assert len(news_pages) >= 10
    for document in news_pages:
        assert "field" not in document.html.lower(), document.url


def test_the_codename_pages_switcher_keeps_the_codename(browse: Browse, org: Org) -> None:
    """The codename page came from a POST: its switcher re-posts the codename
    with the chosen language (buttons named "lang"), and must switch."""
    context, _recorder = browse("uk-UA,uk;q=0.9")
    page = context.new_page()
    page.goto(f"{org.url}/d/news/")
    codename = get_codename(page, "uk", "First time here: get a codename")
    go(page, page.locator("form.languages button[lang=en]"))
    assert text_of(page, "#codename") == codename
    assert page.evaluate("document.documentElement.lang") == "en"
    assert heading(page) == "Your codename"
    # …and the language then travels on.
    go(page, link(page, "en", "I have kept it: continue"))
    assert heading(page) == "Type your codename back"


def test_a_file_over_the_limit_is_refused_and_the_message_kept(
    browse: Browse, org: Org, tmp_path: Path
) -> None:
    """The server refuses the upload before reading it (its declared length
    is over the limit), yet the browser shows the page in the contact's
    language with the message given back, not a reset connection."""
    context, _recorder = browse("uk-UA,uk;q=0.9")
    page = context.new_page()
    page.goto(f"{org.url}/d/news/")
    codename = get_codename(page, "uk", "First time here: get a codename")
    practice(page, None, "uk", codename, wrong=False)
    before = org.desk_items("news")
    big = tmp_path / "video.bin"
    big.write_bytes(b"\0" * (MAX_BODY + (4 << 20)))
    page.get_by_label(_T("uk", "Message"), exact=True).fill(MESSAGE["uk"])
    page.set_input_files("#files", [str(big)])
    go(page, button(page, "uk", "Send"))
    assert error(page) == _T("uk", msg.BODY_TOO_LARGE)
    assert page.input_value("#message") == MESSAGE["uk"]
    assert org.new_desk_items("news", before) == []


# --- 6: the keyboard reaches the login page's action ------------------------------------


@pytest.mark.parametrize("lang", ["uk", "en"])
def test_keyboard_reaches_the_main_actions(browse: Browse, org: Org, lang: str) -> None:
    context, _recorder = browse("uk-UA,uk;q=0.9" if lang == "uk" else "en-US,en;q=0.5")
    page = context.new_page()
    page.goto(f"{org.url}/d/news/")
    tabs_to(page, "form[action*='first-contact'] button.primary")
    page.goto(f"{org.url}/d/news/login")
    assert folded(page.locator("main h1").inner_text()) == _T(lang, "Enter your codename")
    # The codename field first, then its button.
    tabs_to(page, "#codename")
    tabs_to(page, "main form button.primary", limit=2)
