"""The contact's languages: gettext catalogs, and which one a request gets.

Catalogs are the ``.po`` files under ``locale/<language>/LC_MESSAGES/``,
read with Babel and compiled in memory at start-up (a few milliseconds),
so the repository holds no generated ``.mo`` files that could drift from
their sources. Messages are English msgids; English has a catalog too, so
that every language is checked the same way (tests/server/test_catalogs.py).

Which language a page is in: an explicit ``?lang=`` (the switcher on
every page; links and forms then carry it along), else the browser's
``Accept-Language``, else English. Tor Browser sends ``en-US`` whatever
its user reads, to look like everyone else: that is why the switcher is on
every page, near the top, with each language named in itself.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

#: Language codes and their names in themselves, in the switcher's order.
LANGUAGES: Mapping[str, str] = {
    "uk": "Українська",
    "en": "English",
    "ru": "Русский",
    "crh": "Qırımtatarca",  # noqa: RUF001 (Crimean Tatar spells it with a dotless i)
}
DEFAULT = "en"
DOMAIN = "messages"
#: Enough entries for any real browser; the rest of a long header is ignored.
_MAX_RANGES = 16


def N_(message: str) -> str:
    """Mark ``message`` as a msgid for extraction; translated where it is shown."""
    return message


def _load(language: str) -> gettext.GNUTranslations:
    source = resources.files("shoal.server").joinpath(
        "locale", language, "LC_MESSAGES", f"{DOMAIN}.po"
    )
    with source.open("rb") as po:
        # No locale: Babel has no data for Crimean Tatar, and no page needs
        # plural forms (counts are shown as numbers beside a noun phrase).
        catalog = read_po(po, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@dataclass(frozen=True)
class Language:
    """The language one request is answered in."""

    code: str
    #: Chosen with ``?lang=``: links and forms must carry it on.
    explicit: bool


class Catalogs:
    """Every language's translations, loaded once."""

    def __init__(self) -> None:
        self._translations = {code: _load(code) for code in LANGUAGES}

    def translations(self, code: str) -> gettext.GNUTranslations:
        return self._translations[code]

    def gettext(self, code: str, message: str) -> str:
        return self._translations[code].gettext(message)


def choose(query_lang: str | None, accept_language: str | None) -> Language:
    """The language for a request (see the module doc)."""
    if query_lang is not None and query_lang in LANGUAGES:
        return Language(query_lang, explicit=True)
    return Language(negotiate(accept_language or ""), explicit=False)


def negotiate(header: str) -> str:
    """The best of our languages for an ``Accept-Language`` header.

    ``uk-UA`` matches ``uk``; ``q=0`` refuses; ties keep the header's order.
    Anything malformed is skipped, never an error: it is only a preference.
    """
    ranked: list[tuple[float, int, str]] = []
    for position, entry in enumerate(header.split(",")[:_MAX_RANGES]):
        tag, _, params = entry.strip().partition(";")
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and 0 < quality <= 1:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else DEFAULT
