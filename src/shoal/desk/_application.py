"""A contact's offer of services, as the handler reads it.

The server seals the questionnaire's answers as one item of kind
"application" (``shoal.server._questionnaire``: JSON with the English
labels of each question, the contact's answers and the language the
contact used, so the reply can be written in it). The content came from a
contact through a server that may be seized: it is parsed strictly, and
anything unexpected is refused as a whole rather than shown in part.

An application opens a contact's lifecycle (DESIGN.md, "Contacts:
lifecycle"): until a handler records a decision, its contact is "new".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ItemError

KIND = "application"
#: The lifecycle state of a contact with no decision recorded on any desk.
INITIAL_STATE = "new"
_MAX_ANSWERS = 50


@dataclass(frozen=True)
class Answer:
    label: str
    shown: str


@dataclass(frozen=True)
class Application:
    title: str
    language: str
    answers: tuple[Answer, ...]

    def lines(self) -> list[str]:
        out = [f"offer of services: {self.title} (written in {self.language})"]
        out += [f"{a.label}: {a.shown}" for a in self.answers]
        return out


def parse_application(content: bytes) -> Application:
    """The answers in an application item's content; :class:`ItemError`
    if it is not what the server's questionnaire writes."""
    try:
        data = json.loads(content.decode("utf-8"))
        questionnaire = _mapping(data, "questionnaire")
        answers = data["answers"]
        if not isinstance(answers, list) or len(answers) > _MAX_ANSWERS:
            raise ValueError
        return Application(
            title=_text(questionnaire["title"]),
            language=_text(data["language"]),
            answers=tuple(_answer(a) for a in answers),
        )
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise ItemError("the application is malformed; not shown") from None


def _mapping(data: Any, key: str) -> Mapping[str, Any]:
    value = data[key]
    if not isinstance(value, dict):
        raise TypeError(key)
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not text")
    return value


def _answer(raw: Any) -> Answer:
    if not isinstance(raw, dict):
        raise TypeError("answer")
    shown = raw["shown"] if raw.get("shown") is not None else raw["value"]
    if shown is None:
        text = "(no answer)"
    elif isinstance(shown, list):
        text = ", ".join(_text(s) for s in shown) or "(none chosen)"
    else:
        text = _text(shown)
    return Answer(_text(raw["label"]), text)
