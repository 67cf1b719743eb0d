"""Extract the contact's msgids and bring every catalog up to date.

    .venv/bin/python tools/update_catalogs.py        (or: make catalogs)

Writes ``locale/messages.pot`` and updates ``locale/<lang>/LC_MESSAGES/
messages.po`` for each language: new msgids arrive untranslated, removed
ones are dropped (no fuzzy guesses: a guessed safety instruction is worse
than none, and the catalog test fails until a person translates it).
English is filled in with the msgids themselves. Babel's own ``pybabel
update`` refuses Crimean Tatar (its locale data has no ``crh``), hence
this script over Babel's API.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "src" / "shoal" / "server" / "locale"
TEMPLATE = LOCALE / "messages.pot"
LANGUAGES = ("uk", "en", "ru", "crh")
KEYWORDS = {"_": None, "gettext": None, "N_": None}


def extract() -> Catalog:
    """Every msgid in the code and templates, as ``babel.cfg`` maps them
    (tests/server/test_catalogs.py checks the catalogs against this)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    template = Catalog(domain="messages", project="Shoal", fuzzy=False)
    for _, _, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        template.add(message, None, auto_comments=comments, context=context)
    return template


def main() -> None:
    LOCALE.mkdir(parents=True, exist_ok=True)
    with TEMPLATE.open("wb") as f:
        write_po(f, extract(), omit_header=True, sort_output=True, no_location=True)
    for language in LANGUAGES:
        # Read afresh each time: Catalog.update shares the template's messages.
        with TEMPLATE.open("rb") as f:
            template = read_po(f)
        path = LOCALE / language / "LC_MESSAGES" / "messages.po"
        if path.exists():
            with path.open("rb") as f:
                catalog = read_po(f)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(domain="messages", project="Shoal", fuzzy=False)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.language_team = language
        catalog.fuzzy = False
        if language == "en":
            for message in catalog:
                if message.id:
                    message.string = message.id
        with path.open("wb") as f:
            write_po(f, catalog, omit_header=False, sort_output=True, no_location=True)
        missing = sum(1 for m in catalog if m.id and not m.string)
        print(f"{language}: {len(catalog)} messages, {missing} untranslated")


if __name__ == "__main__":
    main()
