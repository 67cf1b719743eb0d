"""The server's configuration: ``DIR/server.json``, immutable once loaded.

::

    {"root_key": "shoal/<org-id>/root+<id>+<key>",
     "database": "sqlite:///DIR/shoal.db",
     "limits": {"max_body": 1073741824, ...},          (optional)
     "retention_days": 30}                             (optional)

The root verifier key is the trust anchor given out of band; everything
else the server trusts is a signed note that chains to it. No private key
ever goes in here: ``shoal admin init`` accepts only a verifier key.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import crypto
from .errors import ConfigError

CONFIG_NAME = "server.json"
BLOBS_NAME = "blobs"
#: ``<upload id>.part`` per resumable upload in progress (ciphertext).
UPLOADS_NAME = "uploads"
#: ``<door>.toml`` per compartment that takes offers of services.
QUESTIONNAIRES_NAME = "questionnaires"
DATABASE_NAME = "shoal.db"


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may cost (DESIGN.md, "floods")."""

    #: A whole submission's body, counted as it streams.
    max_body: int = 1 << 30
    #: Files in one submission.
    max_files: int = 20
    #: A reply item uploaded by a handler.
    max_reply: int = 16 << 20
    #: JSON and form bodies (codenames, handler logins).
    max_small_body: int = 64 << 10
    #: One header line of a multipart part, and headers per part.
    max_part_header: int = 4096
    max_part_headers: int = 8
    #: Newest replies decrypted for one page view.
    max_replies_shown: int = 100
    #: Resumable uploads one contact may hold unfinished at once.
    max_uploads: int = 8

    @classmethod
    def from_json(cls, value: Any) -> Limits:
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(value, dict) or not set(value) <= names:
            raise ConfigError(f"{CONFIG_NAME}: 'limits' takes only {', '.join(sorted(names))}")
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value.values()
        ):
            raise ConfigError(f"{CONFIG_NAME}: every limit is a positive integer")
        return cls(**value)


#: Days a contact's item stays on the server once every handler's desk of
#: its compartment has synced it (DESIGN.md, "Retention").
DEFAULT_RETENTION_DAYS = 30


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path
    root_key: crypto.NoteVerifier
    database: str
    limits: Limits = field(default_factory=Limits)
    retention_days: int = DEFAULT_RETENTION_DAYS

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / BLOBS_NAME

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / UPLOADS_NAME

    @property
    def questionnaires_dir(self) -> Path:
        return self.data_dir / QUESTIONNAIRES_NAME


def default_database(data_dir: Path) -> str:
    return f"sqlite:///{data_dir.resolve() / DATABASE_NAME}"


def parse_root_key(text: str) -> crypto.NoteVerifier:
    try:
        return crypto.NoteVerifier.parse(text)
    except crypto.KeyFormatError:
        # Never echo the value: an operator may paste a private key by mistake.
        raise ConfigError("the root key is not a note verifier key") from None


def load_config(data_dir: Path) -> ServerConfig:
    path = data_dir / CONFIG_NAME
    try:
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: run 'shoal admin init' first") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path} is unreadable: {type(exc).__name__}") from None
    if not isinstance(raw, dict) or not {"root_key", "database"} <= set(raw):
        raise ConfigError(f"{path} needs 'root_key' and 'database'")
    if not set(raw) <= {"root_key", "database", "limits", "retention_days"}:
        raise ConfigError(f"{path} has unknown keys")
    retention = raw.get("retention_days", DEFAULT_RETENTION_DAYS)
    if not isinstance(retention, int) or isinstance(retention, bool) or retention < 0:
        raise ConfigError(f"{path}: 'retention_days' is a whole number of days, 0 or more")
    if not isinstance(raw["root_key"], str) or not isinstance(raw["database"], str):
        raise ConfigError(f"{path}: 'root_key' and 'database' are strings")
    return ServerConfig(
        data_dir=data_dir,
        root_key=parse_root_key(raw["root_key"]),
        database=raw["database"],
        limits=Limits.from_json(raw.get("limits", {})),
        retention_days=retention,
    )


def write_config(data_dir: Path, root_key: crypto.NoteVerifier, database: str) -> Path:
    """Create server.json (mode 0600); refuse to overwrite an existing one."""
    path = data_dir / CONFIG_NAME
    text = json.dumps({"root_key": str(root_key), "database": database}, indent=2) + "\n"
    try:
        with path.open("x", encoding="utf-8") as f:
            path.chmod(0o600)
            f.write(text)
    except FileExistsError:
        raise ConfigError(f"{path} exists: this data directory is already set up") from None
    return path
