"""SQLite's writers queue on the writer lock instead of polling for the
file lock (store/_database.py): from many threads and several processes,
every transaction lands, none needs SQLite's busy handler, and a failed
transaction lets the next writer in.

The busy handler is switched off here (``busy_timeout=0``): a writer that
found SQLite's lock taken would fail at once with "database is locked",
so no error means no writer ever had to poll.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import IntegrityError

from shoal.store import create_db_engine, migrate, schema, session_factory

_WRITER = """
import sys
from datetime import date
from sqlalchemy import event
from shoal.store import create_db_engine, schema, session_factory
engine = create_db_engine(sys.argv[1])
event.listen(engine, "connect", lambda c, _r: c.execute("PRAGMA busy_timeout=0"))
first = int(sys.argv[2])
with session_factory(engine)() as db:
    for n in range(first, first + 200):
        db.add(schema.SpentForm(id_hash=n.to_bytes(32, "big"), day=date.today()))
        db.commit()
engine.dispose()
"""


def _impatient(url: str) -> Engine:
    engine = create_db_engine(url)
    event.listen(engine, "connect", lambda c, _r: c.execute("PRAGMA busy_timeout=0"))
    return engine


def _count(engine: Engine) -> int:
    with session_factory(engine)() as db:
        return int(db.scalar(select(func.count()).select_from(schema.SpentForm)) or 0)


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'shoal.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    engine.dispose()
    return url


def test_threads_and_processes_all_land_without_polling(url: str) -> None:
    engine = _impatient(url)
    try:
        errors: list[BaseException] = []

        def write(first: int) -> None:
            try:
                with session_factory(engine)() as db:
                    for n in range(first, first + 100):
                        db.add(schema.SpentForm(id_hash=n.to_bytes(32, "big"), day=date.today()))
                        db.commit()
            except BaseException as exc:  # reported below
                errors.append(exc)

        others = [
            subprocess.Popen([sys.executable, "-c", _WRITER, url, str(100_000 * (p + 1))])
            for p in range(2)
        ]
        threads = [threading.Thread(target=write, args=(1000 * t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [p.wait(timeout=120) for p in others] == [0, 0]
        assert errors == []
        assert _count(engine) == 8 * 100 + 2 * 200
    finally:
        engine.dispose()


def test_a_failed_transaction_lets_the_next_writer_in(url: str) -> None:
    engine = _impatient(url)
    try:
        sessions = session_factory(engine)
        with sessions() as db:
            db.add(schema.SpentForm(id_hash=bytes(32), day=date.today()))
            db.commit()
            db.add(schema.SpentForm(id_hash=bytes(32), day=date.today()))
            with pytest.raises(IntegrityError):
                db.commit()
        done = threading.Event()

        def other() -> None:
            with sessions() as db:
                db.add(schema.SpentForm(id_hash=b"\x01" * 32, day=date.today()))
                db.commit()
            done.set()

        threading.Thread(target=other, daemon=True).start()
        assert done.wait(10), "the writer lock was not released after the rollback"
        assert _count(engine) == 2
    finally:
        engine.dispose()
