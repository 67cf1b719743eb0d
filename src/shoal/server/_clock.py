"""Time, passed in explicitly so that expiry can be tested.

The server stores days, never times (DESIGN.md, "What the server's disk may
show"); exact times exist only inside ciphertext.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()
