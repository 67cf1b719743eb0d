"""Fuzz the questionnaire validator (``shoal.server._questionnaire``).

The input's first byte chooses what is fuzzed:

* odd: the rest, as UTF-8 (lossless: bad bytes become lone surrogates), is
  an operator's questionnaire file. ``parse_questionnaire`` returns a
  questionnaire or raises ``QuestionnaireConfigError``, nothing else;
* even: the rest is a contact's ``application/x-www-form-urlencoded`` body,
  decoded as the server's ``read_form`` does, validated against the example
  questionnaire (or a small strict one) in one of the four languages.
  ``validate_answers`` returns answers or raises ``InvalidAnswers``, and
  either way keeps its promises: answers are well-typed and their sealed
  content is UTF-8 JSON; a refusal names only fields (or the form) with
  known messages, and keeps only values safe to show again.

Seeds: the example questionnaire and the forms of the questionnaire tests.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from importlib.resources import files

import atheris

from _harness import main

with atheris.instrument_imports(include=["shoal.server._questionnaire", "tomllib"]):
    from shoal.server import _questionnaire as qn

PAGE_FIELDS = ("form_token", "once")
SMALL = """
version = 2
title = { en = "T", uk = "T", ru = "T", crh = "T" }
[[fields]]
name = "note"
type = "text"
required = true
max_length = 5
label = { en = "N", uk = "N", ru = "N", crh = "N" }
[[fields]]
name = "many"
type = "choices"
max_selected = 2
label = { en = "M", uk = "M", ru = "M", crh = "M" }
options = [
  { value = "a", label = { en = "A", uk = "A", ru = "A", crh = "A" } },
  { value = "b", label = { en = "B", uk = "B", ru = "B", crh = "B" } },
  { value = "c", label = { en = "C", uk = "C", ru = "C", crh = "C" } },
]
"""
QUESTIONNAIRES = [
    qn.parse_questionnaire(
        files("shoal.server").joinpath("questionnaire_example.toml").read_text("utf-8"),
        door="north",
        source="example",
    ),
    qn.parse_questionnaire(SMALL, door="north", source="small"),
]
MESSAGES = {
    qn.UNEXPECTED_FIELD,
    qn.NOTHING_ANSWERED,
    qn.BAD_CHARACTERS,
    qn.TOO_LONG,
    qn.ANSWER_REQUIRED,
    qn.NOT_AN_OPTION,
    qn.CHOOSE_ONE,
    qn.TOO_MANY_CHOSEN,
    qn.CHOOSE_AT_LEAST_ONE,
}


def check_file(text: str) -> None:
    with contextlib.suppress(qn.QuestionnaireConfigError):
        qn.parse_questionnaire(text, door="north", source="fuzzed")


def check_text(f: qn.Field, text: str) -> None:
    assert not qn._refused_character(text)
    assert len(text) <= (f.max_length or qn.DEFAULT_MAX_LENGTH)


def check_answers(q: qn.Questionnaire, answers: qn.Answers) -> None:
    assert set(answers.values) == {f.name for f in q.fields}
    assert any(v is not None for v in answers.values.values())
    for f in q.fields:
        value = answers.values[f.name]
        if value is None:
            assert not f.required
        elif f.type == "text":
            assert isinstance(value, str)
            check_text(f, value)
            assert value == value.strip()
        elif f.type in qn.SINGLE_CHOICE:
            assert isinstance(value, str) and f.option(value) is not None
        else:
            assert isinstance(value, tuple) and value
            assert len(set(value)) == len(value) <= (f.max_selected or len(f.options))
            assert all(f.option(v) is not None for v in value)
    json.loads(answers.content().decode("utf-8"))


def check_refusal(q: qn.Questionnaire, refused: qn.InvalidAnswers) -> None:
    assert refused.errors
    assert set(refused.errors.values()) <= MESSAGES
    assert set(refused.errors) <= {"", *(f.name for f in q.fields)}
    for name, kept in refused.kept.items():
        f = q.field(name)
        assert f is not None and kept
        for value in kept:
            if f.type == "text":
                check_text(f, value)
            else:
                assert f.option(value) is not None


def check_form(q: qn.Questionnaire, language: str, body: str) -> None:
    form: dict[str, list[str]] = {}
    for name, value in urllib.parse.parse_qsl(
        body, keep_blank_values=True, errors="surrogateescape"
    ):
        form.setdefault(name, []).append(value)
    try:
        answers = qn.validate_answers(q, form, language=language, ignore=PAGE_FIELDS)
    except qn.InvalidAnswers as refused:
        check_refusal(q, refused)
    else:
        check_answers(q, answers)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    text = data[1:].decode("utf-8", "surrogateescape")
    if data[0] & 1:
        check_file(text)
    else:
        q = QUESTIONNAIRES[data[0] >> 1 & 1]
        check_form(q, qn.LANGUAGES[data[0] >> 2 & 3], text)


if __name__ == "__main__":
    main("questionnaire", test_one_input)
