"""A door's questionnaire: ``DIR/questionnaires/<door>.toml``, and its answers.

::

    version = 1                                   # recorded with each answer
    title = { en = "...", uk = "...", ru = "...", crh = "..." }
    intro = { en = "...", uk = "...", ru = "...", crh = "..." }   (optional)

    [[fields]]                                    # 1 to 50 of them
    name = "skills"                               # [a-z][a-z0-9_]{0,31}, unique
    type = "skills"               # text | choice | choices | region | skills | reach
    required = true                               # (optional, default false)
    label = { en = ..., uk = ..., ru = ..., crh = ... }
    help = { ... }                                # (optional)
    max_length = 2000                             # text only, 1..10000
    max_selected = 3                              # choices and skills only
    options = [ { value = "first_aid", label = { ... } }, ... ]

A ``reach`` field ("how to be reached back: only through Shoal") takes no
label, help or options: they are built in (``REACH_LABEL``, ``REACH_NOTICE``,
``REACH_OPTIONS``) so that no operator can ask a contact for a phone number.

The parser is pure (text in, values out); ``load_questionnaires`` is its
thin shell. The operator's file is trusted to be theirs but not to be
right: every mistake is refused with the file and the exact place, and no
error echoes a value, which may be long or may be something pasted by
mistake.

The answers come from a contact, so they are untrusted: ``validate_answers``
checks every value against the questionnaire and either returns
:class:`Answers`, whose ``content()`` is the plaintext of the sealed item,
or raises :class:`InvalidAnswers`, whose errors are English msgids (never
built from what was sent) and whose ``kept`` values are what the page may
show again. Plaintext lives in memory only, like every submission's.
"""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from .. import org
from . import _i18n
from ._i18n import N_
from .errors import ConfigError

#: Every text a compartment writes comes in each of the contact's languages.
LANGUAGES: Final = tuple(_i18n.LANGUAGES)
FIELD_TYPES: Final = ("text", "choice", "choices", "region", "skills", "reach")
FieldType = Literal["text", "choice", "choices", "region", "skills", "reach"]

#: One value is chosen from the options (radio buttons; a select for regions).
SINGLE_CHOICE: Final = frozenset({"choice", "region", "reach"})
#: Zero or more options are chosen (checkboxes).
MULTIPLE_CHOICE: Final = frozenset({"choices", "skills"})

#: The names the contact page's own form uses. A field may not take one:
#: its answer would be mistaken for the page's value or the other way round.
#: Keep this in step with the form (``validate_answers(ignore=...)``).
RESERVED_NAMES: Final = frozenset({"form_token", "once", "lang"})

MAX_FIELDS: Final = 50
MAX_OPTIONS: Final = 100
DEFAULT_MAX_LENGTH: Final = 2000
MAX_MAX_LENGTH: Final = 10000

# The built-in reach field. Shoal answers only through replies at the
# contact's address; a contact who writes a phone number here has put it in
# the hands of everyone who later seizes a handler's desk.
REACH_LABEL: Final = N_("How often will you check for our answer here?")
REACH_NOTICE: Final = N_(
    "We will answer only here, through replies at this address. Never write a phone "
    "number, e-mail address, street address or real name in this form."
)
REACH_OPTIONS: Final = (
    ("daily", N_("Every day or two")),
    ("weekly", N_("About once a week")),
    ("rarely", N_("Rarely: I will check when I can")),
)

# What validate_answers says. The key "" in InvalidAnswers.errors means the
# whole form.
UNEXPECTED_FIELD: Final = N_("This form has a field it should not have. Nothing was sent.")
NOTHING_ANSWERED: Final = N_("Answer at least one question before sending.")
BAD_CHARACTERS: Final = N_("This answer contains characters that cannot be sent.")
TOO_LONG: Final = N_("This answer is too long.")
ANSWER_REQUIRED: Final = N_("Please answer this question.")
NOT_AN_OPTION: Final = N_("Choose one of the options shown.")
CHOOSE_ONE: Final = N_("Please choose one.")
TOO_MANY_CHOSEN: Final = N_("Too many options are chosen.")
CHOOSE_AT_LEAST_ONE: Final = N_("Please choose at least one.")

_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_OPTION_VALUE = re.compile(r"[a-z0-9_]{1,32}")
# tomllib's messages may quote a key from the file; keep only the position.
_TOML_POSITION = re.compile(r"\((?:at line \d+, column \d+|at end of document)\)")


class QuestionnaireConfigError(ConfigError):
    """A questionnaire file is unreadable or wrong; the message names the place."""


class InvalidAnswers(Exception):
    """The contact's answers were refused; nothing may be sent.

    ``errors`` maps a field's name (or ``""``, the whole form) to an English
    msgid. ``kept`` maps a field's name to the submitted values safe to show
    again in the re-rendered form: only known fields, only known option
    values, text without the refused characters and cut to its maximum.
    """

    def __init__(self, errors: Mapping[str, str], kept: Mapping[str, tuple[str, ...]]) -> None:
        # The message lists field names only: they come from the file.
        super().__init__(f"answers refused: {', '.join(sorted(errors)) or '(form)'}")
        self.errors: Mapping[str, str] = MappingProxyType(dict(errors))
        self.kept: Mapping[str, tuple[str, ...]] = MappingProxyType(dict(kept))


@dataclass(frozen=True)
class Option:
    value: str
    #: By language; for a reach field, the English msgid in every language.
    label: Mapping[str, str]


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    required: bool
    #: By language; for a reach field, REACH_LABEL in every language.
    label: Mapping[str, str]
    help: Mapping[str, str] | None
    #: Text fields only.
    max_length: int | None
    #: Choices and skills fields only; None means no limit.
    max_selected: int | None
    options: tuple[Option, ...]

    def option(self, value: str) -> Option | None:
        return next((o for o in self.options if o.value == value), None)


@dataclass(frozen=True)
class Questionnaire:
    door: str
    version: int
    title: Mapping[str, str]
    intro: Mapping[str, str] | None
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


Value = str | tuple[str, ...] | None


@dataclass(frozen=True)
class Answers:
    """Answers that passed every check, in the contact's language."""

    questionnaire: Questionnaire
    language: str
    #: Every field's value, by name: text, an option's value, a tuple of
    #: option values (choices and skills), or None when not answered.
    values: Mapping[str, Value]

    def content(self) -> bytes:
        """The sealed item's plaintext: canonical UTF-8 JSON for the handler's desk.

        Labels are English (the desk's language); ``language`` tells the
        handler which language to answer in.
        """
        answers = []
        for f in self.questionnaire.fields:
            value = self.values.get(f.name)
            shown: str | list[str] | None = None
            if isinstance(value, tuple):
                shown = [_english(f, v) for v in value]
            elif value is not None and f.type != "text":
                shown = _english(f, value)
            answers.append(
                {
                    "name": f.name,
                    "type": f.type,
                    "label": f.label["en"],
                    "value": list(value) if isinstance(value, tuple) else value,
                    "shown": shown,
                }
            )
        document = {
            "questionnaire": {
                "door": self.questionnaire.door,
                "version": self.questionnaire.version,
                "title": self.questionnaire.title["en"],
            },
            "language": self.language,
            "answers": answers,
        }
        text = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8")


def _english(f: Field, value: str) -> str:
    option = f.option(value)
    if option is None:  # validate_answers never lets one through
        raise ValueError(f"{f.name}: not an option")
    return option.label["en"]


# Parsing ----------------------------------------------------------------


def load_questionnaires(directory: Path) -> dict[str, Questionnaire]:
    """Every ``<door>.toml`` in ``directory`` by door; none if it does not exist.

    Other files (an editor's ``north.toml~``, a README) are left alone; a
    ``.toml`` file whose name is not a door is refused, as it is surely a
    mistake the operator wants to hear about.
    """
    if not directory.exists():
        return {}
    if not directory.is_dir():
        raise QuestionnaireConfigError(f"{directory.name}: not a directory")
    found: dict[str, Questionnaire] = {}
    for path in sorted(p for p in directory.iterdir() if p.suffix == ".toml"):
        try:
            door = org.check_door(path.stem)
        except ValueError:
            raise QuestionnaireConfigError(
                f"{directory.name}/{_quote(path.name, 70)}: the file's name is not a door's"
                " (1 to 63 lowercase letters, digits or dashes)"
            ) from None
        source = f"{directory.name}/{path.name}"
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise QuestionnaireConfigError(
                f"{source}: cannot be read ({type(exc).__name__})"
            ) from None
        except UnicodeDecodeError:
            raise QuestionnaireConfigError(f"{source}: not UTF-8 text") from None
        found[door] = parse_questionnaire(text, door=door, source=source)
    return found


def parse_questionnaire(text: str, *, door: str, source: str) -> Questionnaire:
    """Parse one questionnaire file; ``source`` names it in errors."""
    try:
        org.check_door(door)
    except ValueError:
        raise QuestionnaireConfigError(f"{source}: not a door name") from None
    try:
        raw = tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        # Deep nesting recurses in tomllib; an overlong integer is a ValueError.
        position = _TOML_POSITION.search(str(exc)) if isinstance(exc, ValueError) else None
        where = f" {position.group(0)}" if position else ""
        raise QuestionnaireConfigError(f"{source}: not valid TOML{where}") from None
    return _Parser(source).questionnaire(raw, door)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> QuestionnaireConfigError:
        place = f"{where}: " if where else ""
        return QuestionnaireConfigError(f"{self.source}: {place}{problem}")

    def questionnaire(self, raw: dict[str, Any], door: str) -> Questionnaire:
        self.keys(raw, "", required={"version", "title", "fields"}, optional={"intro"})
        version = raw["version"]
        if not _is_int(version) or version < 1:
            raise self.fail("version", "must be a positive integer")
        fields_raw = raw["fields"]
        if not isinstance(fields_raw, list) or not fields_raw:
            raise self.fail("fields", "must be a list of one or more fields ([[fields]])")
        if len(fields_raw) > MAX_FIELDS:
            raise self.fail("fields", f"at most {MAX_FIELDS} fields")
        fields: list[Field] = []
        for i, item in enumerate(fields_raw):
            parsed = self.field(item, f"fields[{i}]")
            if any(f.name == parsed.name for f in fields):
                raise self.fail(f"fields[{i}].name", f"{parsed.name!r} is used twice")
            if parsed.type == "reach" and any(f.type == "reach" for f in fields):
                raise self.fail(f"fields[{i}].type", "only one reach field is allowed")
            fields.append(parsed)
        return Questionnaire(
            door=door,
            version=version,
            title=self.texts(raw["title"], "title"),
            intro=self.texts(raw["intro"], "intro") if "intro" in raw else None,
            fields=tuple(fields),
        )

    def field(self, raw: object, where: str) -> Field:
        if not isinstance(raw, dict):
            raise self.fail(where, "must be a table")
        name, kind = self.identity(raw, where)
        required_keys, optional_keys = _KEYS[kind]
        for key in raw:
            if key not in required_keys | optional_keys and key in _ALL_FIELD_KEYS:
                raise self.fail(f"{where}.{key}", f"a {kind} field takes no {key!r}")
        self.keys(raw, where, required=required_keys, optional=optional_keys)
        required = raw.get("required", False)
        if not isinstance(required, bool):
            raise self.fail(f"{where}.required", "must be true or false")
        if kind == "reach":
            return Field(
                name=name,
                type=kind,
                required=required,
                label=_every_language(REACH_LABEL),
                help=None,
                max_length=None,
                max_selected=None,
                options=tuple(Option(v, _every_language(m)) for v, m in REACH_OPTIONS),
            )
        label = self.texts(raw["label"], f"{where}.label")
        help_texts = self.texts(raw["help"], f"{where}.help") if "help" in raw else None
        options = self.options(raw["options"], f"{where}.options") if "options" in raw else ()
        max_length = None
        if kind == "text":
            max_length = raw.get("max_length", DEFAULT_MAX_LENGTH)
            self.bounded(max_length, f"{where}.max_length", MAX_MAX_LENGTH, str(MAX_MAX_LENGTH))
        max_selected = raw.get("max_selected")
        if max_selected is not None:
            self.bounded(
                max_selected, f"{where}.max_selected", len(options), "the number of options"
            )
        return Field(
            name=name,
            type=kind,
            required=required,
            label=label,
            help=help_texts,
            max_length=max_length,
            max_selected=max_selected,
            options=options,
        )

    def identity(self, raw: dict[str, Any], where: str) -> tuple[str, FieldType]:
        """A field's name and type, checked first: the rest depends on the type."""
        for key in ("name", "type"):
            if key not in raw:
                raise self.fail(where, f"missing {key!r}")
        name, kind = raw["name"], raw["type"]
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise self.fail(
                f"{where}.name",
                "must be a lowercase letter, then up to 31 lowercase letters, digits or '_'",
            )
        if name in RESERVED_NAMES:
            raise self.fail(f"{where}.name", f"{name!r} is used by the page itself")
        if kind not in FIELD_TYPES:
            raise self.fail(f"{where}.type", f"must be one of {', '.join(FIELD_TYPES)}")
        return name, kind

    def bounded(self, value: object, where: str, most: int, most_said: str) -> None:
        if not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= most):
            raise self.fail(where, f"must be an integer, 1 to {most_said}")

    def options(self, raw: object, where: str) -> tuple[Option, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail(where, "must be a list of one or more options")
        if len(raw) > MAX_OPTIONS:
            raise self.fail(where, f"at most {MAX_OPTIONS} options")
        options: list[Option] = []
        for i, item in enumerate(raw):
            here = f"{where}[{i}]"
            if not isinstance(item, dict):
                raise self.fail(here, "must be a table with 'value' and 'label'")
            self.keys(item, here, required={"value", "label"}, optional=set())
            value = item["value"]
            if not isinstance(value, str) or not _OPTION_VALUE.fullmatch(value):
                raise self.fail(f"{here}.value", "must be 1 to 32 lowercase letters, digits or '_'")
            if any(o.value == value for o in options):
                raise self.fail(f"{here}.value", f"{value!r} is used twice")
            options.append(Option(value, self.texts(item["label"], f"{here}.label")))
        return tuple(options)

    def texts(self, raw: object, where: str) -> Mapping[str, str]:
        """A text in exactly the four languages, none of them blank."""
        if not isinstance(raw, dict):
            raise self.fail(where, f"must be a table of texts in {', '.join(LANGUAGES)}")
        for language in LANGUAGES:
            if language not in raw:
                raise self.fail(where, f"missing {language!r}")
        for key in raw:
            if key not in LANGUAGES:
                raise self.fail(where, f"unknown language {_quote(key)}")
        for language in LANGUAGES:
            value = raw[language]
            if not isinstance(value, str) or not value.strip():
                raise self.fail(f"{where}.{language}", "must be a non-empty string")
            if _refused_character(value):
                raise self.fail(f"{where}.{language}", "has a control character")
        return MappingProxyType({language: raw[language] for language in LANGUAGES})

    def keys(
        self,
        raw: dict[str, Any],
        where: str,
        *,
        required: Collection[str],
        optional: Collection[str],
    ) -> None:
        for key in sorted(required):
            if key not in raw:
                raise self.fail(where, f"missing {key!r}")
        for key in raw:
            if key not in required and key not in optional:
                raise self.fail(where, f"unknown key {_quote(key)}")


_LABELLED: Final = frozenset({"label"})
_KEYS: Final[Mapping[str, tuple[frozenset[str], frozenset[str]]]] = {
    # type: (required keys, optional keys)
    "text": (
        _LABELLED | {"name", "type"},
        frozenset({"required", "help", "max_length"}),
    ),
    "choice": (_LABELLED | {"name", "type", "options"}, frozenset({"required", "help"})),
    "region": (_LABELLED | {"name", "type", "options"}, frozenset({"required", "help"})),
    "choices": (
        _LABELLED | {"name", "type", "options"},
        frozenset({"required", "help", "max_selected"}),
    ),
    "skills": (
        _LABELLED | {"name", "type", "options"},
        frozenset({"required", "help", "max_selected"}),
    ),
    "reach": (frozenset({"name", "type"}), frozenset({"required"})),
}
_ALL_FIELD_KEYS: Final = frozenset(k for r, o in _KEYS.values() for k in r | o)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _quote(text: str, limit: int = 32) -> str:
    """A key or file name for an error message: quoted, and never long."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def _every_language(msgid: str) -> Mapping[str, str]:
    return MappingProxyType(dict.fromkeys(LANGUAGES, msgid))


def _refused_character(text: str) -> bool:
    """A control character other than newline and tab, or a lone surrogate.

    Controls can hide text from the handler or break the desk's display;
    a lone surrogate cannot be encoded as UTF-8 at all.
    """
    return any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t" for c in text)


# Answers ----------------------------------------------------------------


def validate_answers(
    q: Questionnaire,
    form: Mapping[str, Sequence[str]],
    *,
    language: str,
    ignore: Collection[str] = (),
) -> Answers:
    """Check a submitted form (name -> every value sent) against ``q``.

    ``ignore`` names the page's own fields (form token, language...); any
    other name that is not a field refuses the whole form, as a browser
    showing our page never sends one. So does a second value for a field
    that takes one. An empty value is no value: a browser sends an empty
    textarea, and a select's "choose" placeholder, as "".

    ``language`` is the page's, one of LANGUAGES: the caller has already
    chosen it, so anything else is a programming error (ValueError).
    """
    _check_call(q, language, ignore)
    errors: dict[str, str] = {}
    kept: dict[str, tuple[str, ...]] = {}
    values: dict[str, Value] = dict.fromkeys((f.name for f in q.fields), None)
    malformed = answered = False
    for name, submitted in form.items():
        if isinstance(submitted, str):  # a str is a Sequence[str] too: a caller's bug
            raise TypeError("form values must be sequences of strings")
        if name in ignore:
            continue
        f = q.field(name)
        if f is None or (len(submitted) > 1 and f.type not in MULTIPLE_CHOICE):
            malformed = True
            continue
        values[name], shown, error = _check(f, [v for v in submitted if v != ""])
        if shown:
            kept[name] = shown
        if error is not None:
            errors[name] = error
        answered = answered or values[name] is not None or error is not None

    if malformed:
        raise InvalidAnswers({"": UNEXPECTED_FIELD}, kept)
    if not answered:
        raise InvalidAnswers({"": NOTHING_ANSWERED}, kept)
    for f in q.fields:
        if f.required and values[f.name] is None and f.name not in errors:
            errors[f.name] = _MISSING[f.type]
    if errors:
        # In field order, so the page can list them as it shows the fields.
        ordered = {f.name: errors[f.name] for f in q.fields if f.name in errors}
        raise InvalidAnswers(ordered, kept)
    return Answers(questionnaire=q, language=language, values=MappingProxyType(values))


def _check_call(q: Questionnaire, language: str, ignore: Collection[str]) -> None:
    """The caller's mistakes, which no form can cause."""
    if language not in LANGUAGES:
        raise ValueError("language must be one of LANGUAGES")
    clash = [f.name for f in q.fields if f.name in ignore]
    if clash:  # load refuses RESERVED_NAMES: keep them in step with the page
        raise ValueError(f"ignored names are also fields: {', '.join(clash)}")


def _check(f: Field, present: list[str]) -> tuple[Value, tuple[str, ...], str | None]:
    """One field's (answer or None, values to show again, error or None)."""
    if f.type == "text":
        text, shown, error = _check_text(f, present)
        return text, (shown,) if shown else (), error
    known = tuple(v for v in dict.fromkeys(present) if f.option(v) is not None)
    if f.type in SINGLE_CHOICE:
        choice, error = _check_choice(f, present)
        return choice, known, error
    choices, error = _check_choices(f, present)
    return choices, known, error


_MISSING: Final = {
    "text": ANSWER_REQUIRED,
    "choice": CHOOSE_ONE,
    "region": CHOOSE_ONE,
    "reach": CHOOSE_ONE,
    "choices": CHOOSE_AT_LEAST_ONE,
    "skills": CHOOSE_AT_LEAST_ONE,
}


def _check_text(f: Field, present: list[str]) -> tuple[str | None, str, str | None]:
    """(the answer or None, the text to show again, an error or None)."""
    if not present:
        return None, "", None
    limit = f.max_length or DEFAULT_MAX_LENGTH
    text = present[0].replace("\r\n", "\n").replace("\r", "\n")
    if _refused_character(text):
        shown = "".join(c for c in text if not _refused_character(c)).strip()
        return None, shown[:limit], BAD_CHARACTERS
    answer = text.strip()
    if len(answer) > limit:
        return None, answer[:limit], TOO_LONG
    return answer or None, answer, None


def _check_choice(f: Field, present: list[str]) -> tuple[str | None, str | None]:
    if not present:
        return None, None
    if len(present) > 1 or f.option(present[0]) is None:
        return None, NOT_AN_OPTION
    return present[0], None


def _check_choices(f: Field, present: list[str]) -> tuple[tuple[str, ...] | None, str | None]:
    if not present:
        return None, None
    if len(set(present)) != len(present) or any(f.option(v) is None for v in present):
        return None, NOT_AN_OPTION
    if f.max_selected is not None and len(present) > f.max_selected:
        return None, TOO_MANY_CHOSEN
    # In the file's order, whatever order the browser sent them in.
    return tuple(o.value for o in f.options if o.value in present), None
