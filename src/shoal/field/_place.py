"""Where a report happened, coarsened on the device before anything is stored.

A precise place can name the member as surely as a signature: the flat
they report from, the checkpoint they pass each morning. So the member
chooses how precise to be, and the coarsening happens before the place is
sealed — the exact coordinates are never written anywhere.

Cells are a fixed grid of roughly square cells of ``cell_m`` metres: rows
of equal latitude height, each row cut into as many equal cells as fit its
length at the row's middle. Every point of a cell gives the same answer
(the cell's centre), so nothing of the exact place survives, and two
reports in one cell show the same coordinates: the desk can group them
(issue #13) without learning more than the senders chose to tell. Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Metres per degree of latitude (mean): precise enough for cells of tens
#: of metres and more, which is all coarsening needs.
METRES_PER_DEGREE = 111_320.0
MIN_CELL_M = 10
MAX_CELL_M = 1_000_000


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    #: 0: exactly as given; else the centre of a grid cell of that size.
    cell_m: int = 0

    def header(self) -> dict[str, float | int]:
        return {"lat": self.lat, "lon": self.lon, "cell_m": self.cell_m}


def place(lat: float, lon: float, cell_m: int = 0) -> Place:
    """The place to store: ``(lat, lon)`` itself, or its cell's centre."""
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise ValueError("latitude must be between -90 and 90")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise ValueError("longitude must be between -180 and 180")
    if cell_m == 0:
        return Place(round(lat, 6), round(lon, 6), 0)
    if not MIN_CELL_M <= cell_m <= MAX_CELL_M:
        raise ValueError(f"a grid cell is {MIN_CELL_M} to {MAX_CELL_M:,} metres")
    lat_step = cell_m / METRES_PER_DEGREE
    rows = max(1, math.floor(180 / lat_step))
    row = min(rows - 1, math.floor((lat + 90) / (180 / rows)))
    centre_lat = -90 + (row + 0.5) * (180 / rows)
    row_length = 360 * METRES_PER_DEGREE * math.cos(math.radians(centre_lat))
    columns = max(1, math.floor(row_length / cell_m))
    column = min(columns - 1, math.floor((lon + 180) / (360 / columns)))
    centre_lon = -180 + (column + 0.5) * (360 / columns)
    return Place(round(centre_lat, 6), round(centre_lon, 6), cell_m)
