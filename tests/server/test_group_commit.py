"""Group commit: many requests' rows in one transaction, each request's
failure its own, and nothing answered before its commit."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from shoal.server._group_commit import GroupCommit
from shoal.store import create_db_engine, migrate, schema, session_factory


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'shoal.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def _spend(n: int) -> schema.SpentForm:
    return schema.SpentForm(id_hash=n.to_bytes(32, "big"), day=date.today())


def _writing(n: int) -> Callable[[Session], int]:
    def write(db: Session) -> int:
        db.add(_spend(n))
        db.flush()
        return n

    return write


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as db:
        return int(db.scalar(select(func.count()).select_from(schema.SpentForm)) or 0)


def test_concurrent_works_share_commits_and_all_land(engine: Engine) -> None:
    sessions = session_factory(engine)
    commits = 0

    @event.listens_for(engine, "commit")
    def _counted(_conn: object) -> None:
        nonlocal commits
        commits += 1

    group = GroupCommit(sessions)

    async def main() -> list[int]:
        return await asyncio.gather(*(group.run(_writing(n)) for n in range(200)))

    assert asyncio.run(main()) == list(range(200))
    assert _count(sessions) == 200
    # Batched: far fewer commits than works (each one alone would be 200).
    assert commits < 100


def test_a_failing_work_fails_alone(engine: Engine) -> None:
    sessions = session_factory(engine)
    group = GroupCommit(sessions)
    with sessions() as db:
        db.add(_spend(7))
        db.commit()

    async def main() -> list[object]:
        # n = 7 collides with the row above, in a batch with the others.
        return await asyncio.gather(
            *(group.run(_writing(n)) for n in range(20)), return_exceptions=True
        )

    results = asyncio.run(main())
    failed = [r for r in results if isinstance(r, Exception)]
    assert len(failed) == 1 and "UNIQUE" in str(failed[0])
    assert [r for r in results if not isinstance(r, Exception)] == [n for n in range(20) if n != 7]
    assert _count(sessions) == 20  # the 19 and the one that was there


def test_a_cancelled_request_still_gets_its_committed_result(engine: Engine) -> None:
    """A caller that discards its blobs on failure must never do so for
    rows that were committed: cancellation waits for the outcome."""
    sessions = session_factory(engine)
    group = GroupCommit(sessions)
    started, release = threading.Event(), threading.Event()

    def slow(db: Session) -> str:
        started.set()
        release.wait(10)
        db.add(_spend(1))
        db.flush()
        return "committed"

    async def main() -> str:
        task = asyncio.create_task(group.run(slow))
        await asyncio.to_thread(started.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)
        release.set()
        return await task

    assert asyncio.run(main()) == "committed"
    assert _count(sessions) == 1
