"""Corroboration: reports grouped into events, and what confirms each.

Pure functions and values, shared by the desk (a compartment's reports)
and command (what was forwarded to it): reports in, events and reasons
out. Judges reports, never people (DESIGN.md, "Reports and their worth").
"""

from ._credibility import Suggestion, contested, suggest
from ._grouping import (
    Event,
    Grouping,
    close_in_place,
    close_in_time,
    linked,
    parts,
    same_picture,
)
from ._independence import Independence, Reliability, copies, independence
from ._report import MAX_DECLARED, Report, Settings, Spot, instant
from ._text import fold, jaccard, pieces

__all__ = [
    "MAX_DECLARED",
    "Event",
    "Grouping",
    "Independence",
    "Reliability",
    "Report",
    "Settings",
    "Spot",
    "Suggestion",
    "close_in_place",
    "close_in_time",
    "contested",
    "copies",
    "fold",
    "independence",
    "instant",
    "jaccard",
    "linked",
    "parts",
    "pieces",
    "same_picture",
    "suggest",
]
