"""A suggested Admiralty credibility for an event's reports, with its reasons.

The handler grades; this only suggests, and nothing here writes a grade
(the desk shows the suggestion beside the handler's own grade and a button
to take it). The table reads the independent confirmations
(:mod:`._independence`) and the graded reliability of their sources
(A to F; ungraded counts as F, "cannot be judged"):

==========================================================  ===========
what stands behind the event                                suggestion
==========================================================  ===========
2 or more independent sources, 2 or more graded A to C      1 confirmed
2 or more independent sources, fewer graded A to C          2 probably true
1 independent source graded A or B                          2 probably true
1 independent source graded C                               3 possibly true
1 independent source graded D or E                          4 doubtful
1 independent source graded F or not graded                 6 cannot be judged
no independent source (only what the server vouches for)    6 cannot be judged
fewer than 2, and the handler graded a report of it 5       5 improbable
==========================================================  ===========

"Confirmed" needs two confirmations from sources with a record of valid
information: two newcomers agreeing is worth something (2) but is exactly
what two accounts made by one infiltrator would look like. A 5 the handler
gave a report stands until two independent sources say otherwise: the
suggestion never talks a handler out of a contradiction they saw. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ._independence import Independence

_RELIABLE = frozenset("ABC")


@dataclass(frozen=True)
class Suggestion:
    grade: str
    reasons: tuple[str, ...]


def suggest(found: Independence, handler_grades: Iterable[str | None]) -> Suggestion:
    """The credibility to suggest for the event's reports; ``handler_grades``
    the credibility the handler gave each report (None: not graded)."""
    n = found.independent
    reliable = sum(1 for g in found.reliabilities if g in _RELIABLE)
    graded = [g for g in handler_grades if g is not None]
    if n < 2 and "5" in graded:
        return Suggestion(
            "5",
            (
                "the handler graded a report of this event improbable (5)",
                f"{_confirmations(n)}: not enough to outweigh it",
            ),
        )
    if n >= 2:
        if reliable >= 2:
            return Suggestion(
                "1",
                (f"{_confirmations(n)}, {reliable} of them from sources graded reliable (A to C)",),
            )
        return Suggestion(
            "2", (f"{_confirmations(n)}, but fewer than 2 from sources graded reliable (A to C)",)
        )
    if n == 0:
        return Suggestion("6", ("no source whose authorship was verified: nothing to judge it by",))
    grade = found.reliabilities[0]
    table = {"A": "2", "B": "2", "C": "3", "D": "4", "E": "4", "F": "6"}
    said = f"graded {grade}" if grade is not None else "not graded"
    return Suggestion(
        table[grade or "F"], (f"1 independent source, {said}; not confirmed by any other",)
    )


def _confirmations(n: int) -> str:
    return f"{n} independent source{'' if n == 1 else 's'}"


def contested(handler_grades: Iterable[str | None]) -> bool:
    """Whether the handler graded some of an event's reports likely (1 or
    2) and others unlikely (4 or 5): the event is disputed."""
    graded = set(handler_grades)
    return bool(graded & {"1", "2"}) and bool(graded & {"4", "5"})
