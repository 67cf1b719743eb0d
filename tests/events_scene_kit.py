"""The scene the events tests share: reports of one tank crossing, told in
two languages, a photo passed on, and two unrelated reports; and the line
corroboration gives for it (tests/desk/test_desk_events_pages.py drives it
through the Workbench, tests/browser/test_desk_events.py through Chromium)."""

from __future__ import annotations

import io

from PIL import Image

TANKS = "05:40 Kyiv, Podil: two T-72 tanks crossed the bridge, heading north"
#: The same, as a Ukrainian member wrote it: alike only a little (names, numbers).
TANKS_UK = "05:40 Київ, Поділ: два танки T-72 перейшли міст, рухались на північ"
PHOTO_NOTE = "Photo a neighbour sent me this morning"
FIRE = "Fire at the grain warehouse in Bila Tserkva after the strike"
POWER = "Power is out in our street since the morning, no water either"
HEADLINE = (
    "4 reports from 4 sources, 2 independent: the same photo came from 2 of them; "
    "the same text came from 2 of them"
)


def photo(seed: int = 3) -> bytes:
    """A PNG with a pattern of its own (unrelated seeds: far difference hashes)."""
    image = Image.new("RGB", (96, 64))
    image.putdata(
        [((x * seed) % 251, (y * 7 + seed) % 251, (x * y + seed) % 251) for y in range(64)
         for x in range(96)]
    )  # fmt: skip
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
