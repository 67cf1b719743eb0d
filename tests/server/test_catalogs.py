"""Every word a contact reads is in the catalogs, translated in all four.

Two checks, each shown able to fail:

- the msgids extracted from the code and templates right now (with the
  project's babel.cfg) are exactly the catalog's, and every language has
  a non-empty, non-fuzzy translation of each, keeping its placeholders;
- no template holds words outside a translation call: the template's raw
  text (Jinja's lexer "data" tokens outside ``{% trans %}`` blocks), read
  as HTML, has no letters in its text or in any attribute a person sees.
"""

from __future__ import annotations

import importlib.util
import re
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import jinja2
import pytest
from babel.messages.pofile import read_po

from shoal.server._i18n import LANGUAGES

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "src" / "shoal" / "server"
TEMPLATES = SERVER / "templates"
TOOL = ROOT / "tools" / "update_catalogs.py"
_PLACEHOLDER = re.compile(r"%\(\w+\)s")
#: Attributes whose values a person reads or hears (screen readers).
_SHOWN_ATTRIBUTES = frozenset({"title", "alt", "placeholder", "aria-label", "label", "value"})
#: ``value`` is shown only on buttons; elsewhere it is data (a form field).
_VALUE_SHOWN_ON = frozenset({"button", "submit", "reset"})


def _update_catalogs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("update_catalogs", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def extracted_msgids() -> set[str]:
    """What ``tools/update_catalogs.py`` (``make catalogs``) extracts now."""
    template = _update_catalogs().extract()
    return {m.id for m in template if m.id and isinstance(m.id, str)}


def catalog(language: str) -> dict[str, str]:
    path = SERVER / "locale" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        parsed = read_po(f)
    return {m.id: ("" if m.fuzzy else m.string) for m in parsed if m.id and isinstance(m.id, str)}


def untranslated(msgids: set[str], translations: dict[str, str]) -> list[str]:
    """msgids with no usable translation: missing, empty, fuzzy, or with
    placeholders the translation does not keep exactly."""
    bad = []
    for msgid in sorted(msgids):
        text = translations.get(msgid, "")
        if not text.strip() or sorted(_PLACEHOLDER.findall(text)) != sorted(
            _PLACEHOLDER.findall(msgid)
        ):
            bad.append(msgid)
    return bad


def test_the_catalogs_hold_exactly_what_the_code_says() -> None:
    msgids = extracted_msgids()
    assert len(msgids) > 80  # the extraction itself works
    for language in LANGUAGES:
        assert set(catalog(language)) == msgids, (
            f"{language}: run tools/update_catalogs.py (make catalogs)"
        )


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_msgid_is_translated(language: str) -> None:
    assert untranslated(extracted_msgids(), catalog(language)) == []


def test_the_translation_check_catches_what_it_must() -> None:
    msgids = {"Send", "Up to %(max_files)s files."}
    assert untranslated(msgids, {"Send": "Надіслати", "Up to %(max_files)s files.": "До"}) == [
        "Up to %(max_files)s files."
    ]
    assert untranslated(msgids, {"Up to %(max_files)s files.": "До %(max_files)s"}) == ["Send"]
    assert untranslated(msgids, {"Send": " ", "Up to %(max_files)s files.": "%(max_files)s"}) == [
        "Send"
    ]


class _Words(HTMLParser):
    """Letters a person would read in a piece of template HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.words: list[str] = []

    def handle_data(self, data: str) -> None:
        if re.search(r"[^\W\d_]", data):
            self.words.append(data.strip())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        kinds = {value for name, value in attrs if name == "type"}
        for name, value in attrs:
            if name not in _SHOWN_ATTRIBUTES or not value:
                continue
            if name == "value" and not (tag == "button" or kinds & _VALUE_SHOWN_ON):
                continue
            if re.search(r"[^\W\d_]", value):
                self.words.append(f"{name}={value!r}")


def words_outside_catalogs(source: str) -> list[str]:
    """Words in a template that no translation call covers."""
    env = jinja2.Environment(extensions=["jinja2.ext.i18n", "jinja2.ext.do"])
    html = []
    in_trans = 0
    # lex() gives the raw stream, whitespace tokens included: drop those.
    tokens = [t for t in env.lex(source) if t[1] != "whitespace"]
    for index, (_, kind, value) in enumerate(tokens):
        if kind == "name" and index > 0 and tokens[index - 1][1] == "block_begin":
            if value == "trans":
                in_trans += 1
            elif value == "endtrans":
                in_trans -= 1
        elif kind == "data" and not in_trans:
            html.append(value)
        elif kind in {"variable_begin", "block_begin"}:
            # An expression stands between two pieces of text: keep them apart.
            html.append(" ")
    parser = _Words()
    parser.feed("".join(html))
    parser.close()
    return parser.words


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_no_template_holds_words_outside_the_catalogs(template: str) -> None:
    source = (TEMPLATES / template).read_text("utf-8")
    assert words_outside_catalogs(source) == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("<p>Hello</p>", ["Hello"]),
        ('<p>{{ _("Hi") }} there</p>', ["there"]),
        ('<input type="text" placeholder="Your name">', ["placeholder='Your name'"]),
        ('<button type="submit" value="Go">{{ _("Go") }}</button>', ["value='Go'"]),
        ('<img src="/x.svg" alt="Logo">', ["alt='Logo'"]),
        ('<nav aria-label="Main"></nav>', ["aria-label='Main'"]),
        ("{% trans %}Fine{% endtrans %} but not this", ["but not this"]),
        ("<title>{% block title %}Secure contact{% endblock %}</title>", ["Secure contact"]),
    ],
)
def test_the_template_check_catches_stray_words(source: str, found: list[str]) -> None:
    assert words_outside_catalogs(source) == found


@pytest.mark.parametrize(
    "source",
    [
        '<p>{{ _("Hello") }}</p>',
        "{% trans %}Hello there{% endtrans %}",
        '<input type="hidden" name="form_token" value="{{ view.form_token }}">',
        '<input type="radio" name="x" value="first_aid">',
        '<a href="/d/{{ door }}/login" lang="uk" hreflang="uk">{{ name }}</a>',
    ],
)
def test_the_template_check_passes_what_is_translated_or_data(source: str) -> None:
    assert words_outside_catalogs(source) == []
