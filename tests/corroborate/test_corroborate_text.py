# ruff: noqa: RUF001 (Cyrillic letters are the point of these tests)
"""How alike two reports' words are across Ukrainian, Russian and English.

Checks the folding to Latin letters (a name spelt three ways gives mostly
the same pieces), the pieces themselves (three-letter pieces inside words,
numbers whole) and Jaccard, with Hypothesis properties over mixed-script
text.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.corroborate import fold, jaccard, pieces
from shoal.corroborate._text import (
    _COUNTED,
    _STREETS,
    _TOWNS,
    ALIKE,
    COPY,
    NEAR,
    NEAR_ALONE,
    bearings,
    counts,
    numbers,
    own_words,
    streets,
    towns,
)

_LETTERS = "абвгґдеєёжзиіїйклмнопрстуфхцчшщьъыэюяabcdefghijklmnopqrstuvwxyz"
words = st.text(alphabet=_LETTERS, min_size=1, max_size=12)
texts = st.lists(st.one_of(words, st.integers(0, 99999).map(str)), min_size=0, max_size=12).map(
    " ".join
)
PROPERTY = settings(max_examples=150, deadline=None)


def share(a: str, b: str) -> float:
    """The share of ``a``'s pieces that ``b`` has too."""
    pa = pieces(a)
    return len(pa & pieces(b)) / len(pa)


def test_kharkiv_in_ukrainian_and_english_fold_to_one_spelling() -> None:
    assert fold("Харків") == fold("Kharkiv") == fold("KHARKIV") == "harkiv"


def test_kharkiv_in_russian_shares_half_its_pieces_with_the_other_two() -> None:
    # "harkov" against "harkiv": " ha", "har", "ark" of six pieces each.
    assert share("Харьков", "Харків") >= 0.5
    assert share("Харьков", "Kharkiv") >= 0.5


def test_an_inflected_name_keeps_most_of_its_pieces() -> None:
    assert share("Херсон", "Херсоні") > 0.8
    assert share("Kherson", "Херсоні") > 0.8


@pytest.mark.parametrize(
    ("ukrainian", "russian_or_english"),
    [
        ("и", "ы"),
        ("і", "y"),
        ("ї", "i"),
        ("й", "j"),
        ("х", "kh"),
        ("є", "э"),
        ("ґ", "г"),
        ("мʼясо", "м'ясо"),
        ("м’ясо", "мясо"),
        ("Kyiv", "Київ"),
        ("Львів", "Lviv"),
    ],
)
def test_letters_the_languages_spell_differently_fold_alike(
    ukrainian: str, russian_or_english: str
) -> None:
    assert fold(ukrainian) == fold(russian_or_english)


@pytest.mark.parametrize(
    ("cyrillic", "latin"), [("Луганськ", "Luhansk"), ("Чернігів", "Chernihiv")]
)
def test_ukrainian_names_as_english_spells_them_fold_alike(cyrillic: str, latin: str) -> None:
    assert fold(cyrillic) == fold(latin)


def test_case_punctuation_and_accents_do_not_matter() -> None:
    assert fold("  ВИБУХ!!! біля   мосту, — café…") == "vibuh bilia mostu cafe"


def test_numbers_are_one_piece_each_and_shared_across_scripts() -> None:
    assert len(pieces("14")) == len(pieces("140000")) == 1
    assert pieces("124").isdisjoint(pieces("123"))
    # A time and a count are what a Ukrainian and an English report share.
    assert pieces("3 14 30") <= pieces("3 танки о 14 30") & pieces("3 tanks at 14 30")


def test_numbers_keep_single_digits_and_leave_times_of_day_out() -> None:
    # "6 soldiers" is not "26 soldiers"; "at 14:20" is a time, not a count.
    assert numbers("6 військових о 14:20, номер 0385, ще 26") == {"6", "385", "26"}
    assert numbers("00 і 0") == {"0"}
    assert numbers("о 9.15 і о 21:40") == frozenset()


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Колона рухається на північ", {"n"}),
        ("колонна идёт на юг", {"s"}),
        ("convoy heading West", {"w"}),
        ("в бік сходу", {"e"}),
        ("летят на северо-запад", {"n", "w"}),
        ("north-east, then east", {"n", "e"}),
        ("Колона на виїзді", set()),
    ],
)
def test_bearings_are_named_alike_in_three_languages(text: str, found: set[str]) -> None:
    assert bearings(fold(text).split()) == found


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Чули 22 вибухи", {("22", "blasts")}),
        ("Слышали 11 взрывов около 18:44", {("11", "blasts")}),
        ("about 07 military vehicles", {("7", "vehicles")}),
        ("16 военных, 16 drones", {("16", "people"), ("16", "drones")}),
        # Times of day are no counts, and a count after one still is.
        ("о 18:44 5 дронів", {("5", "drones")}),
        ("Zhytomyr. 08:15. 39 aircraft", {("39", "aircraft")}),
        ("12 гелікоптерів, 3 ракети", {("12", "aircraft"), ("3", "missiles")}),
        # Beside no kind, a number counts what its text speaks of...
        ("vehicles hidden in a hangar, 22 of them", {("22", "vehicles")}),
        # ...and in a text that names none, nothing known.
        ("нарахували 22", set()),
        ("22, особливо не yet", set()),
        ("23 шт", set()),
    ],
)
def test_counts_name_what_each_number_counts_in_three_languages(
    text: str, found: set[tuple[str, str]]
) -> None:
    assert counts(fold(text).split()) == found


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("вулиця Сумська", {"sumska"}),
        ("на Сумской", {"sumska"}),
        ("Sumska St", {"sumska"}),
        ("низько над Героїв Праці", {"heroiv pratsi"}),
        ("над Героев Труда", {"heroiv pratsi"}),
        ("Heroiv Pratsi is closed", {"heroiv pratsi"}),
        ("на Миру і Мира", {"myru"}),
        ("Перемоги, Победы, Peremohy", {"peremohy"}),
        ("з Шевченка на Соборну", {"shevchenka", "soborna"}),
        # Stems name words they begin, never words they are inside of.
        ("половина колони, парковка, ППО працює, победили", set()),
        ("Колона на виїзді", set()),
    ],
)
def test_streets_are_named_alike_in_three_languages(text: str, found: set[str]) -> None:
    assert streets(fold(text).split()) == found


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("у Харкові", {"kharkiv"}),
        ("в Харькове", {"kharkiv"}),
        ("Kharkiv", {"kharkiv"}),
        ("в Києві, в Киеве, Kyiv", {"kyiv"}),
        ("Кривому Розі", {"kryvyi rih"}),
        ("з Чугуєва до Харкова", {"chuhuiv", "kharkiv"}),
        # A street or a region named after a town is not the town.
        ("вулиця Харківська, Полтавская область", set()),
        ("вулиця Сумська", set()),
    ],
)
def test_towns_are_named_alike_in_three_languages_and_their_cases(
    text: str, found: set[str]
) -> None:
    assert towns(fold(text).split()) == found


@pytest.mark.parametrize("table", [_COUNTED, _STREETS, _TOWNS])
def test_no_spelling_names_two_things(table: dict[str, str]) -> None:
    # A stem under two names would silently mean only the last of them.
    named = {fold(spelt): name for name, spelt_ in table.items() for spelt in spelt_.split()}
    for name, spelt_ in table.items():
        assert all(named[fold(spelt)] == name for spelt in spelt_.split()), name


def test_the_marks_of_a_message_passed_on_are_not_its_words() -> None:
    assert own_words("Fwd: FW: Convoy on Sumska") == ["convoi", "on", "sumska"]
    assert own_words("Переслано: Колона") == own_words("Пересланное сообщение: Колона")
    assert pieces("Переслано: вибух біля мосту") == pieces("вибух біля мосту")
    # Only before the message: a report that speaks of forwarding keeps it.
    assert own_words("Колона, переслано") == ["kolona", "pereslano"]
    assert pieces("Fwd:") == frozenset()


def test_a_word_gives_its_three_letter_pieces_with_edges() -> None:
    # " mo", "mos", "ost", "st ": a four-letter word gives four pieces.
    assert len(pieces("мост")) == 4
    assert len(pieces("о")) == 1  # " o "
    assert len(pieces("я")) == 2  # " ia", "ia "
    assert pieces("") == frozenset() == pieces("!!! — …")


def test_paraphrase_in_ukrainian_and_russian_is_near_unrelated_news_is_not() -> None:
    uk = pieces("Вибух у Харкові біля заводу о 14:30, горить склад")
    ru = pieces("Взрыв в Харькове возле завода в 14:30, горит склад")
    other = pieces("Черга на кордоні, пропускають повільно, 200 машин")
    assert jaccard(uk, ru) >= NEAR
    assert jaccard(uk, other) < NEAR
    assert jaccard(ru, other) < NEAR


def test_the_thresholds_are_ordered() -> None:
    # Close in time and place, words need to be less alike than without
    # them; and a copy is found at or below what joins a report that has
    # neither (counting a copy once is the cautious side).
    assert 0 < NEAR < NEAR_ALONE < ALIKE < 1
    assert COPY <= ALIKE


def test_jaccard_of_empty_sets_is_zero() -> None:
    assert jaccard(frozenset(), frozenset()) == 0.0
    assert jaccard(pieces("мост"), frozenset()) == 0.0


@PROPERTY
@given(texts)
def test_fold_gives_lowercase_latin_digits_and_single_spaces(text: str) -> None:
    folded = fold(text)
    assert set(folded) <= set("abcdefghijklmnopqrstuvwxyz0123456789 ")
    assert folded == " ".join(folded.split())


@PROPERTY
@given(texts)
def test_pieces_ignore_case(text: str) -> None:
    assert pieces(text.upper()) == pieces(text) == pieces(text.lower())


@PROPERTY
@given(texts, texts)
def test_jaccard_is_symmetric_bounded_and_one_on_itself(a: str, b: str) -> None:
    pa, pb = pieces(a), pieces(b)
    assert jaccard(pa, pb) == jaccard(pb, pa)
    assert 0.0 <= jaccard(pa, pb) <= 1.0
    assert jaccard(pa, pa) == (1.0 if pa else 0.0)


@PROPERTY
@given(texts, texts)
def test_words_added_to_a_text_keep_its_pieces(a: str, b: str) -> None:
    assert pieces(a) <= pieces(f"{a} {b}")
