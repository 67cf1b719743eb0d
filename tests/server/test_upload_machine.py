"""The resumable upload's machine alone (``_uploads.MACHINE``): every
stage and event, and how a stage follows from what the database holds."""

from __future__ import annotations

import pytest

from shoal.server._uploads import MACHINE, Action, Event, Progress, Stage, decide

RECEIVING = Progress("a" * 32, size=100, received=40, item=None)
COMPLETE = Progress("a" * 32, size=100, received=100, item=None)
FINISHED = Progress("a" * 32, size=100, received=100, item="a" * 32)


def test_every_pair_is_decided() -> None:
    assert set(MACHINE) == {(stage, event) for stage in Stage for event in Event}


@pytest.mark.parametrize(
    ("progress", "event", "action"),
    [
        (RECEIVING, Event.APPEND, Action.WRITE),
        (RECEIVING, Event.APPEND_ELSEWHERE, Action.RESUME),
        (RECEIVING, Event.FINISH, Action.RESUME),
        (COMPLETE, Event.APPEND, Action.WRITE),
        (COMPLETE, Event.APPEND_ELSEWHERE, Action.RESUME),
        (COMPLETE, Event.FINISH, Action.FILE),
        (FINISHED, Event.APPEND, Action.ANSWER),
        (FINISHED, Event.APPEND_ELSEWHERE, Action.RESUME),
        (FINISHED, Event.FINISH, Action.ANSWER),
    ],
)
def test_each_stage_and_event(progress: Progress, event: Event, action: Action) -> None:
    assert decide(progress, event) is action


def test_the_stage_follows_from_the_row() -> None:
    assert RECEIVING.stage is Stage.RECEIVING
    assert COMPLETE.stage is Stage.COMPLETE
    assert FINISHED.stage is Stage.FINISHED
    assert Progress("a" * 32, size=1, received=0, item=None).stage is Stage.RECEIVING


@pytest.mark.parametrize(
    ("offset", "event"),
    [
        (40, Event.APPEND),
        (0, Event.APPEND_ELSEWHERE),
        (39, Event.APPEND_ELSEWHERE),
        (41, Event.APPEND_ELSEWHERE),
        (100, Event.APPEND_ELSEWHERE),
    ],
)
def test_a_put_appends_only_where_the_upload_is(offset: int, event: Event) -> None:
    assert RECEIVING.put(offset) is event
