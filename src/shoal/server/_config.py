"""The server's configuration: ``DIR/server.toml`` and ``SHOAL_*`` variables,
validated once at start, immutable once loaded.

::

    root_key = "shoal/<org-id>/root+<id>+<key>"
    database = "sqlite:////srv/shoal/data/shoal.db"   # or postgresql+psycopg://…
    retention_days = 30                               # optional

    [limits]                   # optional: any field of Limits, positive integers
    max_body = 1073741824

    [blobs]                    # optional
    backend = "filesystem"     # "filesystem" | "database" | "s3"
    path = "blobs"             # filesystem only: relative to DIR, or absolute

    [onion]                    # optional: ``shoal serve --onion`` (``_tor.py``)
    doors = "journalists network"   # doors with an onion address of their own
    torrc = "UseBridges 1\nBridge obfs4 …"  # extra tor options, one per line
    pow_queue_rate = 250       # and pow_queue_burst, intro_rate, intro_burst,
                               # max_streams, tor, runtime_dir: OnionSettings

    [blobs.s3]                 # s3 only, and then required
    bucket = "shoal"
    endpoint_url = "https://…" # optional, as are region, prefix,
                               # access_key_id and secret_access_key

Every key may also come from an environment variable named after it:
``SHOAL_`` and the dotted key upper-cased, ``_`` for ``.``
(``SHOAL_DATABASE``, ``SHOAL_LIMITS_MAX_BODY``,
``SHOAL_BLOBS_S3_SECRET_ACCESS_KEY``). A variable wins over the file, so a
service manager or a secrets store can hold the database password and the
S3 secret key instead of a file. Values are strings; integer keys take
decimal digits.

One table, ``_KEYS``, says what each key takes; the file and the
environment go through the same validator, and an error names where the
bad value came from (the file and the key, or the variable) but never the
value: it may be a secret (a password in the database URL, the S3 secret
key, a private key pasted by mistake).

A ``SHOAL_`` variable that names no key is refused, because a misspelt
``SHOAL_LIMITS_MAX_BDOY`` would otherwise be silently ignored; except
these, which are not configuration (``NOT_CONFIGURATION``):

- ``SHOAL_TEST_ENGINE``, ``SHOAL_LONG``, ``SHOAL_REQUIRE_TOOLS``: how the
  test suite runs (the database engine; Hypothesis's long profile; fail
  rather than skip when a tool is missing), inherited by the servers the
  tests start;
- ``SHOAL_PG_BIN``: where the tests' ``pg_ctl`` shim finds PostgreSQL;
- ``SHOAL_TEST_SECRET``: a canary the desk's tests set, to check that
  confined workers get an empty environment;
- ``SHOAL_CRASH_SEED``: replays the crash tests' random kill moments.

Data directories made before server.toml hold ``server.json`` (the same
keys, as JSON); it is read, and validated the same way, when there is no
server.toml.

The root verifier key is the trust anchor given out of band; everything
else the server trusts is a signed note that chains to it. No private key
ever goes in here: ``shoal admin init`` accepts only a verifier key.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import tomli_w
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from .. import crypto, org
from .errors import ConfigError

CONFIG_NAME = "server.toml"
#: What data directories made before server.toml hold (JSON, same keys).
LEGACY_CONFIG_NAME = "server.json"
BLOBS_NAME = "blobs"
#: ``<upload id>.part``: unfinished uploads of versions before pieces were
#: blobs (ciphertext), adopted as pieces at start-up.
UPLOADS_NAME = "uploads"
#: ``<door>.toml`` per compartment that takes offers of services.
QUESTIONNAIRES_NAME = "questionnaires"
DATABASE_NAME = "shoal.db"
ENVIRONMENT_PREFIX = "SHOAL_"
#: ``SHOAL_`` variables that are not configuration (the module docstring says whose).
NOT_CONFIGURATION = frozenset(
    {
        "SHOAL_TEST_ENGINE",
        "SHOAL_LONG",
        "SHOAL_REQUIRE_TOOLS",
        "SHOAL_PG_BIN",
        "SHOAL_TEST_SECRET",
        "SHOAL_CRASH_SEED",
    }
)

Backend = Literal["filesystem", "database", "s3"]
BACKENDS: tuple[Backend, ...] = ("filesystem", "database", "s3")


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
    #: Bytes all unfinished resumable uploads may reserve together (a
    #: global quota, reserved in the database).
    max_upload_bytes: int = 64 << 30


#: Days a contact's item stays on the server once every handler's desk of
#: its compartment has synced it (DESIGN.md, "Retention").
DEFAULT_RETENTION_DAYS = 30


@dataclass(frozen=True)
class S3Settings:
    """An S3 (or S3-compatible) bucket for the blobs; unset credentials
    leave boto3 to find its own (environment, instance role)."""

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    prefix: str = ""
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class BlobSettings:
    backend: Backend = "filesystem"
    #: The filesystem store's root as configured: relative to the data
    #: directory, or absolute; ``None`` is ``DIR/blobs``. Use
    #: :attr:`ServerConfig.blobs_dir`, which resolves it.
    path: Path | None = None
    #: Set exactly when ``backend`` is ``"s3"``.
    s3: S3Settings | None = None


#: torrc options ``_tor.py`` sets itself: an extra line may not change them
#: (where tor listens, where it keeps state, the onion services).
MANAGED_TOR_OPTIONS = frozenset(
    {
        "datadirectory",
        "controlsocket",
        "controlport",
        "cookieauthentication",
        "cookieauthfile",
        "hashedcontrolpassword",
        "socksport",
        "runasdaemon",
    }
)
_TORRC_LINE = re.compile(r"([A-Za-z][A-Za-z0-9_]*) [\x20-\x7e]+")


def torrc_lines(text: str) -> list[str]:
    """The extra torrc lines of ``onion.torrc``: ``Option value`` each,
    blank lines and ``#`` comments dropped; ValueError if one is malformed
    or sets what Shoal manages."""
    lines = []
    for line in (raw.strip() for raw in text.splitlines()):
        if not line or line.startswith("#"):
            continue
        found = _TORRC_LINE.fullmatch(line)
        if found is None:
            raise ValueError("a torrc line is an option name, a space and its value")
        option = found.group(1).lower()
        if option in MANAGED_TOR_OPTIONS or option.startswith(("hiddenservice", "_")):
            raise ValueError(f"Shoal sets {found.group(1)} itself")
        lines.append(line)
    return lines


def _is_torrc(text: str) -> bool:
    try:
        torrc_lines(text)
    except ValueError:
        return False
    return True


def _are_doors(text: str) -> bool:
    try:
        for door in text.split():
            org.check_door(door)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class OnionSettings:
    """What ``shoal serve --onion`` publishes, and how tor defends it
    (the defaults and their reasons: docs/deploy.md, "Onion services")."""

    #: Doors that get an onion address of their own (the organization's
    #: contact address serves every door).
    doors: tuple[str, ...] = ()
    #: The tor binary Shoal starts.
    tor: str = "tor"
    #: A RAM-backed directory where the decrypted keys are handed to tor.
    runtime_dir: Path = Path("/dev/shm")  # noqa: S108 (a RAM disk is the point)
    #: Extra torrc lines (bridges, a proxy): :func:`torrc_lines`.
    torrc: str = ""
    #: Proof-of-work defence: requests tor lets through per second, and in a burst.
    pow_queue_rate: int = 250
    pow_queue_burst: int = 2500
    #: Introduction points' rate limit (introductions per second, burst).
    intro_rate: int = 25
    intro_burst: int = 200
    #: Streams one circuit may open before tor closes the circuit.
    max_streams: int = 32


@dataclass(frozen=True, repr=False)
class ServerConfig:
    data_dir: Path
    root_key: crypto.NoteVerifier
    #: A SQLAlchemy URL; it may hold a password, so the repr hides it.
    database: str
    limits: Limits = field(default_factory=Limits)
    retention_days: int = DEFAULT_RETENTION_DAYS
    blobs: BlobSettings = field(default_factory=BlobSettings)
    onion: OnionSettings = field(default_factory=OnionSettings)

    @property
    def blobs_dir(self) -> Path:
        """The filesystem blob store's root (read only with that backend)."""
        return self.data_dir / (self.blobs.path or BLOBS_NAME)

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / UPLOADS_NAME

    @property
    def questionnaires_dir(self) -> Path:
        return self.data_dir / QUESTIONNAIRES_NAME

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        shown["database"] = _without_password(self.database)
        return f"ServerConfig({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def _without_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<not a database URL>"


def default_database(data_dir: Path) -> str:
    return f"sqlite:///{data_dir.resolve() / DATABASE_NAME}"


#: The name of an organization's root key: the only one trusted here.
ROOT_KEY_NAME = re.compile(r"shoal/[0-9a-f]{32}/root")


def parse_root_key(text: str) -> crypto.NoteVerifier:
    try:
        return crypto.NoteVerifier.parse(text)
    except crypto.KeyFormatError:
        # Never echo the value: an operator may paste a private key by mistake.
        raise ConfigError("the root key is not a note verifier key") from None


# -- what each key takes ------------------------------------------------------


def _is_root_key(text: str) -> bool:
    try:
        return ROOT_KEY_NAME.fullmatch(parse_root_key(text).name) is not None
    except ConfigError:
        return False


def _is_database_url(text: str) -> bool:
    try:
        make_url(text).get_dialect()  # a dialect SQLAlchemy can load
    except (ArgumentError, NoSuchModuleError, ValueError):
        return False
    return True


def _is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and _is_word(text)


def _is_word(text: str) -> bool:
    """Not empty, and no spaces or control characters."""
    return text.isprintable() and bool(text) and " " not in text


_BUCKET = re.compile(r"[A-Za-z0-9._-]{1,255}")


@dataclass(frozen=True)
class _Key:
    """What one key takes: a TOML type and a check of the value, with the
    words of the error when either fails. A key only one blob backend reads
    names it: given with another backend it is refused (a likely mistake),
    and ``required`` means required with that backend."""

    type: type[int] | type[str]
    check: Callable[[Any], bool]
    message: str
    required: bool = False
    backend: Backend | None = None


_POSITIVE = "must be a positive integer"

_KEYS: dict[str, _Key] = {
    "root_key": _Key(
        str, _is_root_key, "must be the root verifier key (shoal/<org-id>/root+…)", required=True
    ),
    "database": _Key(
        str,
        _is_database_url,
        "must be a database URL SQLAlchemy knows (sqlite:///…, postgresql+psycopg://…)",
        required=True,
    ),
    "retention_days": _Key(int, lambda v: v >= 0, "must be a whole number of days, 0 or more"),
    **{
        f"limits.{f.name}": _Key(int, lambda v: v > 0, _POSITIVE)
        for f in dataclasses.fields(Limits)
    },
    "blobs.backend": _Key(
        str, lambda v: v in BACKENDS, f"must be one of {', '.join(map(repr, BACKENDS))}"
    ),
    "blobs.path": _Key(
        str,
        lambda v: bool(v) and v.isprintable(),
        "must be a directory (relative to the data directory, or absolute)",
        backend="filesystem",
    ),
    "blobs.s3.bucket": _Key(
        str,
        lambda v: _BUCKET.fullmatch(v) is not None,
        "must be a bucket name (letters, digits, '.', '-', '_')",
        required=True,
        backend="s3",
    ),
    "blobs.s3.endpoint_url": _Key(
        str, _is_http_url, "must be an http:// or https:// URL", backend="s3"
    ),
    "blobs.s3.region": _Key(str, _is_word, "must be a region name such as us-east-1", backend="s3"),
    "blobs.s3.prefix": _Key(str, str.isprintable, "must not hold control characters", backend="s3"),
    "blobs.s3.access_key_id": _Key(
        str, _is_word, "must not be empty nor hold spaces", backend="s3"
    ),
    "blobs.s3.secret_access_key": _Key(
        str, _is_word, "must not be empty nor hold spaces", backend="s3"
    ),
    "onion.doors": _Key(str, _are_doors, "must be door names separated by spaces (a-z, 0-9, -)"),
    "onion.tor": _Key(str, _is_word, "must be the tor program (a name or a path)"),
    "onion.runtime_dir": _Key(
        str, lambda v: v.startswith("/") and v.isprintable(), "must be an absolute directory"
    ),
    "onion.torrc": _Key(
        str,
        _is_torrc,
        "must be torrc lines (Option value), none of the options Shoal sets itself "
        "(DataDirectory, ControlSocket, SocksPort, HiddenService…)",
    ),
    **{
        f"onion.{f.name}": _Key(int, lambda v: v > 0, _POSITIVE)
        for f in dataclasses.fields(OnionSettings)
        if f.type == "int"
    },
}
#: Every proper prefix of a dotted key is a table: limits, blobs, blobs.s3.
_TABLES = frozenset(
    ".".join(key.split(".")[:n]) for key in _KEYS for n in range(1, key.count(".") + 1)
)
#: ``SHOAL_LIMITS_MAX_BODY`` -> ``limits.max_body``.
_VARIABLES = {ENVIRONMENT_PREFIX + key.upper().replace(".", "_"): key for key in _KEYS}
#: TOML's integers are signed 64-bit (and so are the database's counters).
_INT64 = 1 << 63
_DECIMAL = re.compile(r"-?[0-9]{1,19}")


def _fits(key: _Key, value: Any) -> bool:
    # type(), not isinstance(): a TOML or JSON boolean is no integer here.
    if type(value) is not key.type:
        return False
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        return False
    return bool(key.check(value))


#: A key's value and where it came from (``server.toml: limits.max_body``,
#: or ``SHOAL_LIMITS_MAX_BODY``): what an error about it names.
_Values = dict[str, tuple[Any, str]]


def _flatten(document: Mapping[str, Any], label: str, table: str = "") -> _Values:
    values: _Values = {}
    for name, value in document.items():
        key = f"{table}{name}"
        # A quoted key with a dot ("limits.max_body" = 1) is not that key.
        if "." in name or (key not in _KEYS and key not in _TABLES):
            raise ConfigError(f"{label}: unknown key {key!r}")
        if key in _TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"{label}: {key}: must be a table ([{key}])")
            values |= _flatten(value, label, f"{key}.")
        else:
            values[key] = (value, f"{label}: {key}")
    return values


def _from_environment(environ: Mapping[str, str]) -> _Values:
    values: _Values = {}
    for variable, text in environ.items():
        if not variable.startswith(ENVIRONMENT_PREFIX) or variable in NOT_CONFIGURATION:
            continue
        key = _VARIABLES.get(variable)
        if key is None:
            raise ConfigError(f"{variable}: unknown configuration variable (no such key)")
        # Text that is no integer stays text, and fails the key's type check.
        value: Any = int(text) if _KEYS[key].type is int and _DECIMAL.fullmatch(text) else text
        values[key] = (value, variable)
    return values


def _settle(
    data_dir: Path, document: Mapping[str, Any], label: str, environ: Mapping[str, str]
) -> ServerConfig:
    """Validate ``document`` (read from ``label``) with ``environ`` on top,
    and build the configuration; the first fault is a ConfigError."""
    in_file, in_environment = _flatten(document, label), _from_environment(environ)
    # Both sources whole: a bad value in the file is an error even while a
    # variable overrides it, rather than a surprise once the variable is gone.
    for key, (found, where) in [*in_file.items(), *in_environment.items()]:
        if not _fits(_KEYS[key], found):
            raise ConfigError(f"{where}: {_KEYS[key].message}")
    values = in_file | in_environment

    def value(key: str, default: Any = None) -> Any:
        return values[key][0] if key in values else default

    backend = value("blobs.backend", "filesystem")
    for key, spec in _KEYS.items():
        if spec.backend not in (None, backend):
            if key in values:
                raise ConfigError(
                    f"{values[key][1]}: only for blobs.backend = {spec.backend!r} "
                    f"(it is {backend!r})"
                )
        elif spec.required and key not in values:
            needed = f" (blobs.backend is {backend!r})" if spec.backend else ""
            raise ConfigError(f"{label}: missing key {key!r}{needed}")

    def table(prefix: str) -> dict[str, Any]:
        return {
            key.removeprefix(prefix): value
            for key, (value, _) in values.items()
            if key.startswith(prefix) and "." not in key.removeprefix(prefix)
        }

    path = value("blobs.path")
    onion = table("onion.")
    if "doors" in onion:
        onion["doors"] = tuple(onion["doors"].split())
    if "runtime_dir" in onion:
        onion["runtime_dir"] = Path(onion["runtime_dir"])
    return ServerConfig(
        data_dir=data_dir,
        root_key=crypto.NoteVerifier.parse(value("root_key")),
        database=value("database"),
        limits=Limits(**table("limits.")),
        retention_days=value("retention_days", DEFAULT_RETENTION_DAYS),
        blobs=BlobSettings(
            backend=backend,
            path=None if path is None else Path(path),
            s3=S3Settings(**table("blobs.s3.")) if backend == "s3" else None,
        ),
        onion=OnionSettings(**onion),
    )


# -- reading and writing ------------------------------------------------------


def _toml_position(exc: tomllib.TOMLDecodeError) -> str:
    # Only the position: some messages quote a character of the file.
    found = re.search(r"\(at ([^()]*)\)\Z", str(exc))
    return f" (at {found.group(1)})" if found else ""


def _read_document(data_dir: Path) -> tuple[str, dict[str, Any]]:
    """server.toml, or else the legacy server.json: its name and content."""
    path = data_dir / CONFIG_NAME
    legacy = data_dir / LEGACY_CONFIG_NAME
    try:
        return CONFIG_NAME, tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        pass
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML{_toml_position(exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is unreadable: {type(exc).__name__}") from None
    try:
        document = json.loads(legacy.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: run 'shoal admin init' first") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ConfigError(f"{legacy} is not valid JSON (at {where})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{legacy} is unreadable: {type(exc).__name__}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{legacy} must hold a JSON object")
    return LEGACY_CONFIG_NAME, document


def load_config(data_dir: Path, environ: Mapping[str, str] = os.environ) -> ServerConfig:
    """The data directory's configuration, ``SHOAL_*`` variables on top."""
    label, document = _read_document(data_dir)
    return _settle(data_dir, document, label, environ)


def _changed(value: Any) -> dict[str, Any]:
    """A dataclass's fields that differ from their defaults (a field without
    one always does)."""
    return {
        f.name: v for f in dataclasses.fields(value) if (v := getattr(value, f.name)) != f.default
    }


def _document(config: ServerConfig) -> dict[str, Any]:
    """What server.toml holds for ``config``: the keys and the blob backend
    always, anything else only when it is not the default, so that a later
    version's better default applies."""
    document: dict[str, Any] = {"root_key": str(config.root_key), "database": config.database}
    if config.retention_days != DEFAULT_RETENTION_DAYS:
        document["retention_days"] = config.retention_days
    if limits := _changed(config.limits):
        document["limits"] = limits
    blobs: dict[str, Any] = {"backend": config.blobs.backend}
    if config.blobs.path is not None:
        blobs["path"] = str(config.blobs.path)
    if config.blobs.s3 is not None:
        blobs["s3"] = _changed(config.blobs.s3)
    document["blobs"] = blobs
    if onion := _changed(config.onion):
        if "doors" in onion:
            onion["doors"] = " ".join(onion["doors"])
        if "runtime_dir" in onion:
            onion["runtime_dir"] = str(onion["runtime_dir"])
        document["onion"] = onion
    return document


def with_environment(config: ServerConfig, environ: Mapping[str, str]) -> ServerConfig:
    """``config`` as :func:`load_config` would give it once written: with
    ``environ``'s ``SHOAL_*`` variables on top, validated."""
    return _settle(config.data_dir, _document(config), CONFIG_NAME, environ)


_HEADER = """\
# Shoal server configuration (shoal admin init wrote it; keys: shoal/server/_config.py).
# Environment variables override any key: SHOAL_DATABASE, SHOAL_LIMITS_MAX_BODY, ...

"""


def write_config(config: ServerConfig) -> Path:
    """Create ``config.data_dir/server.toml`` (mode 0600); refuse to
    overwrite an existing one, and refuse what could not be loaded back."""
    document = _document(config)
    _settle(config.data_dir, document, CONFIG_NAME, {})
    path = config.data_dir / CONFIG_NAME
    try:
        # Created 0600, never readable by others even for a moment: it may
        # hold the S3 secret key or a database password.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists: this data directory is already set up") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(fd, 0o600)  # whatever the umask took away
        f.write(_HEADER + tomli_w.dumps(document))
        f.flush()
        os.fsync(fd)
    return path
