"""The "offer your services" form as one language sees it (for services.html).

The questionnaire (``_questionnaire.py``) holds every text in the four
languages, except the built-in "how to reach you back" field, whose texts
are msgids translated by the catalogs. This module picks one language's
texts and adds, after a refused submission, each field's error (translated)
and what the contact had entered, so the page comes back as they left it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._i18n import Catalogs
from ._questionnaire import REACH_NOTICE, Field, InvalidAnswers, Questionnaire

_MULTIPLE = frozenset({"choices", "skills"})


@dataclass(frozen=True)
class ShownField:
    name: str
    type: str
    required: bool
    multiple: bool
    label: str
    help: str | None
    notice: str | None
    max_length: int | None
    options: list[tuple[str, str]]
    kept: tuple[str, ...]
    error: str | None


@dataclass(frozen=True)
class ShownQuestionnaire:
    title: str
    intro: str | None
    fields: list[ShownField]

    @classmethod
    def of(
        cls,
        questionnaire: Questionnaire,
        lang: str,
        catalogs: Catalogs,
        refused: InvalidAnswers | None = None,
    ) -> ShownQuestionnaire:
        def shown(field: Field) -> ShownField:
            # Built-in texts are msgids; a compartment's own are already in lang.
            builtin = field.type == "reach"

            def text(value: str) -> str:
                return catalogs.gettext(lang, value) if builtin else value

            error = refused.errors.get(field.name) if refused else None
            return ShownField(
                name=field.name,
                type=field.type,
                required=field.required,
                multiple=field.type in _MULTIPLE,
                label=text(field.label[lang]),
                help=text(field.help[lang]) if field.help else None,
                notice=catalogs.gettext(lang, REACH_NOTICE) if builtin else None,
                max_length=field.max_length,
                options=[(o.value, text(o.label[lang])) for o in field.options],
                kept=refused.kept.get(field.name, ()) if refused else (),
                error=catalogs.gettext(lang, error) if error else None,
            )

        intro = questionnaire.intro[lang] if questionnaire.intro else None
        return cls(questionnaire.title[lang], intro, [shown(f) for f in questionnaire.fields])
