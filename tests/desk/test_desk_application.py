"""Offers of services on the desk: what the server's questionnaire seals,
the desk reads back; anything else claiming to be an application is refused
whole; unsigned applications are vouched for by the server only."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from shoal.desk._application import parse_application
from shoal.desk._verdict import Standing, judge
from shoal.desk.errors import ItemError
from shoal.server._questionnaire import parse_questionnaire, validate_answers


def example_content() -> bytes:
    text = resources.files("shoal.server").joinpath("questionnaire_example.toml").read_text()
    questionnaire = parse_questionnaire(text, door="field", source="example")
    form = {
        "skills": ["first_aid", "transport"],
        "region": ["kyiv"],
        "reach": ["weekly"],
        "anything_else": ["Evenings only"],
    }
    return validate_answers(questionnaire, form, language="uk").content()


def test_the_desk_reads_what_the_server_seals() -> None:
    lines = parse_application(example_content()).lines()
    assert lines[0] == "offer of services: Offer your services (written in uk)"
    assert any(line.startswith("How often will you check for our answer here?: ") for line in lines)
    assert any(line.endswith(": Evenings only") for line in lines)
    skills = next(line for line in lines if "First aid" in line)
    assert "Transport" in skills or "transport" in skills.lower()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        json.dumps({"questionnaire": "x", "language": "uk", "answers": []}).encode(),
        json.dumps({"questionnaire": {"title": 1}, "language": "uk", "answers": []}).encode(),
        json.dumps({"questionnaire": {"title": "t"}, "language": "uk", "answers": [1]}).encode(),
        json.dumps(
            {"questionnaire": {"title": "t"}, "language": "uk", "answers": [{"label": "l"}]}
        ).encode(),
        json.dumps(
            {
                "questionnaire": {"title": "t"},
                "language": "uk",
                "answers": [{"label": "l", "value": "v", "shown": "s"}] * 51,
            }
        ).encode(),
    ],
)
def test_a_malformed_application_is_refused_whole(content: bytes) -> None:
    with pytest.raises(ItemError, match="malformed"):
        parse_application(content)


def test_an_unsigned_application_is_vouched_for_by_the_server_only() -> None:
    verdict = judge({"kind": "application"}, None, None, contact="c", members={})  # type: ignore[arg-type]
    assert verdict.standing is Standing.SERVER_ONLY
    forged = judge({"kind": "reply"}, None, None, contact="c", members={})  # type: ignore[arg-type]
    assert forged.standing is Standing.REJECTED
