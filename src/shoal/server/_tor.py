"""Running tor for ``shoal serve --onion``: a private tor process, its onion
services configured with the defences on, its keys kept off the disk.

Shoal starts its own tor (Debian's ``tor``) rather than asking a system
tor for ephemeral services over the control port (``ADD_ONION``), because
``ADD_ONION`` cannot switch on the introduction points' rate limit
(``HiddenServiceEnableIntroDoSDefense``): only torrc services can. So the
services are torrc services whose ``HiddenServiceDir`` is on a RAM disk
(``onion.runtime_dir``, ``/dev/shm`` by default, refused unless it is
tmpfs or ramfs): the keys, decrypted from ``DIR/onion/keys.age``, are
written there for tor to read at start and removed when Shoal stops; a
SIGKILLed run's directory is removed at the next start. tor's own state
(guards, cached directory) stays in ``DIR/tor``: keeping guards across
restarts is part of an onion service's anonymity.

Every service gets the defences against floods that arrive through Tor
(the first wall, DESIGN.md): the proof-of-work defence, the introduction
points' rate limit, and a cap on streams per circuit. tor listens on
nothing but a control socket in the runtime directory (``SocksPort 0``);
Shoal connects to it with stem, takes ownership (tor exits when Shoal's
control connection closes, however Shoal dies), and checks that tor
serves each address Shoal derived from its key.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ._config import OnionSettings, torrc_lines
from ._onion_keys import ONION_NAME, OnionKey
from .errors import ConfigError

TOR_DATA_NAME = "tor"
#: Kept in ``DIR/onion``: one public ``descriptor:x25519:…`` line per file,
#: a desk allowed to reach the handlers' address (``shoal admin onion-client``).
CLIENTS_NAME = "clients"
#: Filesystems whose files live in memory only.
RAM_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
#: torrc options (lower-cased) that make tor join a network other than Tor's
#: (the tests' private network): worth a warning on a real server.
TEST_NETWORK_OPTIONS = frozenset({"testingtornetwork", "dirauthority", "alternatedirauthority"})
#: The port a contact's browser asks for on the onion address.
VIRTUAL_PORT = 80
_LAUNCH_TIMEOUT = 90
_HOSTNAME_WAIT = 15.0


@dataclass(frozen=True)
class Service:
    """One onion service: its key, and the loopback socket it forwards to."""

    name: str
    key: OnionKey
    port: int
    #: Public keys of the clients allowed in (Tor's v3 client authorization);
    #: empty: anyone with the address.
    clients: tuple[str, ...] = ()


def _mount_type(path: Path) -> str:
    """The filesystem type of the mount holding ``path`` (Linux)."""
    best, kind = "", ""
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            point = fields[1].replace("\\040", " ")
            inside = str(path) == point or str(path).startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, kind = point, fields[2]
    return kind


def runtime_dir(settings: OnionSettings, data_dir: Path) -> Path:
    """This data directory's directory on the RAM disk: the same name on
    every start, so a killed run's keys are found and removed."""
    tag = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return settings.runtime_dir / f"shoal-onion-{tag}"


def torrc(
    settings: OnionSettings, tor_data: Path, runtime: Path, services: Sequence[Service]
) -> str:
    """The whole torrc: Shoal's own options, the operator's extra lines,
    then one block per service. Pure."""
    lines = [
        f"DataDirectory {tor_data}",
        f"ControlSocket {runtime / 'control'}",
        "CookieAuthentication 1",
        "SocksPort 0",
        # stem learns that tor is up from its notices on stdout.
        "Log notice stdout",
        *torrc_lines(settings.torrc),
    ]
    for index, service in enumerate(services):
        lines += [
            f"HiddenServiceDir {runtime / f'hs-{index}'}",
            f"HiddenServicePort {VIRTUAL_PORT} 127.0.0.1:{service.port}",
            "HiddenServicePoWDefensesEnabled 1",
            f"HiddenServicePoWQueueRate {settings.pow_queue_rate}",
            f"HiddenServicePoWQueueBurst {settings.pow_queue_burst}",
            "HiddenServiceEnableIntroDoSDefense 1",
            f"HiddenServiceEnableIntroDoSRatePerSec {settings.intro_rate}",
            f"HiddenServiceEnableIntroDoSBurstPerSec {settings.intro_burst}",
            f"HiddenServiceMaxStreams {settings.max_streams}",
            "HiddenServiceMaxStreamsCloseCircuit 1",
        ]
    return "\n".join(lines) + "\n"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _prepare(runtime: Path, services: Sequence[Service], text: str) -> None:
    shutil.rmtree(runtime, ignore_errors=True)  # a killed run's keys
    runtime.mkdir(mode=0o700)
    for index, service in enumerate(services):
        directory = runtime / f"hs-{index}"
        directory.mkdir(mode=0o700)
        _write_private(directory / "hs_ed25519_secret_key", service.key.tor_secret_key_file())
        if service.clients:
            (directory / "authorized_clients").mkdir(mode=0o700)
            for number, client in enumerate(service.clients):
                _write_private(
                    directory / "authorized_clients" / f"{number}.auth", f"{client}\n".encode()
                )
    _write_private(runtime / "torrc", text.encode())


def _wait_for_addresses(runtime: Path, services: Sequence[Service]) -> None:
    """tor writes each service's ``hostname`` once it has loaded the key:
    it must be the address Shoal derived (a different one would mean tor
    made a key of its own, which Shoal would then not have)."""
    deadline = time.monotonic() + _HOSTNAME_WAIT
    for index, service in enumerate(services):
        hostname = runtime / f"hs-{index}" / "hostname"
        while not hostname.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            served = hostname.read_text(encoding="ascii").strip()
        except OSError:
            raise ConfigError(f"tor did not start the onion service {service.name}") from None
        if served != service.key.address:
            raise ConfigError(
                f"tor serves {served} for {service.name}, not {service.key.address}: refusing"
            )


class _Lock:
    """One ``shoal serve --onion`` per data directory: two would publish the
    same addresses from two tors, and each would remove the other's keys."""

    def __init__(self, data_dir: Path) -> None:
        directory = data_dir / ONION_NAME
        directory.mkdir(mode=0o700, exist_ok=True)
        self._file: IO[bytes] = open(directory / ".lock", "ab")  # noqa: SIM115
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise ConfigError(
                f"another shoal serve --onion is running with {data_dir}: "
                "its onion addresses are already published"
            ) from None

    def release(self) -> None:
        self._file.close()


@contextlib.contextmanager
def running_tor(
    settings: OnionSettings, data_dir: Path, services: Sequence[Service]
) -> Iterator[None]:
    """tor serving ``services`` for the ``with`` block; afterwards tor is
    stopped and the keys are gone from the RAM disk."""
    # Imported here: only ``--onion`` needs stem.
    import stem  # noqa: PLC0415
    import stem.control  # noqa: PLC0415
    import stem.process  # noqa: PLC0415

    runtime = runtime_dir(settings, data_dir)
    settings.runtime_dir.mkdir(parents=True, exist_ok=True)
    if _mount_type(settings.runtime_dir.resolve()) not in RAM_FILESYSTEMS:
        raise ConfigError(
            f"{settings.runtime_dir} is not a RAM disk (tmpfs): the onion keys handed to tor "
            "there would reach a disk; set onion.runtime_dir to one (/dev/shm, /run/…)"
        )
    lock = _Lock(data_dir)
    tor_data = data_dir / TOR_DATA_NAME
    process: subprocess.Popen[bytes] | None = None
    try:
        tor_data.mkdir(mode=0o700, exist_ok=True)
        tor_data.chmod(0o700)  # tor refuses a data directory others can read
        _prepare(runtime, services, torrc(settings, tor_data, runtime, services))
        try:
            process = stem.process.launch_tor(
                settings.tor,
                args=["-f", str(runtime / "torrc")],
                completion_percent=0,
                timeout=_LAUNCH_TIMEOUT,
                take_ownership=True,
            )
        except OSError as exc:
            raise ConfigError(f"tor did not start: {exc}") from None
        # Owning tor through this connection: it exits when the connection
        # closes, even if Shoal is SIGKILLed.
        with stem.control.Controller.from_socket_file(str(runtime / "control")) as controller:
            try:
                controller.authenticate()
            except stem.SocketError as exc:
                raise ConfigError(f"cannot control tor: {exc}") from None
            _wait_for_addresses(runtime, services)
            yield
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(runtime, ignore_errors=True)
        lock.release()
