"""``shoal serve`` and ``shoal admin``: thin shells over ``_app`` and ``_admin``."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import ipaddress
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._admin import import_notes, init_data_dir, migrate_database
from ._clock import utc_now
from ._config import Backend
from .errors import ServerError

if TYPE_CHECKING:
    from ._config import ServerConfig
    from ._listeners import Listener
    from ._onion import Published

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


@admin.command("onion-client")
@DATA_OPTION
@click.argument("name")
@click.argument("key", required=False)
@click.option("--remove", is_flag=True, help="Take the client's access away (from the next start).")
def onion_client(data_dir: Path, name: str, key: str | None, remove: bool) -> None:
    """Let a desk reach the handlers' onion address (Tor client authorization).

    KEY is the public line `shoal desk onion-auth` printed on the desk
    (descriptor:x25519:...). The first client makes `shoal serve --onion`
    publish the handlers' address, which then refuses everyone else, and
    the contact addresses stop serving the handler API.
    """
    from ._onion import add_client, remove_client  # noqa: PLC0415

    try:
        if remove:
            remove_client(data_dir, name)
            click.echo(f"client {name} removed: restart shoal serve --onion")
            return
        if key is None:
            raise click.UsageError("give the client's KEY (or --remove)")
        path = add_client(data_dir, name, key)
    except ServerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"client {name} added ({path}): restart shoal serve --onion")


@click.command()
@DATA_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--public",
    is_flag=True,
    help="The main address faces the clear web (itself or through a proxy): serve the "
    "contact side there and send Onion-Location. Needed for a non-loopback --host.",
)
@click.option(
    "--onion",
    is_flag=True,
    help="Publish onion services through a tor Shoal starts (keys in DATA/onion, encrypted).",
)
@click.option(
    "--onion-passphrase-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="The onion keys' passphrase (first line); asked for if not given. Keep the file "
    "off the data directory's disk (a systemd credential, a RAM disk).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes sharing the sockets: one per core is the fastest (docs/benchmarks.md).",
)
@click.option(
    "--header-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0.5, max=3600),
    help="Seconds a request's headers may take to arrive (slowloris): then 408, closed.",
)
@click.option(
    "--body-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0.5, max=3600),
    help="Seconds a request's body may pause; past them, it must also average 500 bytes/s.",
)
def serve(
    data_dir: Path,
    *,
    host: str,
    port: int,
    public: bool,
    onion: bool,
    onion_passphrase_file: Path | None,
    workers: int,
    header_timeout: float,
    body_timeout: float,
) -> None:
    """Run the intake server."""
    # First, before the data directory's keys or any request is in memory.
    _no_core_dumps()
    # Imported here: the web stack costs every other ``shoal`` command ~1 s.
    import uvicorn  # noqa: PLC0415

    from ._app import create_app  # noqa: PLC0415
    from ._config import load_config  # noqa: PLC0415
    from ._deadlines import KEEP_ALIVE_SECONDS, Deadlines  # noqa: PLC0415
    from ._workers import run_workers  # noqa: PLC0415

    if not _is_loopback(host) and not public:
        raise click.ClickException(
            f"refusing to listen on {host}, which is not loopback: put Tor or a proxy in "
            "front on this machine, or pass --public"
        )

    try:
        shared = workers > 1
        main = _bound_socket(host, port, shared=shared)
        onion_setup = (
            _OnionSetup.prepare(data_dir, onion_passphrase_file, shared=shared) if onion else None
        )
        listeners = {
            main.getsockname()[1]: _main_listener(data_dir, public, onion_setup),
            **(onion_setup.listeners if onion_setup else {}),
        }
        # With workers, each builds its own after the fork (see _workers),
        # and the configuration is checked here first; alone, the app is
        # built before anything is printed. Either way a bad data directory
        # fails with its message, not a worker's traceback.
        app = create_app(data_dir, listeners=listeners) if workers == 1 else None
        if app is None:
            load_config(data_dir)
    except ServerError as exc:
        raise click.ClickException(str(exc)) from None
    sockets = [main, *(onion_setup.sockets if onion_setup else [])]

    def run() -> None:
        own = sockets
        if shared:  # a forked worker: sockets of its own on the same ports
            own = [_bound_socket(*s.getsockname()[:2], shared=True) for s in sockets]
        built = app if app is not None else create_app(data_dir, listeners=listeners)
        uvicorn.Server(
            uvicorn.Config(
                built,
                # Headers and bodies that take too long end the connection
                # (uvicorn alone would wait on them forever).
                http=Deadlines(header_timeout, body_timeout).protocol(),
                timeout_keep_alive=KEEP_ALIVE_SECONDS,
                access_log=False,
                log_level="warning",
                log_config=LOG_CONFIG,
                proxy_headers=False,
                server_header=False,
            )
        ).run(sockets=own)

    # uvicorn re-raises the SIGTERM it shut down on, with the handler it
    # found in place: this one turns it into a normal exit, so ``finally``
    # blocks run (with --onion: tor stopped, its keys gone from the RAM disk).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    bound = main.getsockname()
    click.echo(f"shoal serve: http://{bound[0]}:{bound[1]}/ (data: {data_dir})", err=True)
    try:
        with onion_setup.running() if onion_setup else contextlib.nullcontext():
            if workers == 1:
                run()
                return
            status = run_workers(workers, run)
    except ServerError as exc:
        raise click.ClickException(str(exc)) from None
    if status:
        raise click.ClickException(f"a worker exited with status {status}: every worker stopped")


def _main_listener(data_dir: Path, public: bool, onion_setup: _OnionSetup | None) -> Listener:
    """What the main socket serves: everything, on loopback; with
    ``--public``, the clear web's side, with ``Onion-Location`` naming the
    contact address (this process's own, else the one command signed)."""
    from ._config import load_config  # noqa: PLC0415
    from ._listeners import LOCAL, Listener  # noqa: PLC0415
    from ._onion import signed_contact_address  # noqa: PLC0415

    if not public:
        return LOCAL
    if onion_setup is not None:
        return Listener("public", address=onion_setup.contact_address)
    return Listener("public", address=signed_contact_address(load_config(data_dir)))


def _exit_on_sigterm(_signal: int, _frame: object) -> None:
    sys.exit(0)


def _bound_socket(host: str, port: int, *, shared: bool = False) -> socket.socket:
    """A bound socket; the server is given its sockets rather than an
    address, because with ``--onion`` it has one per service.

    ``shared`` (``--workers``): every worker binds a socket of its own to
    the port (SO_REUSEPORT), so the kernel spreads connections evenly. On
    one inherited socket, whichever worker woke first took them: two
    workers served fewer messages a second than one (``bench/intake.py``).

    Made with ``IPPROTO_TCP`` named: asyncio turns Nagle's algorithm off
    (TCP_NODELAY) only on sockets whose protocol says TCP, and without it
    every answer waited ~40 ms for the client's delayed ACK.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Bound, not listening: the port is ours (and its number known for
        # the listeners), but connections are refused until the server
        # starts serving (asyncio's create_server calls listen), so nothing
        # that checks the port takes a half-started server for a ready one.
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


class _OnionSetup:
    """``--onion``'s part of ``serve``: keys, one loopback socket per
    service, then tor for as long as the server runs."""

    def __init__(
        self,
        data_dir: Path,
        config: ServerConfig,
        published: list[Published],
        sockets: list[socket.socket],
    ) -> None:
        self.data_dir = data_dir
        self.config = config
        self.published = published
        self.sockets = sockets

    @classmethod
    def prepare(cls, data_dir: Path, passphrase_file: Path | None, *, shared: bool) -> _OnionSetup:
        from . import _onion  # noqa: PLC0415
        from ._config import load_config  # noqa: PLC0415
        from ._onion_keys import keys_path, load_or_create  # noqa: PLC0415

        config = load_config(data_dir)
        handler_clients = _onion.clients(data_dir)
        names = _onion.service_names(config, with_handlers=bool(handler_clients))
        passphrase = _onion_passphrase(passphrase_file, new=not keys_path(data_dir).exists())
        keys = load_or_create(data_dir, names, passphrase)
        sockets = [_bound_socket("127.0.0.1", 0, shared=shared) for _ in names]
        ports = [s.getsockname()[1] for s in sockets]
        published = _onion.publish(names, keys, ports, handler_clients)
        return cls(data_dir, config, published, sockets)

    @property
    def contact_address(self) -> str:
        return self.published[0].address

    @property
    def listeners(self) -> dict[int, Listener]:
        return {p.service.port: p.listener for p in self.published}

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        from . import _onion  # noqa: PLC0415
        from ._config import torrc_lines  # noqa: PLC0415
        from ._tor import TEST_NETWORK_OPTIONS, running_tor  # noqa: PLC0415

        options = {line.split(" ")[0].lower() for line in torrc_lines(self.config.onion.torrc)}
        if options & TEST_NETWORK_OPTIONS:
            click.echo(
                "WARNING: onion.torrc makes tor join a private test network, not Tor: "
                "contacts cannot reach these addresses",
                err=True,
            )
        with running_tor(self.config.onion, self.data_dir, [p.service for p in self.published]):
            for item in self.published:
                listener = item.listener
                what = {
                    "onion": "contact address, every door at /d/<door>/",
                    "door": f"door {listener.door!r} alone",
                    "handlers": "handler API, for authorized desks only",
                }[listener.kind]
                port = item.service.port
                click.echo(f"onion: http://{item.address}/ -> 127.0.0.1:{port}  ({what})")
            links = _onion.links(self.published, _onion.doors_of(self.config))
            if links:
                folder = _onion.write_qr_codes(self.data_dir, links)
                for name, url in links.items():
                    click.echo(f"  {url}  QR: {folder / name}.svg, .png")
            yield


def _onion_passphrase(file: Path | None, *, new: bool) -> str:
    """From ``file``'s first line, or asked for (twice, for a new key file)."""
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            raise click.ClickException(f"cannot read the passphrase file {file}") from None
        passphrase = lines[0] if lines else ""
    elif sys.stdin.isatty():
        passphrase = click.prompt(
            "Passphrase for the onion keys" if not new else "New passphrase for the onion keys",
            hide_input=True,
            confirmation_prompt=new,
            err=True,
        )
    else:
        raise click.ClickException(
            "--onion needs the onion keys' passphrase: --onion-passphrase-file, or a terminal"
        )
    if not passphrase:
        raise click.ClickException("the onion keys' passphrase is empty")
    return passphrase
