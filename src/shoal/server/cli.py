"""``shoal serve`` and ``shoal admin``: thin shells over ``_app`` and ``_admin``."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import ipaddress
import sys
from pathlib import Path
from typing import Any

import click

from ._admin import import_notes, init_data_dir, migrate_database
from ._clock import utc_now
from ._config import Backend
from .errors import ServerError

DATA_OPTION = click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The server's data directory.",
)

# What the server logs: warnings and errors of its own and uvicorn's, no
# access log, no timestamps (a timed error line beside a contact's upload
# is metadata), and python-multipart silenced (its parse errors quote body
# bytes; ``_multipart.py`` also gives each parser a silent logger).
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        "shoal.server": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "python_multipart": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}


PR_SET_DUMPABLE = 4  # <linux/prctl.h>


def _no_core_dumps() -> None:
    """Keep this process's memory off the disk and away from other processes.

    A core dump would write in-flight plaintext and codenames to disk; a
    process that is not dumpable also cannot be ptrace-attached or have its
    ``/proc/<pid>/mem`` read by others of the same user. Best effort and
    silent: a platform without either still serves.
    """
    # ``resource`` is POSIX only: imported here so the CLI still loads elsewhere.
    with contextlib.suppress(ImportError, OSError, ValueError):
        import resource  # noqa: PLC0415

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError, TypeError):
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.group()
def admin() -> None:
    """The server operator: data directory, database migrations, importing signed notes."""


@admin.command("init")
@DATA_OPTION
@click.option("--root-key", required=True, help="The organization's root verifier key.")
@click.option("--database", default=None, help="SQLAlchemy URL (default: SQLite in --data).")
@click.option(
    "--blobs",
    type=click.Choice(["filesystem", "database"]),
    default="filesystem",
    show_default=True,
    help="Where ciphertext is stored (for S3, edit [blobs] in server.toml after init).",
)
def init(data_dir: Path, root_key: str, database: str | None, blobs: Backend) -> None:
    """Create a data directory for an organization (writes DATA/server.toml)."""
    try:
        config = init_data_dir(data_dir, root_key, database, blobs=blobs)
    except ServerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {config}")


@admin.command("migrate")
@DATA_OPTION
def migrate_command(data_dir: Path) -> None:
    """Bring the database to the schema this version of Shoal needs.

    Run it after upgrading Shoal, with the server stopped: ``shoal serve``
    refuses a database at another schema.
    """
    try:
        before, after = migrate_database(data_dir)
    except ServerError as exc:
        raise click.ClickException(str(exc)) from None
    if before == after:
        click.echo(f"database already at {after}")
    else:
        click.echo(f"database migrated from {before or 'none'} to {after}")


@admin.command("import")
@DATA_OPTION
@click.argument(
    "note_files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
def import_command(data_dir: Path, note_files: tuple[Path, ...]) -> None:
    """Verify and store signed notes (organization, command keys, epochs)."""
    try:
        lines = import_notes(data_dir, note_files, now=utc_now())
    except ServerError as exc:
        raise click.ClickException(str(exc)) from None
    for line in lines:
        click.echo(line)


@click.command()
@DATA_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--public",
    is_flag=True,
    help="Allow a non-loopback address (normally a Tor onion service or proxy is in front).",
)
def serve(data_dir: Path, host: str, port: int, public: bool) -> None:
    """Run the intake server."""
    # First, before the data directory's keys or any request is in memory.
    _no_core_dumps()
    # Imported here: the web stack costs every other ``shoal`` command ~1 s.
    import uvicorn  # noqa: PLC0415

    from ._app import create_app  # noqa: PLC0415

    if not _is_loopback(host) and not public:
        raise click.ClickException(
            f"refusing to listen on {host}, which is not loopback: put Tor or a proxy in "
            "front on this machine, or pass --public"
        )
    try:
        app = create_app(data_dir)
    except ServerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"shoal serve: http://{host}:{port}/ (data: {data_dir})", err=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
        log_config=LOG_CONFIG,
        proxy_headers=False,
        server_header=False,
    )
