# ruff: noqa: RUF001 (Cyrillic letters are the point of these tests)
"""What independently confirms an event, and what merely repeats it.

Copies count once (a shared file, a picture up to re-encoding, words
repeated), whoever sent them; web contacts are shown but never counted;
compartments are never added up; a forward counts what its desk found,
never more; and every reason is said in words. Hypothesis properties
check the promises that must hold for any event: repeating an origin,
or adding what web contacts send, never adds a confirmation, and no
event counts more than its best compartment alone.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import _tiers
from shoal.corroborate import Independence, Report, copies, independence

T0 = 1_780_000_000.0
PHOTO = 0x8F3A_51C2_0D77_E4B9
TWO_DOORS = (
    "reports came through 2 compartments: one person can write to two doors, so "
    "reports from different compartments are never counted as independent of each "
    "other on that ground alone"
)
GRADES = {"s1": "A", "s2": "B", "s3": "C", "s4": "E"}


def graded(r: Report) -> str | None:
    return GRADES.get(r.source or "")


def ungraded(r: Report) -> str | None:
    return None


def report(key: str, source: str | None, text: str, **fields: Any) -> Report:
    values: dict[str, Any] = {"verified": True, "compartment": "a", "time": T0 + int(key, 36)}
    return Report(key, source, text=text, **(values | fields))


def test_three_sources_two_independent_when_two_sent_the_same_photo() -> None:
    found = independence(
        [
            report("1", "s1", "Колона танків на мосту", dhash=(PHOTO,)),
            report("2", "s2", "Tanks crossing the bridge", dhash=(PHOTO ^ 0b11,)),
            report("3", "s3", "Вибух на заводі, 3 машини"),
        ],
        graded,
    )
    assert found == Independence(
        reports=3,
        sources=3,
        independent=2,
        reliabilities=("B", "C"),  # the photo's two sources take the lower grade
        repeats=frozenset({"2"}),
        reasons=("3 reports from 3 sources, 2 independent: the same photo came from 2 of them",),
    )


def test_the_same_text_from_three_sources_is_one_origin() -> None:
    text = "Колона техніки рухається на південь через міст, 12 машин"
    found = independence(
        [report("1", "s1", text), report("2", "s2", text + "!"), report("3", "s3", text.upper())],
        graded,
    )
    assert (found.sources, found.independent, found.reliabilities) == (3, 1, ("C",))
    assert found.repeats == {"2", "3"}
    assert found.reasons == (
        "3 reports from 3 sources, 1 independent: the same text came from 3 of them",
    )


def test_a_photo_and_a_text_each_repeated_are_both_said() -> None:
    text = "Колона техніки рухається на південь через міст, 12 машин"
    found = independence(
        [
            report("1", "s1", "фото", sha256=("ab" * 32,)),
            report("2", "s2", "photo", sha256=("ab" * 32,)),
            report("3", "s3", text),
            report("4", "s4", text),
        ],
        graded,
    )
    assert found.independent == 2
    assert found.reasons[0] == (
        "4 reports from 4 sources, 2 independent: the same photo came from 2 of them; "
        "the same text came from 2 of them"
    )


def test_one_source_sending_many_reports_is_one_source() -> None:
    found = independence(
        [report(str(i), "s1", f"звіт номер {i}, все різне {i * 7}") for i in range(1, 6)], graded
    )
    assert (found.reports, found.sources, found.independent) == (5, 1, 1)
    assert found.reasons == ("5 reports from 1 source, 1 independent",)


def test_a_source_that_copied_another_is_joined_with_it_for_all_its_reports() -> None:
    found = independence(
        [
            report("1", "s1", "фото", dhash=(PHOTO,)),
            report("2", "s2", "photo", dhash=(PHOTO,)),
            report("3", "s2", "Зовсім інший звіт про вибух, 40 хвилин тому"),
        ],
        graded,
    )
    assert found.independent == 1


def test_web_contacts_are_sources_but_never_confirmations() -> None:
    found = independence(
        [report(str(i), f"web{i}", f"різний звіт {i * 1000}", verified=False) for i in range(1, 4)],
        graded,
    )
    assert (found.sources, found.independent, found.reliabilities) == (3, 0, ())
    assert found.reasons[1] == (
        "3 sources are not verified (a web contact, or a member whose key is not yet "
        "recorded at vetting): vouched for by the server only, never counted as a confirmation"
    )


def test_a_source_without_a_name_is_never_counted() -> None:
    found = independence([report("1", None, "звіт"), report("2", None, "інший")], graded)
    assert (found.sources, found.independent) == (2, 0)


def test_a_web_contacts_copy_can_join_two_members_into_one_origin() -> None:
    text = "Колона техніки рухається на південь через міст, 12 машин"
    members = [report("1", "s1", text), report("3", "s2", "фото", dhash=(PHOTO,))]
    bridge = report("2", "web", text, verified=False, dhash=(PHOTO,))
    assert independence(members, graded).independent == 2
    assert independence([*members, bridge], graded).independent == 1


def test_two_compartments_with_one_each_are_one_not_two() -> None:
    found = independence(
        [
            report("1", "s1", "вибух біля мосту"),
            report("2", "t1", "взрыв у моста", compartment="b"),
        ],
        graded,
    )
    assert (found.sources, found.independent) == (2, 1)
    assert TWO_DOORS in found.reasons


def test_the_compartment_with_most_independent_sources_is_the_count() -> None:
    found = independence(
        [
            report("1", "s1", "вибух біля мосту о 14:00"),
            report("2", "s2", "вибух, горить склад"),
            report("3", "t1", "взрыв у моста", compartment="b"),
            report("4", "t2", "explosion near the bridge", compartment="b"),
            report("5", "t3", "дым над складом", compartment="b"),
        ],
        graded,
    )
    assert (found.sources, found.independent) == (5, 3)
    assert found.reliabilities == (None, None, None)  # compartment b's sources are not graded here
    assert TWO_DOORS.replace("2 compartments", "2 compartments") in found.reasons


def test_one_compartment_says_nothing_of_doors() -> None:
    found = independence([report("1", "s1", "a"), report("2", "s2", "b")], graded)
    assert not any("doors" in reason for reason in found.reasons)


def test_a_forward_counts_what_its_desk_found_and_says_so() -> None:
    forward = report("1", None, "вибух біля мосту", compartment="north", declared=3)
    found = independence([forward], ungraded)
    assert (found.sources, found.independent) == (1, 3)
    assert (
        found.reasons[1]
        == "forwarded from compartment north: its desk found 3 independent sources behind it"
    )


def test_forwards_from_two_compartments_are_not_added_up() -> None:
    found = independence(
        [
            report("1", None, "вибух біля мосту", compartment="north", declared=2),
            report("2", None, "взрыв у моста", compartment="south", declared=3),
            report("3", "s1", "вибух", compartment="own"),
        ],
        graded,
    )
    assert (found.sources, found.independent) == (3, 3)
    assert "reports came through 3 compartments" in found.reasons[-1]


def test_two_forwards_of_one_compartment_count_the_larger_declared_only() -> None:
    found = independence(
        [
            report("1", None, "вибух біля мосту", compartment="north", declared=2),
            report("2", None, "ще один звіт з півночі", compartment="north", declared=1),
        ],
        ungraded,
    )
    assert (found.sources, found.independent) == (1, 2)
    assert (
        found.reasons[1]
        == "forwarded from compartment north: its desk found 2 independent sources behind it"
    )


def test_a_forward_declaring_none_confirms_nothing() -> None:
    found = independence([report("1", None, "чутки", compartment="north", declared=0)], ungraded)
    assert found.independent == 0


def test_a_forward_declaring_fewer_than_the_compartments_own_does_not_lower_it() -> None:
    found = independence(
        [
            report("1", "s1", "вибух біля мосту"),
            report("2", "s2", "горить склад"),
            report("3", None, "explosion", declared=1),
        ],
        graded,
    )
    assert found.independent == 2 and found.reliabilities == ("A", "B")


def test_copies_is_a_shared_file_picture_or_near_identical_words() -> None:
    text = "Колона техніки рухається на південь через міст, 12 машин"
    a = report("1", "s1", text)
    assert copies(a, report("2", "s2", text.replace("12", "12.")))
    assert not copies(a, report("3", "s2", "Колона техніки на півдні"))
    assert copies(
        report("4", "s1", "x", dhash=(PHOTO,)), report("5", "s2", "y", dhash=(PHOTO ^ 1,))
    )
    assert not copies(report("6", "s1", "", sha256=()), report("7", "s2", ""))


# -- properties -----------------------------------------------------------------

TEXTS = [
    "Колона техніки рухається на південь, 12 машин",
    "Вибух у Харкові біля заводу, горить склад",
    "Convoy of 12 vehicles heading south",
    "Черга на кордоні, пропускають повільно",
    "",
]


@st.composite
def events(draw: st.DrawFn) -> list[Report]:
    """Up to 12 reports from sources s0 to s5 (some not verified), in up to
    three compartments, a few of them forwards."""
    out = []
    for i in range(draw(st.integers(1, 12))):
        forwarded = draw(st.integers(0, 5)) == 0
        out.append(
            Report(
                key=f"r{i}",
                source=None if forwarded else f"s{draw(st.integers(0, 5))}",
                verified=forwarded or draw(st.integers(0, 3)) > 0,
                compartment=draw(st.sampled_from("abc")),
                time=T0 + draw(st.integers(0, 3600)),
                text=draw(st.sampled_from(TEXTS)),
                dhash=draw(
                    st.sets(
                        st.sampled_from([PHOTO, PHOTO ^ 3, ~PHOTO & (2**64 - 1)]), max_size=1
                    ).map(tuple)
                ),
                declared=draw(st.integers(0, 4)) if forwarded else None,
            )
        )
    return out


PROPERTY = settings(max_examples=_tiers.sized(80, 800), deadline=None)
GRADE = st.dictionaries(st.sampled_from([f"s{i}" for i in range(6)]), st.sampled_from("ABCDEF"))


@PROPERTY
@given(events(), GRADE)
def test_independent_sources_are_never_more_than_the_best_compartment_alone(
    found: list[Report], grades: dict[str, str]
) -> None:
    def reliability(r: Report) -> str | None:
        return grades.get(r.source or "")

    whole = independence(found, reliability)
    alone = [independence([r for r in found if r.compartment == c], reliability) for c in "abc"]
    assert whole.independent <= max(a.independent for a in alone)
    assert len(whole.reliabilities) == whole.independent
    assert whole.reports == len(found)
    assert whole.repeats < {r.key for r in found} or not found


@PROPERTY
@given(events(), st.data())
def test_repeating_an_origin_from_a_new_source_adds_no_confirmation(
    found: list[Report], data: st.DataObject
) -> None:
    # A counted origin: a verified member's report (a forward or a web
    # contact's report confirms nothing itself; a member repeating it does).
    original = data.draw(st.sampled_from(found))
    if not (original.verified and original.source is not None):
        return
    copy = Report(
        "copy",
        "s-new",
        True,
        original.compartment,
        T0 + 7200,
        text=original.text + " !",
        sha256=original.sha256,
        dhash=original.dhash,
    )
    if not (original.shingles or original.dhash):
        return  # an empty text and no picture: nothing to copy
    before, after = independence(found, ungraded), independence([*found, copy], ungraded)
    assert after.independent == before.independent
    assert "copy" in after.repeats


@PROPERTY
@given(events(), events())
def test_what_web_contacts_send_never_adds_a_confirmation(
    found: list[Report], more: list[Report]
) -> None:
    web = [
        Report(f"w{i}", f"web{i}", False, r.compartment, r.time, text=r.text, dhash=r.dhash)
        for i, r in enumerate(more)
    ]
    assert (
        independence([*found, *web], ungraded).independent
        <= independence(found, ungraded).independent
    )
    assert independence(web, ungraded).independent == 0


def test_a_forward_whose_signature_was_not_verified_confirms_nothing() -> None:
    forward = report("1", None, "вибух біля мосту", compartment="north", verified=False, declared=3)
    assert independence([forward], ungraded).independent == 0
