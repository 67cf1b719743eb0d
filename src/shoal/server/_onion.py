"""What ``shoal serve --onion`` publishes: the services, who may reach the
handlers' one, and the QR codes for printed material.

Services, by the name their key has in ``DIR/onion/keys.age``:

- ``contact``: the organization's contact address; every door is under it
  at ``/d/<door>/``;
- ``door:<door>`` for each door in ``onion.doors``: that door alone, at
  the address's root, so a contact given it learns of no other door;
- ``handlers``: the handler API, only once a desk's client key has been
  added (``shoal admin onion-client``): Tor's v3 client authorization
  makes the address useless without a key, and once it exists the
  contact addresses refuse the handler API (``_listeners.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store import create_db_engine, schema
from ._config import ServerConfig
from ._doors_pages import newest_lists
from ._listeners import Listener
from ._onion_keys import ONION_NAME, OnionKey
from ._tor import CLIENTS_NAME, Service
from .errors import ConfigError

CONTACT = "contact"
HANDLERS = "handlers"
QR_NAME = "qr"
#: A v3 client authorization public key, as tor's ``authorized_clients``
#: files hold it: 32 bytes of X25519 in unpadded base32.
_CLIENT_KEY = re.compile(r"descriptor:x25519:[A-Z2-7]{52}")
_CLIENT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_CLIENT_SUFFIX = ".auth"


def door_service(door: str) -> str:
    return f"door:{door}"


def clients_dir(data_dir: Path) -> Path:
    return data_dir / ONION_NAME / CLIENTS_NAME


def add_client(data_dir: Path, name: str, key: str) -> Path:
    """Allow the desk holding the private half of ``key`` to reach the
    handlers' address (from the next start); the file holds only the
    public key, as tor's ``authorized_clients`` do."""
    if not _CLIENT_NAME.fullmatch(name):
        raise ConfigError("a client's name is 1-63 lowercase letters, digits or dashes")
    key = key.strip()
    if not _CLIENT_KEY.fullmatch(key):
        raise ConfigError(
            "not a client authorization key: expected descriptor:x25519:<52 base32 letters> "
            "(`shoal desk onion-auth` prints one)"
        )
    directory = clients_dir(data_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{name}{_CLIENT_SUFFIX}"
    try:
        with path.open("x", encoding="ascii") as f:
            f.write(f"{key}\n")
    except FileExistsError:
        raise ConfigError(f"a client named {name!r} exists: remove it first") from None
    return path


def remove_client(data_dir: Path, name: str) -> None:
    path = clients_dir(data_dir) / f"{name}{_CLIENT_SUFFIX}"
    if not _CLIENT_NAME.fullmatch(name) or not path.exists():
        raise ConfigError(f"no client named {name!r}")
    path.unlink()


def clients(data_dir: Path) -> tuple[str, ...]:
    """The handlers' address's authorized client keys, by client name."""
    directory = clients_dir(data_dir)
    if not directory.is_dir():
        return ()
    found = []
    for path in sorted(directory.glob(f"*{_CLIENT_SUFFIX}")):
        key = path.read_text(encoding="ascii").strip()
        if not _CLIENT_KEY.fullmatch(key):
            raise ConfigError(f"{path} does not hold a client authorization key")
        found.append(key)
    return tuple(found)


def service_names(config: ServerConfig, with_handlers: bool) -> list[str]:
    names = [CONTACT, *(door_service(door) for door in config.onion.doors)]
    return [*names, HANDLERS] if with_handlers else names


@dataclass(frozen=True)
class Published:
    """A service as printed for the operator: its address and what it serves."""

    service: Service

    @property
    def address(self) -> str:
        return self.service.key.address

    @property
    def listener(self) -> Listener:
        name = self.service.name
        if name == CONTACT:
            return Listener("onion", address=self.address)
        if name == HANDLERS:
            return Listener("handlers", address=self.address)
        return Listener("door", door=name.removeprefix("door:"), address=self.address)


def publish(
    names: list[str], keys: dict[str, OnionKey], ports: list[int], handler_clients: tuple[str, ...]
) -> list[Published]:
    return [
        Published(Service(name, keys[name], port, handler_clients if name == HANDLERS else ()))
        for name, port in zip(names, ports, strict=True)
    ]


def doors_of(config: ServerConfig) -> list[str]:
    """The doors in the database (their compartments' epochs imported)."""
    engine = create_db_engine(config.database)
    try:
        with engine.connect() as connection:
            return sorted(connection.scalars(select(schema.Compartment.door)))
    finally:
        engine.dispose()


def signed_contact_address(config: ServerConfig) -> str | None:
    """The first address of the organization's root-signed general list, if
    one was imported: what ``Onion-Location`` names on the clear web when
    this process runs no onion service of its own (docs/deploy.md, 7.2)."""
    engine = create_db_engine(config.database)
    try:
        with Session(engine) as db:
            found = newest_lists(db, config.root_key).get(None)
    finally:
        engine.dispose()
    return found.doors.addresses[0] if found is not None else None


def links(published: list[Published], doors: list[str]) -> dict[str, str]:
    """What printed material may show, by QR file name: the contact
    address for each door, and each door's own address. Never the
    handlers' address (its holders are given it with their key)."""
    found: dict[str, str] = {}
    for item in published:
        listener = item.listener
        if listener.kind == "onion":
            found |= {f"contact-{door}": f"http://{item.address}/d/{door}/" for door in doors}
        elif listener.kind == "door":
            found[f"door-{listener.door}"] = f"http://{item.address}/"
    return found


def write_qr_codes(data_dir: Path, links: dict[str, str]) -> Path:
    """``DIR/onion/qr/<name>.svg`` and ``.png`` for each link; the folder."""
    import segno  # noqa: PLC0415 (only --onion needs it)

    directory = data_dir / ONION_NAME / QR_NAME
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, url in links.items():
        # High error correction: a printed code survives a fold or a smudge.
        code = segno.make(url, error="h", micro=False)
        code.save(str(directory / f"{name}.svg"), scale=8, border=4)
        code.save(str(directory / f"{name}.png"), scale=8, border=4)
    return directory
