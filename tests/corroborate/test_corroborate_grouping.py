# ruff: noqa: RUF001 (Cyrillic letters are the point of these tests)
"""Reports grouped into events: what links two reports, and the index.

Unit checks of each promise (time window, place with the coarsening the
sender chose, text and media alone when there is no time or place), and
Hypothesis properties of the index: the events do not depend on the order
reports arrive in, and, for reports that all give a time and a place
(pictures differing in one band), they are the connected components of
:func:`linked` over every pair, each in its :func:`parts`.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import _tiers
import shoal.corroborate._grouping as grouping_module
from shoal.corroborate import (
    Event,
    Grouping,
    Report,
    Settings,
    Spot,
    close_in_place,
    close_in_time,
    instant,
    jaccard,
    linked,
    parts,
    pieces,
    same_picture,
)
from shoal.corroborate._text import ALIKE, NEAR, NEAR_ALONE, NEAR_APART

#: Metres in one degree of latitude on the sphere haversine measures on.
DEGREE_M = 6_371_000 * 3.141592653589793 / 180
LAT, LON = 49.99, 36.23  # Kharkiv
T0 = 1_780_000_000.0
PHOTO = 0x8F3A_51C2_0D77_E4B9
DEFAULT = Settings(window_s=6 * 3600, distance_m=2000)


def north(metres: float) -> float:
    return LAT + metres / DEGREE_M


def report(key: str, text: str = "", **fields: Any) -> Report:
    values: dict[str, Any] = {"source": f"source-{key}", "verified": True, "compartment": "a"}
    return Report(key, text=text, **(values | fields))


def partition(events: Iterable[Event]) -> frozenset[frozenset[str]]:
    return frozenset(frozenset(r.key for r in e.reports) for e in events)


# -- place, and the coarsening the sender chose ------------------------------


def test_places_3_km_apart_each_coarsened_to_10_km_cells_can_be_close() -> None:
    a = report("a", "вибух біля мосту", time=T0, spot=Spot(LAT, LON, 10_000))
    b = report("b", "вибух біля мосту", time=T0, spot=Spot(north(3000), LON, 10_000))
    assert close_in_place(a, b, DEFAULT) is True
    assert linked(a, b, DEFAULT)
    assert partition(Grouping.of([a, b], DEFAULT).events()) == {frozenset("ab")}


def test_exact_places_3_km_apart_are_not_within_2_km_whatever_the_words() -> None:
    a = report("a", "вибух біля мосту", time=T0, spot=Spot(LAT, LON, 0))
    b = report("b", "вибух біля мосту", time=T0, spot=Spot(north(3000), LON, 0))
    assert close_in_place(a, b, DEFAULT) is False
    assert not linked(a, b, DEFAULT)
    assert partition(Grouping.of([a, b], DEFAULT).events()) == {frozenset("a"), frozenset("b")}


def test_one_coarsened_place_reaches_as_far_as_half_its_cells_diagonal() -> None:
    # Distance 2 km, plus half the diagonal of a 2 km cell (1414 m).
    exact = report("a", time=T0, spot=Spot(LAT, LON, 0))
    reach = 2000 + 2000 * 2**0.5 / 2
    assert close_in_place(exact, report("b", spot=Spot(north(reach - 5), LON, 2000)), DEFAULT)
    assert not close_in_place(exact, report("b", spot=Spot(north(reach + 5), LON, 2000)), DEFAULT)


def test_a_degree_of_latitude_is_about_111_km() -> None:
    assert Spot(50, 30).distance_m(Spot(51, 30)) == pytest.approx(111_195, abs=1)
    assert Spot(50, 30).distance_m(Spot(50, 30)) == 0


# -- time ---------------------------------------------------------------------


def test_reports_outside_the_window_are_not_one_event_whatever_the_words() -> None:
    settings_ = Settings(window_s=3600, distance_m=2000)
    a = report("a", "вибух біля мосту", time=T0, spot=Spot(LAT, LON))
    inside = report("b", "вибух біля мосту", time=T0 + 3600, spot=Spot(LAT, LON))
    outside = report("c", "вибух біля мосту", time=T0 + 3601, spot=Spot(LAT, LON))
    assert close_in_time(a, inside, settings_) and linked(a, inside, settings_)
    assert close_in_time(a, outside, settings_) is False
    assert not linked(a, outside, settings_)


def test_reports_sent_hours_apart_in_the_window_need_words_more_alike() -> None:
    uk = "Обстріл Харкова, 22 вибухи біля заводу"
    ru = "Обстрел Харькова, 22 взрыва возле завода"
    assert NEAR < jaccard(pieces(uk), pieces(ru)) < ALIKE

    def linked_after(text: str, seconds: float) -> bool:
        a = report("a", uk, time=T0, spot=Spot(LAT, LON))
        return linked(a, report("b", text, time=T0 + seconds, spot=Spot(LAT, LON)), DEFAULT)

    # Within the hour the count in common is enough; past it the bar climbs
    # from there (NEAR) to ALIKE at the window's end (6 h here).
    assert linked_after(ru, 600) and linked_after(ru, 3600) and linked_after(ru, 2.5 * 3600)
    assert not linked_after(ru, 5 * 3600)  # two shellings of one town that day
    assert linked_after(uk, 6 * 3600)  # the same words: one event told again
    short = "Обстріл Харкова, 22 вибухи"
    assert 0.65 < jaccard(pieces(uk), pieces(short)) < 0.66
    assert linked_after(short, 5 * 3600) and not linked_after(short, 6 * 3600 - 60)
    # A bar above the climb's end stays where it is: facts at odds, late or not.
    other = ru.replace("22", "23")
    assert NEAR_ALONE < jaccard(pieces(uk), pieces(other)) < NEAR_APART
    assert not any(linked_after(other, hours * 3600) for hours in (0.2, 2, 5))
    # The bar climbs the whole way, from the hour to the window's end.
    climbing = [linked_after(ru, 3600 + step * 60) for step in range(0, 5 * 60, 5)]
    assert climbing == sorted(climbing, reverse=True) and not climbing[-1]


def test_closeness_is_unknown_not_false_without_a_time_or_a_place() -> None:
    a, b = report("a", time=T0, spot=Spot(LAT, LON)), report("b")
    assert close_in_time(a, b, DEFAULT) is None
    assert close_in_place(a, b, DEFAULT) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2026-11-23T05:40:00Z", 1_795_412_400.0),
        ("2026-11-23T07:40:00+02:00", 1_795_412_400.0),
        ("1970-01-01T00:00:00+00:00", 0.0),
        ("2026-11-23T05:40:00", None),  # no zone: no instant
        ("1969-12-31T23:59:59Z", None),
        ("3000-01-02T00:00:00Z", None),
        ("yesterday", None),
        (1_795_412_400, None),
        (None, None),
    ],
)
def test_instant_reads_only_a_zoned_iso_time_in_range(value: object, seconds: float | None) -> None:
    assert instant(value) == seconds


@pytest.mark.parametrize(
    ("window_s", "distance_m"), [(59, 2000), (31 * 86400, 2000), (3600, 9), (3600, 500_001)]
)
def test_settings_out_of_bounds_are_refused(window_s: float, distance_m: float) -> None:
    with pytest.raises(ValueError):
        Settings(window_s=window_s, distance_m=distance_m)


# -- words -----------------------------------------------------------------------


def test_close_in_time_and_place_a_little_alike_is_enough() -> None:
    uk = "Вибух у Харкові біля заводу, горить склад"
    ru = "Взрыв в Харькове возле завода, горит склад"
    assert NEAR <= jaccard(pieces(uk), pieces(ru)) < ALIKE  # the words alone would not do
    a = report("a", uk, time=T0, spot=Spot(LAT, LON))
    b = report("b", ru, time=T0 + 600, spot=Spot(north(500), LON))
    unrelated = report("c", "Черга на кордоні, пропускають повільно", time=T0, spot=Spot(LAT, LON))
    assert linked(a, b, DEFAULT)
    assert not linked(a, unrelated, DEFAULT)


def test_pictures_only_close_in_time_and_place_are_one_event() -> None:
    a = report("a", time=T0, spot=Spot(LAT, LON), dhash=(PHOTO,))
    b = report("b", time=T0 + 60, spot=Spot(LAT, LON), dhash=(~PHOTO & (2**64 - 1),))
    assert linked(a, b, DEFAULT)


# -- facts two reports give that disagree -----------------------------------------


def linked_close(a_text: str, b_text: str) -> bool:
    """Whether two reports with these words, 10 minutes and 300 m apart, are linked."""
    a = report("a", a_text, time=T0, spot=Spot(LAT, LON))
    b = report("b", b_text, time=T0 + 600, spot=Spot(north(300), LON))
    return linked(a, b, DEFAULT)


def test_close_reports_sharing_a_count_are_two_events_when_their_hours_differ() -> None:
    uk = "Колона техніки через Харків по Сумській, 12 машин, о 09:30"
    en = "Convoy of 12 vehicles through Kharkiv on Sumska"
    assert jaccard(pieces(uk), pieces(en + " at 11:10")) < ALIKE
    assert linked_close(uk, en + " at 09:50")  # witnesses round and guess
    assert not linked_close(uk, en + " at 11:10")
    assert linked_close(uk, en)  # a time only one gives says nothing


def test_close_reports_sharing_a_count_are_two_events_when_they_head_different_ways() -> None:
    uk = "Колона техніки через Харків по Сумській, 12 машин, рухається на північ"
    en = "Convoy of 12 vehicles through Kharkiv on Sumska heading"
    assert linked_close(uk, en + " north")
    assert not linked_close(uk, en + " south")


def test_a_single_digit_count_that_differs_keeps_two_checkpoints_apart() -> None:
    uk = "Блокпост на виїзді з міста, 6 військових"
    assert linked_close(uk, "Блокпост на выезде из города, 6 военных")
    assert not linked_close(uk, "Блокпост на выезде из города, 26 военных")


def test_a_count_in_common_of_two_kinds_of_thing_is_no_fact() -> None:
    uk = "Обстріл Харкова, 22 вибухи біля заводу"
    vehicles = "Обстріл Харкова, біля заводу 22 машини"
    assert NEAR_ALONE < jaccard(pieces(uk), pieces(vehicles)) < ALIKE
    assert linked_close(uk, "Обстрел Харькова, 22 взрыва возле завода")
    assert not linked_close(uk, vehicles)
    # A number beside no kind counts what its text speaks of ("машини").
    assert not linked_close(uk, "Обстріл Харкова, біля заводу машини, 22 шт")
    assert linked_close(uk, "Обстріл Харкова, біля заводу, 22 шт")


def test_close_reports_on_two_streets_are_two_events() -> None:
    uk = "Блокпост на Сумській, перевіряють документи"
    assert linked_close(uk, "Блокпост на Сумской, проверяют документы")
    soborna = "Блокпост на Соборній, перевіряють документи"
    assert NEAR_APART < jaccard(pieces(uk), pieces(soborna)) < ALIKE
    assert not linked_close(uk, soborna)
    # Russian translates the name: letters alone could not tell it is one street.
    assert linked_close("Блокпост на Героїв Праці", "Блокпост на Героев Труда, 6 военных")
    assert not linked_close("Блокпост на Героїв Праці", "Блокпост на Шевченко, 6 военных")


def test_reports_each_telling_what_the_other_does_not_need_more_alike_words() -> None:
    uk = "Вертольоти над Куп'янськом; 30 шт; 30 бортів на схід"
    other = "Куп'янськ, вертольоти, 20:30, низько над Перемоги"
    assert NEAR_ALONE < jaccard(pieces(uk), pieces(other)) < NEAR_APART
    assert not linked_close(uk, other)
    # A direction is one of eight: two events of one hour share one by chance.
    assert not linked_close(uk, other + ", на схід")
    assert linked_close(uk, other + ", на схід, 30")  # a count in common
    assert linked_close(uk + ", над Перемоги", other)  # a street in common
    assert linked_close(uk, "Куп'янськ, вертольоти над містом, низько")  # no facts at all


def chain_of_three() -> list[Report]:
    """Two reports of one shelling; a third, on another street, linked
    to the one that names no street only."""
    return [
        report("x", "Heard 39 blasts near Heroiv Pratsi st in Sloviansk. Houses damaged",
               time=T0, spot=Spot(LAT, LON)),
        report("y", "39 explosions. Houses damaged. Shelling in Sloviansk at 15:34",
               time=T0 + 600, spot=Spot(LAT, LON)),
        report("z", "Heard 39 blasts around 16:17 near Tsentralna st in Sloviansk, warehouse burns",
               time=T0 + 1200, spot=Spot(LAT, LON)),
    ]  # fmt: skip


def test_links_chaining_reports_at_odds_are_cut_where_the_words_are_least_alike() -> None:
    x, y, z = chain_of_three()
    assert linked(x, y, DEFAULT) and linked(y, z, DEFAULT) and not linked(x, z, DEFAULT)
    assert jaccard(x.shingles, y.shingles) > jaccard(y.shingles, z.shingles)
    assert parts([x, y, z], DEFAULT) == [["x", "y"], ["z"]]
    for order in itertools.permutations([x, y, z]):
        assert partition(Grouping.of(order, DEFAULT).events()) == {frozenset("xy"), frozenset("z")}
    # A report placed into the group is placed into its part.
    grouping = Grouping.of([x, y], DEFAULT)
    assert {r.key for r in grouping.place(z).reports} == {"z"}
    assert {r.key for r in grouping.event("y").reports} == {"x", "y"}


def test_a_picture_in_common_is_cut_last() -> None:
    _, _, z = chain_of_three()
    x = report("x", "Heard 39 blasts near Heroiv Pratsi st in Sloviansk", dhash=(PHOTO,))
    y = report("y", "Heard 39 blasts around 16:17 in Sloviansk", time=T0 + 600,
               spot=Spot(LAT, LON), dhash=(PHOTO,))  # fmt: skip
    assert jaccard(x.shingles, y.shingles) < jaccard(y.shingles, z.shingles)
    assert linked(x, y, DEFAULT) and linked(y, z, DEFAULT) and not linked(x, z, DEFAULT)
    assert parts([x, y, z], DEFAULT) == [["x", "y"], ["z"]]


def test_reports_each_giving_part_of_the_facts_stay_one_event() -> None:
    count = report(
        "a", "Колона техніки через Харків, 6 машин, на захід", time=T0, spot=Spot(LAT, LON)
    )
    plate = report(
        "b", "Колона техніки через Харків, номер на першій 2761", time=T0 + 300, spot=Spot(LAT, LON)
    )
    both = report("c", "Колонна техники через Харьков: 6 машин, номер на первой 2761",
                  time=T0 + 600, spot=Spot(LAT, LON))  # fmt: skip
    assert not linked(count, plate, DEFAULT)  # the count and the plate are at odds alone
    assert parts([count, plate, both], DEFAULT) == [["a", "b", "c"]]


def test_a_group_past_split_at_most_is_left_whole() -> None:
    x, y, z = chain_of_three()
    more = [
        report(f"y{i:02d}", y.text, time=T0 + 600 + i, spot=Spot(LAT, LON))
        for i in range(grouping_module.SPLIT_AT_MOST - 3)
    ]
    assert len(parts([x, y, z, *more], DEFAULT)) == 2
    whole = [x, y, z, *more, report("y99", y.text, time=T0 + 900, spot=Spot(LAT, LON))]
    assert parts(whole, DEFAULT) == [sorted(r.key for r in whole)]


@pytest.mark.parametrize(
    ("a_text", "b_text", "weak_text", "agreeing_text"),
    [
        (
            "25 вертольотів над Кривим Рогом о 00:29",
            "Вертольоти над Кривим Рогом, гул літаків, 25 шт",
            "Вертольоти над Кривим Рогом, гул літаків, о 06:52",
            "Вертольоти над Кривим Рогом, гул літаків, о 00:40",
        ),
        (
            "Блокпост на Сумській, 6 військових, перевіряють документи",
            "Блокпост, 6 военных, проверяют документы і телефони",
            "Блокпост, 6 военных, проверяют документы і телефони, Соборная",
            "Блокпост, 6 военных, проверяют документы і телефони, Сумская",
        ),
        (
            "Блокпост у Сумах, перевіряють документи і телефони",
            "Блокпост, проверяют документы и телефоны на выезде",
            "Бердянск. Блокпост, проверяют документы и телефоны на выезде",
            "Сумы. Блокпост, проверяют документы и телефоны на выезде",
        ),
    ],
    ids=["hours", "street", "town"],
)
def test_a_report_alone_joins_no_event_whose_other_reports_it_contradicts(
    a_text: str, b_text: str, weak_text: str, agreeing_text: str
) -> None:
    # b is the weak report's best match and does not say the fact; a,
    # linked to b, says another.
    a = report("a", a_text, time=T0, spot=Spot(LAT, LON))
    b = report("b", b_text, time=T0 + 60, spot=Spot(LAT, LON))
    weak = report("w", weak_text)
    assert linked(a, b, DEFAULT) and jaccard(weak.shingles, b.shingles) >= ALIKE
    for order in itertools.permutations([a, b, weak]):
        assert partition(Grouping.of(order, DEFAULT).events()) == {frozenset("ab"), frozenset("w")}
    agreeing = report("w", agreeing_text)
    assert partition(Grouping.of([a, b, agreeing], DEFAULT).events()) == {frozenset("abw")}


def test_reports_alone_joining_an_event_of_hundreds_are_each_checked_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A chain message: hundreds of copies of one photo, and copies of its
    # words with no time or place. Checking each of those against every
    # report of the event took 23 s for 1,000 joining 5,000.
    copies = [
        report(f"p{i}", f"Колона 12 машин о 14:{i % 60:02d}", time=T0 + i, spot=Spot(LAT, LON),
               dhash=(PHOTO,))
        for i in range(300)
    ]  # fmt: skip
    alone = [report(f"w{i}", f"Колона 12 машин о 14:{i % 60:02d}") for i in range(100)]
    grouping = Grouping.of(copies + alone, DEFAULT)
    calls = {"at_odds": 0, "of": 0}

    def counting(owner: object, name: str) -> None:
        real = getattr(owner, name)

        def counted(*args: Any) -> Any:
            calls[name] += 1
            return real(*args)

        monkeypatch.setattr(owner, name, counted)

    counting(grouping_module, "at_odds")
    counting(grouping_module._Told, "of")
    (event,) = grouping.events()
    assert len(event.reports) == 400
    # Each report alone is checked when it is named and when it is
    # gathered, against the event's facts read once.
    assert calls["at_odds"] <= 2 * len(alone)
    assert calls["of"] == 1


# -- no time or place: text and media only ---------------------------------------


def test_without_time_or_place_alike_words_group() -> None:
    text = "Колона техніки рухається на південь через міст, 12 машин"
    a = report("a", text)
    b = report("b", text + " і 2 бензовози")
    far = report("c", text, time=T0 + 30 * 86400, spot=Spot(LAT + 3, LON))  # only words speak
    assert jaccard(a.shingles, b.shingles) >= ALIKE
    assert partition(Grouping.of([a, b, far], DEFAULT).events()) == {frozenset("abc")}


def test_without_time_or_place_alike_words_about_two_towns_do_not_group() -> None:
    text = "Повреждена подстанция. Обесточивание. Инфа точная."
    a = report("a", "Сумы. " + text)
    assert jaccard(a.shingles, report("b", "Бердянск. " + text).shingles) >= ALIKE
    for town, grouped in [("Бердянск", False), ("в Сумах", True), ("Sumy", True)]:
        b = report("b", f"{town}. {text}")
        events = partition(Grouping.of([a, b], DEFAULT).events())
        assert (events == {frozenset("ab")}) is grouped, town


def test_without_time_or_place_a_little_alike_is_not_enough() -> None:
    a = report("a", "Вибух у Харкові біля заводу, горить склад")
    b = report("b", "Взрыв в Харькове возле завода, горит склад")
    assert not linked(a, b, DEFAULT)
    assert len(list(Grouping.of([a, b], DEFAULT).events())) == 2


def test_without_time_or_place_one_picture_or_file_groups() -> None:
    a = report("a", "Дивіться що тут", dhash=(PHOTO,))
    recoded = report("b", "Look at this", dhash=(PHOTO ^ 0b101101,))  # 4 bits off
    same_file = report("c", "Смотрите", sha256=("ab" * 32,))
    again = report("d", "", sha256=("ab" * 32, "cd" * 32))
    other = report("e", "Інше фото", dhash=(PHOTO ^ (2**40 - 1),))
    assert same_picture(a, recoded) and same_picture(same_file, again)
    assert not same_picture(a, other)
    assert partition(Grouping.of([a, recoded, same_file, again, other], DEFAULT).events()) == {
        frozenset("ab"),
        frozenset("cd"),
        frozenset("e"),
    }


def test_the_same_picture_weeks_apart_and_far_away_is_still_one_event() -> None:
    a = report("a", "Удар по школі", time=T0, spot=Spot(LAT, LON), dhash=(PHOTO,))
    b = report(
        "b", "Strike on a school", time=T0 + 20 * 86400, spot=Spot(46.6, 32.6), dhash=(PHOTO,)
    )
    assert linked(a, b, DEFAULT)


# -- the grouping itself ----------------------------------------------------------


def test_an_event_lists_its_reports_by_time_then_key_and_is_named_by_the_first() -> None:
    reports = [
        report("z", "вибух", time=T0 + 60, spot=Spot(LAT, LON)),
        report("m", "вибух"),
        report("y", "вибух", time=T0, spot=Spot(LAT, LON)),
        report("b", "вибух", sha256=("ab" * 32,)),
        report("a", "", time=T0 + 30, spot=Spot(LAT, LON), sha256=("ab" * 32,)),
    ]
    grouping = Grouping.of(reports, DEFAULT)
    event = grouping.event("m")
    assert event == grouping.event("z")
    assert [r.key for r in event.reports] == ["y", "a", "z", "b", "m"]
    assert event.key == "y"
    assert len(grouping) == 5 and "m" in grouping and "q" not in grouping


def test_placing_returns_the_event_the_report_joined() -> None:
    grouping = Grouping(DEFAULT)
    first = grouping.place(report("a", time=T0, spot=Spot(LAT, LON), dhash=(PHOTO,)))
    assert first == Event("a", (grouping.event("a").reports[0],))
    joined = grouping.place(report("b", time=T0 - 60, spot=Spot(LAT, LON)))
    assert joined.key == "b" and [r.key for r in joined.reports] == ["b", "a"]


def test_placing_the_same_report_again_is_harmless_and_a_changed_one_refused() -> None:
    grouping = Grouping(DEFAULT)
    a = report("a", "вибух", time=T0)
    grouping.place(a)
    assert grouping.place(report("a", "вибух", time=T0)).reports == (a,)
    assert len(grouping) == 1
    with pytest.raises(ValueError, match="changed"):
        grouping.place(report("a", "вибух", time=T0 + 1))


def test_every_report_is_in_exactly_one_event() -> None:
    rng = random.Random(13)
    reports = [
        report(
            str(i),
            rng.choice(["вибух", "колона", "черга", ""]),
            time=T0 + rng.randrange(0, 86400),
            spot=Spot(north(rng.randrange(0, 20_000)), LON, rng.choice([0, 1000])),
        )
        for i in range(_tiers.sized(300, 3000))
    ]
    keys = [r.key for e in Grouping.of(reports, DEFAULT).events() for r in e.reports]
    assert sorted(keys) == sorted(r.key for r in reports)


def one_event_either_way(a: Report, b: Report) -> bool:
    return all(len(list(Grouping.of(pair, DEFAULT).events())) == 1 for pair in ((a, b), (b, a)))


def test_reports_just_within_the_window_are_found_across_every_cell_edge() -> None:
    # Swept across two windows in 3-minute steps: wherever the index cuts
    # time into cells, some pairs straddle an edge.
    for step in range(0, 2 * 6 * 3600, 180):
        a = report("a", time=T0 + step, spot=Spot(LAT, LON))
        b = report("b", time=T0 + step + 6 * 3600 - 1, spot=Spot(LAT, LON))
        assert one_event_either_way(a, b)


@pytest.mark.parametrize("bearing", ["north", "east"])
def test_exact_places_just_within_the_distance_are_found_across_every_cell_edge(
    bearing: str,
) -> None:
    # Swept 10 km in 20 m steps: wherever the index cuts space into cells.
    for step in range(0, 10_000, 20):
        here = Spot(north(step), LON)
        there = (
            Spot(north(step + 1990), LON)
            if bearing == "north"
            else Spot(north(step), LON + 1990 / (DEGREE_M * math.cos(math.radians(here.lat))))
        )
        assert there.distance_m(here) < 2000
        a, b = report("a", time=T0, spot=here), report("b", time=T0, spot=there)
        assert one_event_either_way(a, b)


def first_missed(cell_m: int, short_m: float) -> int | None:
    """Swept 2 m at a time over 16 km (wherever the index cuts space into
    cells): a place coarsened to ``cell_m``, and an exact one ``short_m``
    short of the distance plus the coarsened place's slack. The first step
    where the two are not one event in either order, if any."""
    reach = 2000 + Spot(0, 0, cell_m).slack_m - short_m
    return next(
        (
            step
            for step in range(0, 16_000, 2)
            if not one_event_either_way(
                report("a", time=T0, spot=Spot(north(step), LON, cell_m)),
                report("b", time=T0, spot=Spot(north(step + reach), LON)),
            )
        ),
        None,
    )


@pytest.mark.parametrize("cell_m", [1414, 5656])
def test_coarsened_places_within_reach_are_found_across_every_cell_edge(cell_m: int) -> None:
    assert first_missed(cell_m, short_m=20) is None


@pytest.mark.parametrize("cell_m", [1414, 5656])
def test_coarsened_places_just_within_reach_are_found_across_every_cell_edge(cell_m: int) -> None:
    assert first_missed(cell_m, short_m=1) is None


# -- properties ---------------------------------------------------------------------

#: A few events' words in three languages; some pairs a little alike.
VOCABULARY = [
    "Вибух у Харкові біля заводу, горить склад",
    "Взрыв в Харькове возле завода, горит склад",
    "Explosion in Kharkiv near the plant, warehouse burning",
    "Колона техніки рухається на південь, 12 машин",
    "Колонна техники идёт к югу, 12 грузовиков",
    "Convoy of 12 vehicles heading south",
    "Черга на кордоні, пропускають повільно",
    "Light outage in the whole district since morning",
    "Вертольоти над містом о 06:52, летять на північ",
    "Helicopters over the town at 00:29 heading south, 12",
    "12 вибухів біля заводу на Сумській",
    "Блокпост на Соборній, 12 військових",
    "",
]
PHOTOS = [0x8F3A_51C2_0D77_E4B9, 0x1C44_9B0E_72A5_3F68, 0xE001_6D3B_C8F2_9A17]
SETTINGS = [Settings(600, 500), Settings(3600, 2000), Settings(6 * 3600, 7000)]


@st.composite
def reports(draw: st.DrawFn, free: bool) -> list[Report]:
    """Up to 25 reports about a few events near Kharkiv. ``free``: texts of
    random words, times and places given or not, and pictures with bits
    flipped anywhere; otherwise texts from VOCABULARY, time and place
    always, and pictures flipped in their lowest 16 bits only (so that the
    index always finds them)."""
    out = []
    for i in range(draw(st.integers(1, 25))):
        if free:
            text = " ".join(
                draw(st.lists(st.sampled_from(" ".join(VOCABULARY).split()), max_size=8))
            )
            flip = draw(st.integers(0, 2**64 - 1)) & draw(
                st.sampled_from([0, 1, 0x11, 0x1111, 2**64 - 1])
            )
        else:
            text = draw(st.sampled_from(VOCABULARY))
            flip = draw(st.sampled_from([0, 1, 0b110, 0b1011_0000]))
        # Not free: every report gives a time and a place (one without
        # either joins its best match only, which is not a link).
        has_time = not free or draw(st.booleans())
        has_spot = not free or draw(st.booleans())
        out.append(
            Report(
                key=f"r{i}",
                source=f"s{draw(st.integers(0, 5))}",
                verified=True,
                compartment="a",
                time=T0 + draw(st.integers(0, 12 * 3600)) if has_time else None,
                spot=Spot(
                    north(draw(st.integers(-15_000, 15_000))),
                    LON + draw(st.integers(-200, 200)) / 1000,
                    draw(st.sampled_from([0, 0, 100, 1000, 2828, 10_000, 50_000])),
                )
                if has_spot
                else None,
                text=text,
                sha256=draw(
                    st.sets(st.sampled_from(["ab" * 32, "cd" * 32]), max_size=1).map(tuple)
                ),
                dhash=tuple(p ^ flip for p in draw(st.sets(st.sampled_from(PHOTOS), max_size=1))),
            )
        )
    return out


def components(reports: list[Report], settings_: Settings) -> frozenset[frozenset[str]]:
    """The events by definition: components of ``linked`` over every pair,
    each in its :func:`parts` (cut where links chain reports at odds)."""
    parent = {r.key: r.key for r in reports}

    def root(k: str) -> str:
        while parent[k] != k:
            k = parent[k]
        return k

    for a, b in itertools.combinations(reports, 2):
        if linked(a, b, settings_):
            parent[root(a.key)] = root(b.key)
    groups: dict[str, list[Report]] = {}
    for r in reports:
        groups.setdefault(root(r.key), []).append(r)
    return frozenset(frozenset(part) for g in groups.values() for part in parts(g, settings_))


PROPERTY = settings(max_examples=_tiers.sized(60, 600), deadline=None)


@PROPERTY
@given(reports(free=True), st.sampled_from(SETTINGS), st.randoms(use_true_random=False))
def test_events_do_not_depend_on_the_order_reports_arrive_in(
    found: list[Report], settings_: Settings, rng: random.Random
) -> None:
    grouping = Grouping(settings_)
    for r in found:  # placed one by one, as a desk does when each arrives
        event = grouping.place(r)
        assert r in event.reports
        assert event == grouping.event(r.key)
    shuffled = found[:]
    rng.shuffle(shuffled)
    assert partition(grouping.events()) == partition(Grouping.of(shuffled, settings_).events())
    keys = [r.key for e in grouping.events() for r in e.reports]
    assert sorted(keys) == sorted(r.key for r in found)  # each in exactly one event


@PROPERTY
@given(reports(free=False), st.sampled_from(SETTINGS))
def test_events_of_reports_with_time_and_place_are_the_parts_of_components_of_linked(
    found: list[Report], settings_: Settings
) -> None:
    assert partition(Grouping.of(found, settings_).events()) == components(found, settings_)
