"""The field client's pure parts: place coarsening, the outbox's timing,
and the items it seals (signed, with the epoch inside)."""

from __future__ import annotations

import io
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoal import crypto, org
from shoal.field import _outbox, _reports
from shoal.field._place import METRES_PER_DEGREE, place

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

latitudes = st.floats(min_value=-85, max_value=85, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)
cells = st.sampled_from([10, 100, 250, 1000, 5000, 50_000])


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Equirectangular distance: exact enough at cell scale."""
    mean = math.radians((a[0] + b[0]) / 2)
    dlat = (a[0] - b[0]) * METRES_PER_DEGREE
    dlon = (a[1] - b[1]) * METRES_PER_DEGREE * math.cos(mean)
    return math.hypot(dlat, dlon)


@given(latitudes, longitudes, cells)
def test_a_coarsened_place_is_its_cells_centre_and_near_the_point(
    lat: float, lon: float, cell: int
) -> None:
    coarse = place(lat, lon, cell)
    assert coarse.cell_m == cell
    # Within the cell: half a diagonal, with slack for rounding to 1e-6°.
    assert _metres((lat, lon), (coarse.lat, coarse.lon)) <= cell * 0.75 + 0.2
    # The centre is its own cell's centre: coarsening twice changes nothing.
    assert place(coarse.lat, coarse.lon, cell) == coarse


@given(latitudes, longitudes, cells, st.floats(0, 1), st.floats(0, 1))
def test_every_point_of_a_cell_gives_the_same_answer(
    lat: float, lon: float, cell: int, du: float, dv: float
) -> None:
    """Nothing of the exact place survives: a nearby point in the same cell
    is indistinguishable."""
    coarse = place(lat, lon, cell)
    step = cell / METRES_PER_DEGREE / 4
    other = place(coarse.lat + (du - 0.5) * step, coarse.lon + (dv - 0.5) * step * 0.9, cell)
    if abs(coarse.lat) < 80:
        assert other == coarse


def test_exact_places_are_kept_to_a_micro_degree_and_checked() -> None:
    assert place(50.450123456, 30.5234, 0).lat == 50.450123
    for bad in ((91, 0), (0, 181), (math.nan, 0)):
        with pytest.raises(ValueError, match=r"latitude|longitude"):
            place(*bad)
    with pytest.raises(ValueError, match="grid cell"):
        place(0, 0, 5)


def test_the_outbox_waits_a_random_delay_then_backs_off_to_an_hour() -> None:
    rng = random.Random(7)
    parts = (_outbox.Part("a" * 32, "sealed/x"),)
    entry = _outbox.queued("r" * 32, 1, parts, now=NOW, delay=(60, 1200), rng=rng)
    assert NOW + timedelta(seconds=60) <= entry.not_before <= NOW + timedelta(seconds=1200)
    assert not entry.due(NOW) and entry.due(NOW, ignore_delay=True)
    waits = []
    for _ in range(12):
        entry = _outbox.offline(entry, NOW, rng)
        waits.append(entry.not_before - NOW)
    assert waits[0] <= timedelta(seconds=45) and waits[-1] <= timedelta(hours=1.5)
    assert waits[-1] >= timedelta(minutes=30)
    assert _outbox.Entry.from_json(entry.to_json()) == entry


def test_a_refused_entry_is_held_until_released() -> None:
    rng = random.Random(1)
    parts = (_outbox.Part("a" * 32, "sealed/x"), _outbox.Part("b" * 32, "sealed/y"))
    entry = _outbox.queued("r" * 32, 1, parts, now=NOW, delay=(0, 0), rng=rng)
    entry = _outbox.confirmed(entry, "a" * 32, "c" * 32)
    assert not entry.done
    held = _outbox.refused(entry, "too large")
    assert not held.due(NOW, ignore_delay=True)
    again = _outbox.released(held, NOW)
    assert again.due(NOW) and again.parts[0].item == "c" * 32  # confirmed parts stay so
    assert _outbox.confirmed(again, "b" * 32, "d" * 32).done


def _epoch(recipients: list[crypto.AgeRecipient]) -> org.Epoch:
    handler = org.HandlerEntry("h" * 32, recipients[0], crypto.SigningKey.generate().verify_key)
    return org.Epoch(
        org_id="o" * 32,
        compartment_id="c" * 32,
        door="news",
        number=3,
        expires=NOW + timedelta(days=30),
        handlers=(handler,),
    )


def test_a_report_is_signed_with_its_epoch_and_compartment_inside() -> None:
    identity = crypto.generate_identity(crypto.KeyType.X25519)
    epoch = _epoch([identity.recipient()])
    member = crypto.SigningKey.generate()
    header = _reports.report_header(epoch, NOW, "r" * 32, 2, place(50.45, 30.52, 1000))
    sink = io.BytesIO()
    _reports.seal(sink, epoch, header, [b"seen ", b"at dawn"], member)
    envelope, content = crypto.decrypt_item(sink.getvalue(), [identity])
    assert content == b"seen at dawn"
    assert envelope.signer == member.verify_key
    assert envelope.header["epoch"] == 3 and envelope.header["compartment"] == "c" * 32
    assert envelope.header["time"] == "2026-11-23T12:00:00Z"
    assert envelope.header["place"]["cell_m"] == 1000
    assert envelope.header["kind"] == "report" and envelope.header["parts"] == 2


def test_a_key_offer_names_the_key_that_signs_it() -> None:
    identity = crypto.generate_identity(crypto.KeyType.X25519)
    epoch = _epoch([identity.recipient()])
    member = crypto.SigningKey.generate()
    sink = io.BytesIO()
    _reports.seal(sink, epoch, _reports.key_header(epoch, NOW, member.verify_key), [], member)
    envelope, _ = crypto.decrypt_item(sink.getvalue(), [identity])
    assert envelope.header["key"] == _reports.public_key_text(member.verify_key)
    assert envelope.signer == member.verify_key
