"""The Admiralty code (NATO STANAG 2511): how a desk grades what it receives.

Two independent marks, kept apart on purpose: the *source's* reliability
(A to F, a judgement of the contact's track record) and each *report's*
credibility (1 to 6, a judgement of the information, whoever sent it). A
reliable source can send an unlikely report and an unknown one a
confirmed fact; folding both into one score would hide exactly that.

The meanings are the standard ones, shown beside every grade so that a
handler under pressure does not have to remember them. This grades
reports and the record of sources, never people's loyalty (DESIGN.md,
"Reports and their worth"). Pure tables.
"""

from __future__ import annotations

from collections.abc import Mapping

RELIABILITY: Mapping[str, str] = {
    "A": "Completely reliable: no doubt of authenticity, trustworthiness or competency; "
    "a history of complete reliability",
    "B": "Usually reliable: minor doubt; a history of valid information most of the time",
    "C": "Fairly reliable: doubt; provided valid information in the past",
    "D": "Not usually reliable: significant doubt; provided valid information in the past",
    "E": "Unreliable: lacking in authenticity, trustworthiness and competency; "
    "a history of invalid information",
    "F": "Reliability cannot be judged: no basis exists for evaluating the source",
}

CREDIBILITY: Mapping[str, str] = {
    "1": "Confirmed by other sources: logical in itself, consistent with other information",
    "2": "Probably true: not confirmed; logical in itself, consistent with other information",
    "3": "Possibly true: not confirmed; reasonably logical, agrees with some other information",
    "4": "Doubtful: not confirmed; possible but not logical; no other information on the subject",
    "5": "Improbable: not confirmed; not logical in itself; contradicted by other information",
    "6": "Truth cannot be judged: no basis exists for evaluating the validity of the information",
}


def reliability(value: str) -> str:
    """``value`` if it is a reliability grade; ValueError otherwise."""
    if value not in RELIABILITY:
        raise ValueError("a source's reliability is one of A, B, C, D, E, F")
    return value


def credibility(value: str) -> str:
    """``value`` if it is a credibility grade; ValueError otherwise."""
    if value not in CREDIBILITY:
        raise ValueError("a report's credibility is one of 1, 2, 3, 4, 5, 6")
    return value
