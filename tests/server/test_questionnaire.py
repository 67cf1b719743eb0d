"""Questionnaires: the operator's file is refused at the exact place, and a
contact's answers are checked against it and never echoed in an error."""

from __future__ import annotations

import json
import math
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.server import errors as server_errors
from shoal.server._questionnaire import (
    ANSWER_REQUIRED,
    BAD_CHARACTERS,
    CHOOSE_AT_LEAST_ONE,
    CHOOSE_ONE,
    LANGUAGES,
    NOT_AN_OPTION,
    NOTHING_ANSWERED,
    REACH_LABEL,
    REACH_NOTICE,
    REACH_OPTIONS,
    TOO_LONG,
    TOO_MANY_CHOSEN,
    UNEXPECTED_FIELD,
    Answers,
    InvalidAnswers,
    Questionnaire,
    QuestionnaireConfigError,
    load_questionnaires,
    parse_questionnaire,
    validate_answers,
)

EXAMPLE = files("shoal.server").joinpath("questionnaire_example.toml").read_text("utf-8")
SOURCE = "questionnaires/north.toml"
PAGE_FIELDS = ("form_token", "once", "lang")
MSGIDS = {
    UNEXPECTED_FIELD,
    NOTHING_ANSWERED,
    BAD_CHARACTERS,
    TOO_LONG,
    ANSWER_REQUIRED,
    NOT_AN_OPTION,
    CHOOSE_ONE,
    TOO_MANY_CHOSEN,
    CHOOSE_AT_LEAST_ONE,
}


# A small TOML writer, so tests can state a file as Python values. Inline
# tables and arrays only: valid TOML 1.0 for any nesting.


def toml_string(text: str) -> str:
    body = json.dumps(text, ensure_ascii=False)[1:-1]
    return '"' + body.replace("\x7f", "\\u007f") + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value)  # "inf", "-inf", "1e+20" and "0.5" are all TOML
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(items) + " }"
    raise TypeError(type(value))


def toml(document: dict[str, Any]) -> str:
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in document.items())


def texts(english: str) -> dict[str, str]:
    return {"en": english, "uk": f"uk {english}", "ru": f"ru {english}", "crh": f"crh {english}"}


def options(*values: str) -> list[dict[str, Any]]:
    return [{"value": v, "label": texts(v.title())} for v in values]


def example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE)


def parse(document: dict[str, Any]) -> Questionnaire:
    return parse_questionnaire(toml(document), door="north", source=SOURCE)


def questionnaire(*fields: dict[str, Any]) -> Questionnaire:
    return parse({"version": 3, "title": texts("Test"), "fields": list(fields)})


def refused(document: dict[str, Any]) -> str:
    with pytest.raises(QuestionnaireConfigError) as caught:
        parse(document)
    return str(caught.value)


# The example -----------------------------------------------------------


def test_the_example_parses() -> None:
    q = parse_questionnaire(EXAMPLE, door="north", source=SOURCE)
    assert q.door == "north"
    assert q.version == 1
    assert q.title["en"] == "Offer your services"
    assert q.title["uk"] == "Запропонуйте свою допомогу"
    assert [(f.name, f.type, f.required) for f in q.fields] == [
        ("skills", "skills", True),
        ("region", "region", False),
        ("availability", "choice", False),
        ("anything_else", "text", False),
        ("reach", "reach", True),
    ]
    skills, region, availability, anything_else, reach = q.fields
    assert [o.value for o in skills.options] == [
        "first_aid",
        "translation",
        "transport",
        "shelter",
        "digital_security",
        "documenting",
        "psychological_support",
        "legal_help",
    ]
    assert region.options[-1].value == "prefer_not_to_say"
    assert [o.value for o in availability.options] == ["hours_weekly", "days_weekly", "emergencies"]
    assert anything_else.max_length == 2000
    assert anything_else.help is not None
    assert "identify" in anything_else.help["en"]
    assert reach.label == dict.fromkeys(LANGUAGES, REACH_LABEL)
    assert reach.help is None
    assert [(o.value, dict(o.label)) for o in reach.options] == [
        (value, dict.fromkeys(LANGUAGES, msgid)) for value, msgid in REACH_OPTIONS
    ]


def test_every_text_in_the_example_has_the_four_languages() -> None:
    q = parse_questionnaire(EXAMPLE, door="north", source=SOURCE)
    translated = [q.title, q.intro]
    for f in q.fields:
        translated += [f.label, f.help, *(o.label for o in f.options)]
    for text in translated:
        if text is not None:
            assert list(text) == ["uk", "en", "ru", "crh"]
            assert len(set(text.values())) > 1 or text == dict.fromkeys(LANGUAGES, text["en"])


def test_the_reach_texts_are_pinned() -> None:
    # msgids: changing one orphans its translations.
    assert REACH_LABEL == "How often will you check for our answer here?"
    assert REACH_NOTICE == (
        "We will answer only here, through replies at this address. Never write a phone "
        "number, e-mail address, street address or real name in this form."
    )
    assert REACH_OPTIONS == (
        ("daily", "Every day or two"),
        ("weekly", "About once a week"),
        ("rarely", "Rarely: I will check when I can"),
    )


def test_the_writer_round_trips_the_example() -> None:
    assert parse(example()) == parse_questionnaire(EXAMPLE, door="north", source=SOURCE)


# Loading a directory ---------------------------------------------------


def test_a_missing_directory_has_no_questionnaires(tmp_path: Path) -> None:
    assert load_questionnaires(tmp_path / "questionnaires") == {}


def test_every_door_file_is_loaded_and_other_files_are_left_alone(tmp_path: Path) -> None:
    directory = tmp_path / "questionnaires"
    directory.mkdir()
    (directory / "north.toml").write_text(EXAMPLE, "utf-8")
    (directory / "south-2.toml").write_text(EXAMPLE.replace("version = 1", "version = 7"), "utf-8")
    (directory / "north.toml~").write_text("not toml at all [", "utf-8")
    (directory / "README").write_text("notes", "utf-8")
    loaded = load_questionnaires(directory)
    assert sorted(loaded) == ["north", "south-2"]
    assert loaded["south-2"].door == "south-2"
    assert loaded["south-2"].version == 7


def test_a_file_not_named_for_a_door_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "questionnaires"
    directory.mkdir()
    (directory / "North.toml").write_text(EXAMPLE, "utf-8")
    with pytest.raises(QuestionnaireConfigError) as caught:
        load_questionnaires(directory)
    assert str(caught.value) == (
        "questionnaires/'North.toml': the file's name is not a door's"
        " (1 to 63 lowercase letters, digits or dashes)"
    )


def test_a_broken_file_is_named_in_the_error(tmp_path: Path) -> None:
    directory = tmp_path / "questionnaires"
    directory.mkdir()
    (directory / "north.toml").write_text(EXAMPLE, "utf-8")
    (directory / "south.toml").write_text(EXAMPLE.replace("version = 1", "version = 0"), "utf-8")
    with pytest.raises(QuestionnaireConfigError) as caught:
        load_questionnaires(directory)
    assert str(caught.value) == "questionnaires/south.toml: version: must be a positive integer"


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "questionnaires"
    directory.mkdir()
    (directory / "north.toml").write_bytes(b'version = 1\ntitle = "\xff"\n')
    with pytest.raises(QuestionnaireConfigError, match=r"^questionnaires/north\.toml: not UTF-8"):
        load_questionnaires(directory)


def test_a_questionnaires_file_instead_of_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "questionnaires").write_text("", "utf-8")
    with pytest.raises(QuestionnaireConfigError, match=r"^questionnaires: not a directory$"):
        load_questionnaires(tmp_path / "questionnaires")


def test_the_error_is_a_server_config_error() -> None:
    assert issubclass(QuestionnaireConfigError, server_errors.ConfigError)


# Refusing a wrong file -------------------------------------------------


def with_field(index: int, **changes: Any) -> dict[str, Any]:
    document = example()
    document["fields"][index].update(changes)
    return document


def without(document: dict[str, Any], *path: str | int) -> dict[str, Any]:
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return document


def test_a_missing_language_is_named_with_its_place() -> None:
    document = without(example(), "fields", 2, "options", 0, "label", "crh")
    assert refused(document) == f"{SOURCE}: fields[2].options[0].label: missing 'crh'"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"title": {**texts("T"), "de": "Titel"}}, "title: unknown language 'de'"),
        ({"title": "Offer your services"}, "title: must be a table of texts in uk, en, ru, crh"),
        ({"title": {**texts("T"), "ru": " "}}, "title.ru: must be a non-empty string"),
        ({"title": {**texts("T"), "uk": 5}}, "title.uk: must be a non-empty string"),
        ({"title": {**texts("T"), "en": "a\x1bb"}}, "title.en: has a control character"),
        ({"intro": {"en": "Hello"}}, "intro: missing 'uk'"),
        ({"colour": "blue"}, "unknown key 'colour'"),
        ({"version": 0}, "version: must be a positive integer"),
        ({"version": True}, "version: must be a positive integer"),
        ({"version": "1"}, "version: must be a positive integer"),
        ({"version": 1.0}, "version: must be a positive integer"),
        ({"fields": []}, "fields: must be a list of one or more fields ([[fields]])"),
        ({"fields": {"name": "x"}}, "fields: must be a list of one or more fields ([[fields]])"),
        ({"fields": [1]}, "fields[0]: must be a table"),
    ],
)
def test_top_level_mistakes(change: dict[str, Any], expected: str) -> None:
    assert refused({**example(), **change}) == f"{SOURCE}: {expected}"


@pytest.mark.parametrize("key", ["version", "title", "fields"])
def test_a_missing_top_level_key(key: str) -> None:
    assert refused(without(example(), key)) == f"{SOURCE}: missing {key!r}"


def test_no_intro_is_fine() -> None:
    assert parse(without(example(), "intro")).intro is None


@pytest.mark.parametrize("name", ["Skills", "1skills", "a" * 33, "", "sk-ills", "skills ", 7])
def test_a_bad_field_name(name: object) -> None:
    assert refused(with_field(0, name=name)) == (
        f"{SOURCE}: fields[0].name: "
        "must be a lowercase letter, then up to 31 lowercase letters, digits or '_'"
    )


def test_the_longest_field_name_is_fine() -> None:
    assert parse(with_field(0, name="a" + "b" * 31)).fields[0].name == "a" + "b" * 31


@pytest.mark.parametrize("name", ["form_token", "once", "lang"])
def test_the_page_s_own_names_are_refused(name: str) -> None:
    assert refused(with_field(3, name=name)) == (
        f"{SOURCE}: fields[3].name: {name!r} is used by the page itself"
    )


@pytest.mark.parametrize(
    ("index", "change", "expected"),
    [
        (0, {"type": "date"}, "type: must be one of text, choice, choices, region, skills, reach"),
        (0, {"required": "yes"}, "required: must be true or false"),
        (0, {"placeholder": texts("x")}, ": unknown key 'placeholder'"),
        (0, {"max_length": 10}, "max_length: a skills field takes no 'max_length'"),
        (2, {"max_selected": 1}, "max_selected: a choice field takes no 'max_selected'"),
        (3, {"options": options("a")}, "options: a text field takes no 'options'"),
        (4, {"options": options("daily")}, "options: a reach field takes no 'options'"),
        (4, {"label": texts("How?")}, "label: a reach field takes no 'label'"),
        (4, {"help": texts("How?")}, "help: a reach field takes no 'help'"),
        (4, {"max_length": 5}, "max_length: a reach field takes no 'max_length'"),
        (3, {"max_length": 0}, "max_length: must be an integer, 1 to 10000"),
        (3, {"max_length": 10001}, "max_length: must be an integer, 1 to 10000"),
        (3, {"max_length": "2000"}, "max_length: must be an integer, 1 to 10000"),
        (3, {"max_length": True}, "max_length: must be an integer, 1 to 10000"),
        (0, {"max_selected": 0}, "max_selected: must be an integer, 1 to the number of options"),
        (0, {"max_selected": 9}, "max_selected: must be an integer, 1 to the number of options"),
        (0, {"options": []}, "options: must be a list of one or more options"),
        (0, {"options": "first_aid"}, "options: must be a list of one or more options"),
        (0, {"options": ["first_aid"]}, "options[0]: must be a table with 'value' and 'label'"),
        (
            0,
            {"options": [{"value": "First Aid", "label": texts("First aid")}]},
            "options[0].value: must be 1 to 32 lowercase letters, digits or '_'",
        ),
        (
            0,
            {"options": [{"value": "a", "label": texts("A"), "help": texts("B")}]},
            "options[0]: unknown key 'help'",
        ),
        (0, {"options": [{"value": "a"}]}, "options[0]: missing 'label'"),
        (
            0,
            {"options": options("first_aid", "translation", "first_aid")},
            "options[2].value: 'first_aid' is used twice",
        ),
        (0, {"options": options(*(f"o{i}" for i in range(101)))}, "options: at most 100 options"),
    ],
)
def test_field_mistakes(index: int, change: dict[str, Any], expected: str) -> None:
    where = f"fields[{index}]" + ("" if expected.startswith(":") else ".")
    assert refused(with_field(index, **change)) == f"{SOURCE}: {where}{expected}"


@pytest.mark.parametrize(
    ("index", "key"),
    [(0, "name"), (0, "type"), (0, "label"), (0, "options"), (2, "options"), (3, "label")],
)
def test_a_missing_field_key(index: int, key: str) -> None:
    assert refused(without(example(), "fields", index, key)) == (
        f"{SOURCE}: fields[{index}]: missing {key!r}"
    )


def test_the_limits_themselves_are_accepted() -> None:
    document = with_field(3, max_length=10000)
    document["fields"][0]["max_selected"] = 8
    q = parse(document)
    assert q.fields[3].max_length == 10000
    assert q.fields[0].max_selected == 8
    assert parse(with_field(3, max_length=1)).fields[3].max_length == 1
    assert (
        len(parse(with_field(0, options=options(*(f"o{i}" for i in range(100))))).fields[0].options)
        == 100
    )


def test_a_duplicate_field_name() -> None:
    assert refused(with_field(2, name="skills")) == (
        f"{SOURCE}: fields[2].name: 'skills' is used twice"
    )


def test_two_reach_fields() -> None:
    document = example()
    document["fields"].append({"name": "reach_again", "type": "reach"})
    assert refused(document) == f"{SOURCE}: fields[5].type: only one reach field is allowed"


def test_at_most_fifty_fields() -> None:
    fields = [{"name": f"q{i}", "type": "text", "label": texts(f"Q{i}")} for i in range(51)]
    assert refused({"version": 1, "title": texts("T"), "fields": fields}) == (
        f"{SOURCE}: fields: at most 50 fields"
    )
    assert len(parse({"version": 1, "title": texts("T"), "fields": fields[:50]}).fields) == 50


def test_a_long_key_is_not_echoed_whole() -> None:
    key = "k" * 40 + "SECRET"
    message = refused({**example(), key: 1})
    assert message == f"{SOURCE}: unknown key {'k' * 32!r}..."


def test_text_that_is_not_toml_gives_only_the_position() -> None:
    with pytest.raises(QuestionnaireConfigError) as caught:
        parse_questionnaire(
            "version = 1\nsecret_key = 1\nsecret_key = 2\n", door="north", source=SOURCE
        )
    assert str(caught.value) == f"{SOURCE}: not valid TOML (at line 3, column 15)"
    assert "secret" not in str(caught.value)
    with pytest.raises(QuestionnaireConfigError) as caught:
        parse_questionnaire("version = 1\ntitle = [", door="north", source=SOURCE)
    assert str(caught.value) == f"{SOURCE}: not valid TOML (at end of document)"
    with pytest.raises(QuestionnaireConfigError) as caught:
        parse_questionnaire("version = 1\nx = @\n", door="north", source=SOURCE)
    assert str(caught.value) == f"{SOURCE}: not valid TOML (at line 2, column 5)"


def test_deep_nesting_is_refused_not_crashed() -> None:
    with pytest.raises(QuestionnaireConfigError, match="not valid TOML"):
        parse_questionnaire("x = " + "[" * 100_000, door="north", source=SOURCE)


def test_the_door_is_checked() -> None:
    with pytest.raises(QuestionnaireConfigError, match=r"^here: not a door name$"):
        parse_questionnaire(EXAMPLE, door="North", source="here")


# Answers ---------------------------------------------------------------

SMALL = questionnaire(
    {"name": "note", "type": "text", "label": texts("Note"), "max_length": 10},
    {
        "name": "colour",
        "type": "choice",
        "label": texts("Colour"),
        "options": options("red", "green"),
    },
    {
        "name": "place",
        "type": "region",
        "label": texts("Place"),
        "options": options("east", "west"),
    },
    {
        "name": "tools",
        "type": "choices",
        "label": texts("Tools"),
        "options": options("saw", "axe", "rope"),
        "max_selected": 2,
    },
    {
        "name": "skills",
        "type": "skills",
        "label": texts("Skills"),
        "options": options("cook", "sew"),
    },
    {"name": "reach", "type": "reach"},
)


def answers_of(form: dict[str, list[str]], q: Questionnaire = SMALL) -> Answers:
    return validate_answers(q, form, language="uk", ignore=PAGE_FIELDS)


def refusal(form: dict[str, list[str]], q: Questionnaire = SMALL) -> InvalidAnswers:
    with pytest.raises(InvalidAnswers) as caught:
        answers_of(form, q)
    return caught.value


@pytest.mark.parametrize(
    ("msgid", "english"),
    [
        (UNEXPECTED_FIELD, "This form has a field it should not have. Nothing was sent."),
        (NOTHING_ANSWERED, "Answer at least one question before sending."),
        (BAD_CHARACTERS, "This answer contains characters that cannot be sent."),
        (TOO_LONG, "This answer is too long."),
        (ANSWER_REQUIRED, "Please answer this question."),
        (NOT_AN_OPTION, "Choose one of the options shown."),
        (CHOOSE_ONE, "Please choose one."),
        (TOO_MANY_CHOSEN, "Too many options are chosen."),
        (CHOOSE_AT_LEAST_ONE, "Please choose at least one."),
    ],
)
def test_the_msgids_are_pinned(msgid: str, english: str) -> None:
    # Changing a msgid orphans its translations.
    assert msgid == english


def test_every_kind_of_answer_is_accepted() -> None:
    answered = answers_of(
        {
            "note": ["  hi\r\nyou\rok  "],
            "colour": ["green"],
            "place": ["west"],
            "tools": ["rope", "saw"],
            "skills": ["sew"],
            "reach": ["weekly"],
            "form_token": ["t"],
            "once": ["o"],
            "lang": ["uk"],
        }
    )
    assert dict(answered.values) == {
        "note": "hi\nyou\nok",
        "colour": "green",
        "place": "west",
        "tools": ("saw", "rope"),  # the file's order, not the browser's
        "skills": ("sew",),
        "reach": "weekly",
    }
    assert answered.language == "uk"
    assert answered.questionnaire is SMALL


def test_unanswered_optional_fields_are_none() -> None:
    answered = answers_of({"note": ["hi"], "colour": [""], "tools": [], "place": [""]})
    assert dict(answered.values) == dict.fromkeys(
        ["note", "colour", "place", "tools", "skills", "reach"]
    ) | {"note": "hi"}


def test_tab_and_newline_are_kept_in_text() -> None:
    assert answers_of({"note": ["a\tb\nc"]}).values["note"] == "a\tb\nc"


@pytest.mark.parametrize("bad", ["\x00", "\x1b", "\x7f", "\x85", "\x0c", "\ud800"])
def test_control_characters_are_refused(bad: str) -> None:
    caught = refusal({"note": [f"ab{bad}cd"], "colour": ["red"]})
    assert dict(caught.errors) == {"note": BAD_CHARACTERS}
    assert caught.kept["note"] == ("abcd",)
    assert caught.kept["colour"] == ("red",)


def test_text_length_counts_after_stripping() -> None:
    assert answers_of({"note": ["  0123456789  "]}).values["note"] == "0123456789"
    assert answers_of({"note": ["01234\r\n6789"]}).values["note"] == "01234\n6789"
    caught = refusal({"note": ["0123456789a"]})
    assert dict(caught.errors) == {"note": TOO_LONG}
    assert caught.kept == {"note": ("0123456789",)}


def test_a_required_text_must_be_answered() -> None:
    q = questionnaire(
        {"name": "note", "type": "text", "label": texts("Note"), "required": True},
        {"name": "other", "type": "text", "label": texts("Other")},
    )
    assert dict(refusal({"note": ["  \n "], "other": ["x"]}, q).errors) == {"note": ANSWER_REQUIRED}
    assert dict(refusal({"other": ["x"]}, q).errors) == {"note": ANSWER_REQUIRED}
    assert answers_of({"note": ["x"]}, q).values == {"note": "x", "other": None}


@pytest.mark.parametrize("name", ["colour", "place", "reach"])
def test_a_single_choice_must_be_an_option(name: str) -> None:
    caught = refusal({name: ["purple"], "note": ["hi"]})
    assert dict(caught.errors) == {name: NOT_AN_OPTION}
    assert caught.kept == {"note": ("hi",)}
    # Option values match exactly: not by case, not with spaces.
    assert dict(refusal({name: ["Red "]}).errors) == {name: NOT_AN_OPTION}


@pytest.mark.parametrize(
    ("name", "value"), [("colour", "red"), ("place", "east"), ("reach", "daily")]
)
def test_a_required_single_choice_must_be_chosen(name: str, value: str) -> None:
    fields: list[dict[str, Any]] = [
        {"name": "note", "type": "text", "label": texts("Note")},
        {"name": "colour", "type": "choice", "label": texts("C"), "options": options("red")},
        {"name": "place", "type": "region", "label": texts("P"), "options": options("east")},
        {"name": "reach", "type": "reach"},
    ]
    q = questionnaire(*({**f, "required": f["name"] == name} for f in fields))
    assert dict(refusal({"note": ["hi"]}, q).errors) == {name: CHOOSE_ONE}
    assert dict(refusal({"note": ["hi"], name: [""]}, q).errors) == {name: CHOOSE_ONE}
    assert answers_of({name: [value]}, q).values[name] == value


@pytest.mark.parametrize("name", ["tools", "skills"])
def test_several_choices_must_be_known_and_distinct(name: str) -> None:
    known = {"tools": "axe", "skills": "cook"}[name]
    assert dict(refusal({name: [known, "laser"]}).errors) == {name: NOT_AN_OPTION}
    caught = refusal({name: [known, known]})
    assert dict(caught.errors) == {name: NOT_AN_OPTION}
    assert caught.kept == {name: (known,)}


def test_at_most_max_selected_choices() -> None:
    assert answers_of({"tools": ["axe", "saw"]}).values["tools"] == ("saw", "axe")
    caught = refusal({"tools": ["axe", "saw", "rope"]})
    assert dict(caught.errors) == {"tools": TOO_MANY_CHOSEN}
    assert caught.kept == {"tools": ("axe", "saw", "rope")}
    # Without max_selected, every option may be chosen.
    assert answers_of({"skills": ["sew", "cook"]}).values["skills"] == ("cook", "sew")


def test_required_choices_need_at_least_one() -> None:
    q = questionnaire(
        {"name": "note", "type": "text", "label": texts("Note")},
        {
            "name": "skills",
            "type": "skills",
            "label": texts("S"),
            "options": options("a", "b"),
            "required": True,
        },
    )
    assert dict(refusal({"note": ["hi"], "skills": []}, q).errors) == {
        "skills": CHOOSE_AT_LEAST_ONE
    }
    assert dict(refusal({"note": ["hi"], "skills": [""]}, q).errors) == {
        "skills": CHOOSE_AT_LEAST_ONE
    }
    assert dict(refusal({"note": ["hi"]}, q).errors) == {"skills": CHOOSE_AT_LEAST_ONE}
    assert answers_of({"skills": ["b"]}, q).values["skills"] == ("b",)


def test_the_example_s_required_fields() -> None:
    q = parse_questionnaire(EXAMPLE, door="north", source=SOURCE)
    caught = refusal({"anything_else": ["I can drive at night."]}, q)
    assert list(caught.errors.items()) == [("skills", CHOOSE_AT_LEAST_ONE), ("reach", CHOOSE_ONE)]


def test_errors_come_in_field_order() -> None:
    caught = refusal({"reach": ["never"], "tools": ["x"], "note": ["\x00"], "colour": ["blue"]})
    assert list(caught.errors.items()) == [
        ("note", BAD_CHARACTERS),
        ("colour", NOT_AN_OPTION),
        ("tools", NOT_AN_OPTION),
        ("reach", NOT_AN_OPTION),
    ]


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"note": [""]},
        {"note": [" \r\n\t"]},
        {"colour": [""], "tools": []},
        {"lang": ["uk"], "once": ["x"]},
    ],
)
def test_nothing_answered_is_refused_as_a_whole(form: dict[str, list[str]]) -> None:
    caught = refusal(form)
    assert dict(caught.errors) == {"": NOTHING_ANSWERED}
    assert caught.kept == {}


def test_nothing_answered_comes_before_required_fields() -> None:
    q = parse_questionnaire(EXAMPLE, door="north", source=SOURCE)
    assert dict(refusal({"form_token": ["t"]}, q).errors) == {"": NOTHING_ANSWERED}


def test_an_unexpected_field_refuses_the_whole_form_and_keeps_the_rest() -> None:
    caught = refusal({"note": ["hi"], "colour": ["red"], "phone": ["+380..."]})
    assert dict(caught.errors) == {"": UNEXPECTED_FIELD}
    assert caught.kept == {"note": ("hi",), "colour": ("red",)}
    assert "phone" not in str(caught)


@pytest.mark.parametrize("name", ["note", "colour", "place", "reach"])
def test_a_second_value_for_a_single_field_refuses_the_whole_form(name: str) -> None:
    value = {"note": "hi", "colour": "red", "place": "east", "reach": "daily"}[name]
    caught = refusal({name: [value, value], "skills": ["cook"]})
    assert dict(caught.errors) == {"": UNEXPECTED_FIELD}
    assert caught.kept == {"skills": ("cook",)}


def test_without_ignore_the_page_s_fields_are_unexpected() -> None:
    with pytest.raises(InvalidAnswers) as caught:
        validate_answers(SMALL, {"note": ["hi"], "lang": ["uk"]}, language="en")
    assert dict(caught.value.errors) == {"": UNEXPECTED_FIELD}


def test_kept_values_are_only_safe_ones() -> None:
    caught = refusal(
        {
            "note": ["\x00" + "x" * 20],
            "colour": ["purple"],
            "tools": ["rope", "laser", "rope", "axe", "saw"],
            "reach": ["daily"],
        }
    )
    assert caught.kept == {
        "note": ("x" * 10,),
        "tools": ("rope", "axe", "saw"),
        "reach": ("daily",),
    }


def test_caller_mistakes_are_not_answer_errors() -> None:
    with pytest.raises(ValueError, match="language"):
        validate_answers(SMALL, {"note": ["hi"]}, language="de")
    with pytest.raises(ValueError, match="note"):
        validate_answers(SMALL, {"note": ["hi"]}, language="en", ignore={"note"})
    with pytest.raises(TypeError):
        validate_answers(SMALL, {"note": "hi"}, language="en")  # a str is a Sequence[str]


# The item's plaintext --------------------------------------------------


def test_the_content_is_canonical_json_with_english_labels() -> None:
    q = parse_questionnaire(EXAMPLE, door="north", source=SOURCE)
    answered = validate_answers(
        q,
        {
            "skills": ["translation", "first_aid"],
            "region": ["crimea"],
            "anything_else": ["Geceleri maşina ayda bilem.\r\nSağ oluñ"],
            "reach": ["rarely"],
            "form_token": ["x"],
        },
        language="crh",
        ignore=PAGE_FIELDS,
    )
    assert (
        answered.content()
        == (
            '{"answers":['
            '{"label":"What can you help with?","name":"skills",'
            '"shown":["First aid and medicine","Translation"],"type":"skills",'
            '"value":["first_aid","translation"]},'
            '{"label":"Where can you help?","name":"region","shown":"Crimea","type":"region",'
            '"value":"crimea"},'
            '{"label":"How much time can you give?","name":"availability","shown":null,'
            '"type":"choice","value":null},'
            '{"label":"Anything else you want us to know","name":"anything_else","shown":null,'
            '"type":"text","value":"Geceleri maşina ayda bilem.\\nSağ oluñ"},'
            '{"label":"How often will you check for our answer here?","name":"reach",'
            '"shown":"Rarely: I will check when I can","type":"reach","value":"rarely"}],'
            '"language":"crh",'
            '"questionnaire":{"door":"north","title":"Offer your services","version":1}}'
        ).encode()
    )


def test_a_choice_answer_in_the_content() -> None:
    content = json.loads(answers_of({"colour": ["red"], "tools": ["rope"]}).content())
    assert content["questionnaire"] == {"door": "north", "title": "Test", "version": 3}
    assert content["answers"][1] == {
        "name": "colour",
        "type": "choice",
        "label": "Colour",
        "value": "red",
        "shown": "Red",
    }
    assert content["answers"][3]["value"] == ["rope"]
    assert content["answers"][3]["shown"] == ["Rope"]
    assert content["answers"][5] == {
        "name": "reach",
        "type": "reach",
        "label": REACH_LABEL,
        "value": None,
        "shown": None,
    }


# Properties ------------------------------------------------------------

EXAMPLE_Q = parse_questionnaire(EXAMPLE, door="north", source=SOURCE)
NAMES = [f.name for f in EXAMPLE_Q.fields] + [f.name for f in SMALL.fields]
VALUES = [o.value for q in (EXAMPLE_Q, SMALL) for f in q.fields for o in f.options]

submitted_value = st.one_of(
    st.sampled_from(VALUES),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=3000),
    st.sampled_from(["", " ", "\r\n", "\x00", "\ud800", "x" * 2001]),
)
forms = st.dictionaries(
    st.one_of(st.sampled_from([*NAMES, *PAGE_FIELDS]), st.text(max_size=10)),
    st.lists(submitted_value, max_size=4),
    max_size=8,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(q=st.sampled_from([EXAMPLE_Q, SMALL]), form=forms, language=st.sampled_from(LANGUAGES))
def test_any_form_is_answered_or_refused_without_echo(
    q: Questionnaire, form: dict[str, list[str]], language: str
) -> None:
    try:
        answered = validate_answers(q, form, language=language, ignore=PAGE_FIELDS)
    except InvalidAnswers as exc:
        assert exc.errors
        assert set(exc.errors.values()) <= MSGIDS
        assert set(exc.errors) <= {"", *(f.name for f in q.fields)}
        for name, kept in exc.kept.items():
            f = q.field(name)
            assert f is not None
            assert kept
            for value in kept:
                assert value in form[name] or f.type == "text"
                if f.type == "text":
                    assert len(value) <= (f.max_length or 0)
                    assert value.encode("utf-8")  # no lone surrogate
                else:
                    assert f.option(value) is not None
        for values in form.values():
            for value in values:
                if len(value) >= 4 and value not in NAMES:
                    assert value not in str(exc)
        return
    content = json.loads(answered.content())
    assert content["language"] == language
    assert [a["name"] for a in content["answers"]] == [f.name for f in q.fields]
    assert set(form) <= {*(f.name for f in q.fields), *PAGE_FIELDS}
    assert any(v is not None for v in answered.values.values())


def perturbed(data: st.DataObject, value: Any) -> Any:
    """The value, with parts dropped, replaced or added at random."""
    roll = data.draw(st.integers(0, 15))
    if roll == 1:
        return data.draw(toml_values)
    if isinstance(value, dict):
        out = {k: perturbed(data, v) for k, v in value.items() if data.draw(st.integers(0, 15))}
        if roll == 2:
            out[data.draw(st.text(max_size=50))] = data.draw(toml_values)
        return out
    if isinstance(value, list):
        out_list = [perturbed(data, v) for v in value if data.draw(st.integers(0, 15))]
        if roll == 2 and out_list:
            out_list.append(out_list[0])
        return out_list
    return value


toml_scalars = st.one_of(
    st.text(max_size=200),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-5, 20_000),
    st.booleans(),
    st.floats(),
    st.sampled_from(LANGUAGES),
    st.sampled_from(["text", "choice", "choices", "region", "skills", "reach", "reach"]),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_any_near_miss_file_parses_or_is_refused(data: st.DataObject) -> None:
    document = perturbed(data, example())
    text = toml(document) if isinstance(document, dict) else f"x = {toml_value(document)}\n"
    try:
        parse_questionnaire(text, door="north", source=SOURCE)
    except QuestionnaireConfigError as exc:
        assert str(exc).startswith(f"{SOURCE}: ")
        assert len(str(exc)) < 200  # never a long value


@given(
    text=st.one_of(
        st.text(),
        st.text(alphabet="[]{}=\".,\n 0123456789abcdefxyz_-#'", max_size=200),
        st.builds(
            lambda start, end, insert: EXAMPLE[:start] + insert + EXAMPLE[end:],
            st.integers(0, len(EXAMPLE)),
            st.integers(0, len(EXAMPLE)),
            st.text(max_size=20),
        ),
    )
)
def test_any_text_parses_or_is_refused(text: str) -> None:
    try:
        parse_questionnaire(text, door="north", source=SOURCE)
    except QuestionnaireConfigError as exc:
        assert len(str(exc)) < 200
