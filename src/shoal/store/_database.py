"""Opening the database: engine, SQLite settings, migrations.

SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL``
(a commit that returned is on disk: "nothing acknowledged is ever lost"),
``secure_delete`` (deleted rows are overwritten, not left in free pages)
and foreign keys on. PostgreSQL needs none of this. No SQLite-only SQL is
used anywhere else.

SQLite lets one writer in at a time, and a writer that finds the file
locked polls: its busy handler sleeps 1, 2, 5, … up to 100 ms between
tries. Under 16 concurrent submissions that polling was most of the
latency (p99 1.2 s, 126 messages/s, ``bench/intake.py``). So writers queue
on :class:`_WriterLock` first: a thread lock in the process and an
``flock`` on a file beside the database across processes (several
``shoal serve`` workers or nodes), both of which wake the next writer the
moment the last one is done. SQLite's own lock is then always free when a
writer asks, and the busy handler stays as the last resort it was meant to be.
"""

from __future__ import annotations

import fcntl
import os
import threading
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

from .errors import SchemaOutdatedError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        "secure_delete=ON",
        "foreign_keys=ON",
        "busy_timeout=10000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class _WriterLock:
    """One SQLite writer at a time, without polling (see the module doc).

    Taken just before a connection's first writing statement (where pysqlite
    begins its transaction, so this lock spans exactly SQLite's own) and
    released once that transaction's commit or rollback has returned.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._fd = -1
        self._pid = -1

    def _file(self) -> int:
        # An flock belongs to an open file description, which a forked
        # worker would share with its parent: each process opens its own.
        if self._fd < 0 or self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> None:
        self._lock.acquire()
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX)
        except BaseException:
            self._lock.release()
            raise

    def release(self) -> None:
        try:
            fcntl.flock(self._file(), fcntl.LOCK_UN)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Let go of the lock file (an engine disposed of; reopened if it is
        used again), so that nothing holds the database's directory."""
        with self._lock:
            if self._fd >= 0 and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = -1

    def install(self, engine: Engine) -> None:
        # The statement hook sees the DBAPI connection, the dialect's commit
        # and rollback the pool's proxy of it: the DBAPI one marks a writer
        # (by id: sqlite3's connections take no attributes; a connection
        # lives while its transaction does).
        writers: set[int] = set()
        dialect = engine.dialect

        @event.listens_for(engine, "before_cursor_execute")
        def _before(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
            dbapi = id(cursor.connection)
            if dbapi not in writers and statement.lstrip()[:7].upper().startswith(_WRITES):
                self.acquire()
                writers.add(dbapi)

        def _done(connection: Any, *_args: Any) -> None:
            dbapi = id(getattr(connection, "dbapi_connection", connection))
            if dbapi in writers:
                writers.discard(dbapi)
                self.release()

        def _ending(end: Any) -> Any:
            def ended(dbapi_connection: Any) -> None:
                try:
                    end(dbapi_connection)
                finally:
                    _done(dbapi_connection)

            return ended

        # A connection closed or invalidated in a transaction (no rollback
        # reaches the dialect then) must not keep the lock for ever.
        event.listen(engine, "close", _done)
        event.listen(engine, "invalidate", _done)
        event.listen(engine, "engine_disposed", lambda _engine: self.close())
        dialect.do_commit = _ending(dialect.do_commit)  # type: ignore[method-assign]
        dialect.do_rollback = _ending(dialect.do_rollback)  # type: ignore[method-assign]


#: SQLite connections kept open: as many as the server's thread pool (40)
#: can use at once. With SQLAlchemy's 5 (+10 made and closed on demand),
#: a loaded server kept opening connections, each paying for its PRAGMAs.
_SQLITE_POOL = 40


def create_db_engine(url: str) -> Engine:
    on_file = url.startswith("sqlite") and ":memory:" not in url and url != "sqlite://"
    pool: dict[str, Any] = (
        {"pool_size": _SQLITE_POOL, "max_overflow": 10, "pool_use_lifo": True} if on_file else {}
    )
    engine = create_engine(url, pool_pre_ping=True, **pool)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        database = engine.url.database
        if database and database != ":memory:":
            _WriterLock(database + "-writer.lock").install(engine)
    return engine


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("shoal.store") / "migrations"))
    return config


def head_revision() -> str:
    """The newest migration this version of Shoal knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise SchemaOutdatedError("no migrations are installed")
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (``None``: an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_newest_schema(engine: Engine) -> None:
    """Refuse a database that is not at :func:`head_revision`: a server
    must never write rows of one schema into tables of another."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutdatedError(
            f"the database is at migration {current or 'none'}, this version needs {head}: "
            "run 'shoal admin migrate'"
        )


def _transactional_ddl(engine: Engine) -> Engine:
    """An engine on the same SQLite file whose transactions hold DDL too.

    pysqlite commits before each CREATE, ALTER or DROP, so a migration
    that failed halfway would leave half a schema behind, still labelled
    with the old revision. SQLAlchemy's recipe for pysqlite: the driver
    leaves transactions alone and each one starts with our own BEGIN
    (IMMEDIATE: no other process writes while the schema changes). Used
    for migrations only; requests keep the driver's default.
    """
    ddl = create_engine(engine.url, poolclass=NullPool)

    @event.listens_for(ddl, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        _sqlite_pragmas(dbapi_connection, record)
        dbapi_connection.isolation_level = None

    @event.listens_for(ddl, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return ddl


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest), all of it or none."""
    config = _alembic_config()
    sqlite = engine.dialect.name == "sqlite"
    runner = _transactional_ddl(engine) if sqlite else engine
    try:
        with runner.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if sqlite:
            runner.dispose()


def session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)
