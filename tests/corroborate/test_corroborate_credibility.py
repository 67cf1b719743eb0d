"""The suggested Admiralty credibility, row by row of its table.

Every row of the table in :mod:`shoal.corroborate._credibility` is checked
over every reliability grade (A to F, and not graded), with its reasons in
words; then the handler's own 5, ``contested``, and the planted photograph
passed on by three members, from reports to suggestion.
"""

from __future__ import annotations

import itertools

import pytest

from shoal.corroborate import Independence, Report, Suggestion, contested, independence, suggest

GRADES: list[str | None] = ["A", "B", "C", "D", "E", "F", None]
RELIABLE = {"A", "B", "C"}
ONE_SOURCE = {"A": "2", "B": "2", "C": "3", "D": "4", "E": "4", "F": "6", None: "6"}


def found(*reliabilities: str | None) -> Independence:
    n = len(reliabilities)
    return Independence(n, n, n, reliabilities, frozenset(), ())


def test_no_independent_source_cannot_be_judged() -> None:
    assert suggest(found(), []) == Suggestion(
        "6", ("no source whose authorship was verified: nothing to judge it by",)
    )


@pytest.mark.parametrize("grade", GRADES)
def test_one_independent_source_is_judged_by_its_reliability(grade: str | None) -> None:
    assert suggest(found(grade), [None]) == Suggestion(
        ONE_SOURCE[grade],
        (
            f"1 independent source, {f'graded {grade}' if grade else 'not graded'}; "
            "not confirmed by any other",
        ),
    )


@pytest.mark.parametrize(("first", "second"), list(itertools.product(GRADES, repeat=2)))
def test_two_independent_sources_confirm_only_when_both_are_reliable(
    first: str | None, second: str | None
) -> None:
    got = suggest(found(first, second), [])
    if first in RELIABLE and second in RELIABLE:
        assert got == Suggestion(
            "1", ("2 independent sources, 2 of them from sources graded reliable (A to C)",)
        )
    else:
        assert got == Suggestion(
            "2", ("2 independent sources, but fewer than 2 from sources graded reliable (A to C)",)
        )


@pytest.mark.parametrize("grades", list(itertools.combinations_with_replacement(GRADES, 3)))
def test_three_independent_sources_need_two_reliable_ones_to_confirm(
    grades: tuple[str | None, ...],
) -> None:
    reliable = sum(1 for g in grades if g in RELIABLE)
    assert suggest(found(*grades), []).grade == ("1" if reliable >= 2 else "2")


@pytest.mark.parametrize("grade", GRADES)
@pytest.mark.parametrize("n", [0, 1])
def test_the_handlers_5_stands_against_fewer_than_two(n: int, grade: str | None) -> None:
    assert suggest(found(*[grade] * n), [None, "2", "5"]) == Suggestion(
        "5",
        (
            "the handler graded a report of this event improbable (5)",
            f"{n} independent source{'' if n == 1 else 's'}: not enough to outweigh it",
        ),
    )


@pytest.mark.parametrize("grades", [("A", "B"), ("D", None)])
def test_two_independent_sources_outweigh_the_handlers_5(grades: tuple[str | None, ...]) -> None:
    assert suggest(found(*grades), ["5"]).grade in {"1", "2"}


@pytest.mark.parametrize("handler", [[], [None], ["1"], ["4"], ["6", "3"]])
def test_the_handlers_other_grades_do_not_move_the_suggestion(handler: list[str | None]) -> None:
    assert suggest(found("C"), handler).grade == "3"
    assert suggest(found(), handler).grade == "6"


@pytest.mark.parametrize(
    ("grades", "expected"),
    [
        ([], False),
        ([None, None], False),
        (["1", "2"], False),
        (["4", "5"], False),
        (["3", "3", "6"], False),
        (["1", "4"], True),
        (["2", "5"], True),
        (["1", None, "5"], True),
        (["3", "2", "6", "4"], True),
    ],
)
def test_contested_is_likely_and_unlikely_grades_in_one_event(
    grades: list[str | None], expected: bool
) -> None:
    assert contested(grades) is expected
    assert contested(iter(grades)) is expected


def test_a_planted_photo_passed_on_by_three_reliable_members_is_not_confirmed() -> None:
    photo = 0x8F3A_51C2_0D77_E4B9
    reports = [
        Report(str(i), f"s{i}", True, "a", 1_780_000_000.0 + i, text=t, dhash=(photo ^ i,))
        for i, t in enumerate(["Удар по школі", "Strike on a school", "Удар по школе"])
    ]
    grades = {"s0": "A", "s1": "A", "s2": "C"}
    behind = independence(reports, lambda r: grades[r.source or ""])
    assert (behind.independent, behind.reliabilities) == (1, ("C",))
    assert suggest(behind, [None, None, None]).grade == "3"


def test_two_independent_reliable_members_confirm() -> None:
    reports = [
        Report("1", "s1", True, "a", 1_780_000_000.0, text="Вибух біля мосту, горить склад"),
        Report("2", "s2", True, "a", 1_780_000_060.0, text="Explosion near the bridge"),
    ]
    behind = independence(reports, lambda r: {"s1": "B", "s2": "C"}[r.source or ""])
    assert suggest(behind, [None, None]) == Suggestion(
        "1", ("2 independent sources, 2 of them from sources graded reliable (A to C)",)
    )
