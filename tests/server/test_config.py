"""The server's configuration: server.toml (or a legacy server.json) with
``SHOAL_*`` variables on top, every key validated, errors that name the
file or variable and the key, and never a value."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from shoal import crypto, org
from shoal.server import _config
from shoal.server._config import (
    NOT_CONFIGURATION,
    BlobSettings,
    Limits,
    OnionSettings,
    S3Settings,
    ServerConfig,
    load_config,
    write_config,
)
from shoal.server.errors import ConfigError

ROOT = crypto.NoteSigner(org.root_key_name("0" * 32), crypto.SigningKey(bytes(32))).verifier
COMMAND = crypto.NoteSigner(
    org.command_key_name("0" * 32, 1), crypto.SigningKey(bytes(32))
).verifier
CANARY = "CANARY-7d1f"
DATABASE = "sqlite:////srv/shoal/shoal.db"
REPO = Path(__file__).resolve().parents[2]

ONION_INTEGERS = [f.name for f in dataclasses.fields(OnionSettings) if f.type == "int"]
#: Every key, the exact words of its error, and values it refuses (as TOML).
LIMIT = "must be a positive integer"
BAD_INT = [0, -1, "1", True, 1.5, 1 << 63]
BAD: dict[str, tuple[str, list[Any]]] = {
    "root_key": (
        "must be the root verifier key (shoal/<org-id>/root+…)",
        ["", CANARY, 5, crypto.generate_identity().secret_string(), str(COMMAND)],
    ),
    "database": (
        "must be a database URL SQLAlchemy knows (sqlite:///…, postgresql+psycopg://…)",
        [
            "",
            "not a url",
            f"postgresql+nosuchdriver://shoal:{CANARY}@db/shoal",
            f"nosuchdb://{CANARY}",
            3,
        ],
    ),
    "retention_days": (
        "must be a whole number of days, 0 or more",
        [-1, "30", True, 1.5, 1 << 63],
    ),
    **{f"limits.{f.name}": (LIMIT, BAD_INT) for f in dataclasses.fields(Limits)},
    "blobs.backend": ("must be one of 'filesystem', 'database', 's3'", ["disk", "S3", "", 1]),
    "blobs.path": (
        "must be a directory (relative to the data directory, or absolute)",
        ["", f"{CANARY}\n", 1],
    ),
    "blobs.s3.bucket": (
        "must be a bucket name (letters, digits, '.', '-', '_')",
        ["", f"{CANARY} bucket", "a/b", 1],
    ),
    "blobs.s3.endpoint_url": (
        "must be an http:// or https:// URL",
        [f"ftp://{CANARY}", "example.com", "", "http://", "http://[", f"https://a {CANARY}", 1],
    ),
    "blobs.s3.region": ("must be a region name such as us-east-1", ["", "us east 1", 1]),
    "blobs.s3.prefix": ("must not hold control characters", [f"{CANARY}\x00", "a\tb", 1]),
    "blobs.s3.access_key_id": ("must not be empty nor hold spaces", ["", f"{CANARY} ", 1]),
    "blobs.s3.secret_access_key": (
        "must not be empty nor hold spaces",
        ["", f"{CANARY} x", f"{CANARY}\n", 1],
    ),
    "onion.doors": (
        "must be door names separated by spaces (a-z, 0-9, -)",
        ["Big", "a,b", f"{CANARY}", "-a", 1],
    ),
    "onion.tor": ("must be the tor program (a name or a path)", ["", "/usr/bin/my tor", 1]),
    "onion.runtime_dir": ("must be an absolute directory", ["", "run/shoal", "/a\x00", 1]),
    "onion.torrc": (
        "must be torrc lines (Option value), none of the options Shoal sets itself "
        "(DataDirectory, ControlSocket, SocksPort, HiddenService…)",
        ["SocksPort 9050", "HiddenServiceDir /x", f"{CANARY}", "DataDirectory /x", 1],
    ),
    **{f"onion.{name}": (LIMIT, BAD_INT) for name in ONION_INTEGERS},
}
#: What each key's variable is called (the names operators write).
VARIABLES = {
    "root_key": "SHOAL_ROOT_KEY",
    "database": "SHOAL_DATABASE",
    "retention_days": "SHOAL_RETENTION_DAYS",
    **{f"limits.{f.name}": f"SHOAL_LIMITS_{f.name.upper()}" for f in dataclasses.fields(Limits)},
    "blobs.backend": "SHOAL_BLOBS_BACKEND",
    "blobs.path": "SHOAL_BLOBS_PATH",
    "blobs.s3.bucket": "SHOAL_BLOBS_S3_BUCKET",
    "blobs.s3.endpoint_url": "SHOAL_BLOBS_S3_ENDPOINT_URL",
    "blobs.s3.region": "SHOAL_BLOBS_S3_REGION",
    "blobs.s3.prefix": "SHOAL_BLOBS_S3_PREFIX",
    "blobs.s3.access_key_id": "SHOAL_BLOBS_S3_ACCESS_KEY_ID",
    "blobs.s3.secret_access_key": "SHOAL_BLOBS_S3_SECRET_ACCESS_KEY",
    "onion.doors": "SHOAL_ONION_DOORS",
    "onion.tor": "SHOAL_ONION_TOR",
    "onion.runtime_dir": "SHOAL_ONION_RUNTIME_DIR",
    "onion.torrc": "SHOAL_ONION_TORRC",
    **{f"onion.{name}": f"SHOAL_ONION_{name.upper()}" for name in ONION_INTEGERS},
}
#: A good value for each key, as a variable's text, and what it loads as.
GOOD: dict[str, tuple[str, Any]] = {
    "root_key": (str(ROOT), ROOT),
    "database": ("postgresql+psycopg://shoal@db/shoal", "postgresql+psycopg://shoal@db/shoal"),
    "retention_days": ("0", 0),
    **{f"limits.{f.name}": ("12345", 12345) for f in dataclasses.fields(Limits)},
    "blobs.backend": ("database", "database"),
    "blobs.path": ("/var/lib/shoal/blobs", Path("/var/lib/shoal/blobs")),
    "blobs.s3.bucket": ("shoal-blobs", "shoal-blobs"),
    "blobs.s3.endpoint_url": ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
    "blobs.s3.region": ("eu-west-3", "eu-west-3"),
    "blobs.s3.prefix": ("intake/", "intake/"),
    "blobs.s3.access_key_id": ("AKIAEXAMPLE", "AKIAEXAMPLE"),
    "blobs.s3.secret_access_key": ("s3cr3t/+key", "s3cr3t/+key"),
    "onion.doors": ("news field-2", ("news", "field-2")),
    "onion.tor": ("/usr/sbin/tor", "/usr/sbin/tor"),
    "onion.runtime_dir": ("/run/shoal-onion", Path("/run/shoal-onion")),
    "onion.torrc": ("UseBridges 1\nBridge 192.0.2.1:443", "UseBridges 1\nBridge 192.0.2.1:443"),
    **{f"onion.{name}": ("77", 77) for name in ONION_INTEGERS},
}


def base(key: str = "") -> dict[str, Any]:
    """A valid document, with the blob backend that ``key`` belongs to."""
    document: dict[str, Any] = {"root_key": str(ROOT), "database": DATABASE}
    if key.startswith("blobs.s3."):
        document["blobs"] = {"backend": "s3", "s3": {"bucket": "shoal"}}
    return document


def with_value(document: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    *tables, name = key.split(".")
    table = document
    for part in tables:
        table = table.setdefault(part, {})
    table[name] = value
    return document


def write_toml(data_dir: Path, document: dict[str, Any]) -> Path:
    data_dir.mkdir(exist_ok=True)
    (data_dir / "server.toml").write_text(tomli_w.dumps(document))
    return data_dir


def refusal(data_dir: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(data_dir, environ or {})
    return str(caught.value)


def value_of(config: ServerConfig, key: str) -> Any:
    found: Any = config
    for part in key.split("."):
        found = getattr(found, part)
    return found


# -- every key, from the file and from the environment -------------------------


def test_the_tables_cover_every_key() -> None:
    # A key added without its cases here fails this test, not silently.
    assert set(BAD) == set(VARIABLES) == set(GOOD) == set(_config._KEYS)


@pytest.mark.parametrize(
    ("key", "value"), [(key, value) for key, (_, values) in BAD.items() for value in values]
)
def test_a_bad_value_in_the_file_is_named_by_its_key(tmp_path: Path, key: str, value: Any) -> None:
    assert load_config(write_toml(tmp_path / "good", base(key)), {})  # the base is valid
    data_dir = write_toml(tmp_path / "bad", with_value(base(key), key, value))
    message = refusal(data_dir)
    assert message == f"server.toml: {key}: {BAD[key][0]}"
    assert CANARY not in message


#: Text no integer key takes (besides a bad number).
NOT_AN_INTEGER = ["", "abc", "1.5", "true", "1_000", " 5", "5 ", "\u0663", "9" * 19, "9" * 5000]
BAD_TEXT = {
    key: (
        [v for v in values if isinstance(v, str)]
        if key not in ("retention_days",)
        and not key.startswith("limits.")
        and key.removeprefix("onion.") not in ONION_INTEGERS
        else [*NOT_AN_INTEGER, "-1", *(["0"] if key != "retention_days" else [])]
    )
    for key, (_, values) in BAD.items()
}


@pytest.mark.parametrize(
    ("key", "value"), [(key, text) for key, texts in BAD_TEXT.items() for text in texts]
)
def test_a_bad_value_in_a_variable_is_named_by_the_variable(
    tmp_path: Path, key: str, value: str
) -> None:
    data_dir = write_toml(tmp_path, base(key))
    message = refusal(data_dir, {VARIABLES[key]: value})
    assert message == f"{VARIABLES[key]}: {BAD[key][0]}"
    assert CANARY not in message


@pytest.mark.parametrize("key", list(GOOD))
def test_each_variable_sets_its_key_over_the_file(tmp_path: Path, key: str) -> None:
    document = base(key)
    if key == "blobs.path":
        document["blobs"] = {"backend": "filesystem", "path": "elsewhere"}
    if key == "blobs.s3.bucket":
        document["blobs"]["s3"]["bucket"] = "from-the-file"
    config = load_config(write_toml(tmp_path, document), {VARIABLES[key]: GOOD[key][0]})
    assert value_of(config, key) == GOOD[key][1]


def test_variables_win_over_the_file_and_build_a_whole_setting(tmp_path: Path) -> None:
    data_dir = write_toml(
        tmp_path, base() | {"limits": {"max_body": 10, "max_files": 3}, "retention_days": 7}
    )
    config = load_config(
        data_dir,
        {
            "SHOAL_LIMITS_MAX_BODY": "20",
            "SHOAL_BLOBS_BACKEND": "s3",
            "SHOAL_BLOBS_S3_BUCKET": "shoal",
            "SHOAL_BLOBS_S3_SECRET_ACCESS_KEY": CANARY,
            "HOME": "/root",  # not ours: ignored
        },
    )
    assert config.limits == Limits(max_body=20, max_files=3)
    assert config.retention_days == 7
    assert config.blobs == BlobSettings("s3", s3=S3Settings("shoal", secret_access_key=CANARY))
    assert load_config(data_dir, {}).limits.max_body == 10


def test_a_bad_value_in_the_file_is_refused_even_under_a_variable(tmp_path: Path) -> None:
    data_dir = write_toml(tmp_path, base() | {"limits": {"max_body": 0}})
    message = refusal(data_dir, {"SHOAL_LIMITS_MAX_BODY": "5"})
    assert message == f"server.toml: limits.max_body: {LIMIT}"


# -- keys and variables that are not ours ---------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (base() | {"limits": {"max_bodyy": 1}}, "unknown key 'limits.max_bodyy'"),
        (base() | {"colour": "blue"}, "unknown key 'colour'"),
        (base() | {"blobs": {"s3": {"bukket": "x"}}}, "unknown key 'blobs.s3.bukket'"),
        (base() | {"limits.max_body": 5}, "unknown key 'limits.max_body'"),
        (base() | {"limits": 5}, "limits: must be a table ([limits])"),
        (base() | {"blobs": {"s3": "shoal"}}, "blobs.s3: must be a table ([blobs.s3])"),
        (
            base() | {"retention_days": {"days": 3}},
            "retention_days: must be a whole number of days, 0 or more",
        ),
        ({"database": DATABASE}, "missing key 'root_key'"),
        ({"root_key": str(ROOT)}, "missing key 'database'"),
        (
            base() | {"blobs": {"backend": "s3"}},
            "missing key 'blobs.s3.bucket' (blobs.backend is 's3')",
        ),
        (
            base() | {"blobs": {"s3": {"bucket": "shoal"}}},
            "blobs.s3.bucket: only for blobs.backend = 's3' (it is 'filesystem')",
        ),
        (
            base() | {"blobs": {"backend": "database", "s3": {"region": "x"}}},
            "blobs.s3.region: only for blobs.backend = 's3' (it is 'database')",
        ),
        (
            base() | {"blobs": {"backend": "s3", "path": "b", "s3": {"bucket": "shoal"}}},
            "blobs.path: only for blobs.backend = 'filesystem' (it is 's3')",
        ),
    ],
)
def test_the_shape_of_the_file_is_checked(
    tmp_path: Path, document: dict[str, Any], message: str
) -> None:
    assert refusal(write_toml(tmp_path, document)) == f"server.toml: {message}"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"SHOAL_BLOBS_BACKEND": "s3"},
            "server.toml: missing key 'blobs.s3.bucket' (blobs.backend is 's3')",
        ),
        (
            {"SHOAL_BLOBS_S3_SECRET_ACCESS_KEY": CANARY},
            "SHOAL_BLOBS_S3_SECRET_ACCESS_KEY: only for blobs.backend = 's3' (it is 'filesystem')",
        ),
        (
            {"SHOAL_LIMITS_MAX_BODYY": "5"},
            "SHOAL_LIMITS_MAX_BODYY: unknown configuration variable (no such key)",
        ),
        ({"SHOAL_LIMITS": "5"}, "SHOAL_LIMITS: unknown configuration variable (no such key)"),
        ({"SHOAL_": ""}, "SHOAL_: unknown configuration variable (no such key)"),
    ],
)
def test_variables_that_make_no_sense_are_refused(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    assert refusal(write_toml(tmp_path, base()), environ) == message


def test_variables_that_are_not_configuration_pass(tmp_path: Path) -> None:
    environ = dict.fromkeys(NOT_CONFIGURATION, "anything at all")
    assert load_config(write_toml(tmp_path, base()), environ).limits == Limits()


#: A SHOAL_ name used as an environment variable: quoted ("SHOAL_LONG" for
#: os.environ), assigned (SHOAL_LONG=1) or expanded (${SHOAL_PG_BIN}); not a
#: Python constant that happens to start so (SHOAL_PATH = ...).
VARIABLE_USE = re.compile(
    r"(?:(?<=[\"'`$])|(?<=\$\{))SHOAL_[A-Z0-9_]*[A-Z0-9]\b|\bSHOAL_[A-Z0-9_]*[A-Z0-9](?==)"
)


def test_every_shoal_variable_the_project_uses_is_a_key_or_allowed() -> None:
    """A new SHOAL_ variable in the tests, the CI or the code must be
    allow-listed, or every server the tests start would refuse to load."""
    mine = {Path(__file__).resolve(), REPO / "src" / "shoal" / "server" / "_config.py"}
    sources = [
        path
        for top in ("src", "tests", ".ci", "docs")
        for path in (REPO / top).rglob("*")
        if path.is_file() and path.suffix not in (".pyc", ".mo") and path.resolve() not in mine
    ] + [REPO / "Makefile", REPO / "README.md"]
    used = {
        name
        for path in sources
        for name in VARIABLE_USE.findall(path.read_text("utf-8", "replace"))
    }
    # The scan works: it finds each allowed name where it is used (so none is stale).
    assert used >= NOT_CONFIGURATION == {
        "SHOAL_TEST_ENGINE", "SHOAL_LONG", "SHOAL_REQUIRE_TOOLS", "SHOAL_PG_BIN",
        "SHOAL_TEST_SECRET", "SHOAL_CRASH_SEED",
    }  # fmt: skip
    assert used <= NOT_CONFIGURATION | set(VARIABLES.values())
    # And this process's own environment (the run's SHOAL_TEST_ENGINE, ...) loads.
    assert not {v for v in os.environ if v.startswith("SHOAL_")} - NOT_CONFIGURATION


# -- the files -----------------------------------------------------------------


def test_a_legacy_server_json_is_read_and_checked_alike(tmp_path: Path) -> None:
    legacy = tmp_path / "server.json"
    legacy.write_text(json.dumps(base() | {"limits": {"max_body": 5}, "retention_days": 3}))
    config = load_config(tmp_path, {})
    assert (config.limits.max_body, config.retention_days, config.root_key) == (5, 3, ROOT)
    legacy.write_text(json.dumps(base() | {"limits": {"max_body": 5.0}}))
    assert refusal(tmp_path) == f"server.json: limits.max_body: {LIMIT}"
    legacy.write_text("[1, 2]")
    assert refusal(tmp_path) == f"{legacy} must hold a JSON object"
    legacy.write_text('{"root_key": "' + CANARY)
    message = refusal(tmp_path)
    assert message.startswith(f"{legacy} is not valid JSON (at line 1, column ")
    assert CANARY not in message
    # server.toml, once there, is what counts.
    write_toml(tmp_path, base() | {"retention_days": 9})
    assert load_config(tmp_path, {}).retention_days == 9


def test_a_missing_or_broken_file_is_named(tmp_path: Path) -> None:
    assert refusal(tmp_path) == (
        f"{tmp_path / 'server.toml'} not found: run 'shoal admin init' first"
    )
    path = tmp_path / "server.toml"
    path.write_text(f'database = "sqlite://"\nroot_key = "{CANARY}\n')
    message = refusal(tmp_path)
    assert message.startswith(f"{path} is not valid TOML (at line 2, column ")
    assert CANARY not in message
    path.write_text(f"\x01{CANARY} = 1\n")
    assert CANARY not in refusal(tmp_path)
    path.write_bytes(b'root_key = "\xff"\n')
    assert refusal(tmp_path) == f"{path} is unreadable: UnicodeDecodeError"


def test_secrets_are_never_shown(tmp_path: Path) -> None:
    config = load_config(
        write_toml(tmp_path, base() | {"database": f"postgresql+psycopg://shoal:{CANARY}@db/s"}),
        {
            "SHOAL_BLOBS_BACKEND": "s3",
            "SHOAL_BLOBS_S3_BUCKET": "shoal",
            "SHOAL_BLOBS_S3_SECRET_ACCESS_KEY": CANARY + "s3",
        },
    )
    assert config.database.endswith(f":{CANARY}@db/s")  # there, to connect with
    assert config.blobs.s3 is not None and config.blobs.s3.secret_access_key == CANARY + "s3"
    for shown in (repr(config), str(config), repr(config.blobs), repr(config.blobs.s3)):
        assert CANARY not in shown
    assert "postgresql+psycopg://shoal:***@db/s" in repr(config)
    assert "shoal" in repr(config.blobs.s3)


def test_the_blob_directory_is_the_data_directory_s_unless_configured(tmp_path: Path) -> None:
    def blobs_dir(path: Path | None) -> Path:
        return ServerConfig(tmp_path, ROOT, DATABASE, blobs=BlobSettings(path=path)).blobs_dir

    assert blobs_dir(None) == tmp_path / "blobs"
    assert blobs_dir(Path("store")) == tmp_path / "store"
    assert blobs_dir(Path("/srv/blobs")) == Path("/srv/blobs")


def test_write_config_writes_a_private_file_once_and_only_what_loads(tmp_path: Path) -> None:
    config = ServerConfig(tmp_path, ROOT, DATABASE, limits=Limits(max_files=4))
    old_umask = os.umask(0o277)  # even one that would take the owner's write
    try:
        path = write_config(config)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tomllib.loads(path.read_text()) == base() | {
        "limits": {"max_files": 4},
        "blobs": {"backend": "filesystem"},
    }
    assert path.read_text().startswith("# Shoal server configuration")
    with pytest.raises(ConfigError, match="already set up"):
        write_config(config)
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    for wrong in (
        dataclasses.replace(config, data_dir=elsewhere, limits=Limits(max_body=0)),
        dataclasses.replace(config, data_dir=elsewhere, blobs=BlobSettings("s3")),
        dataclasses.replace(config, data_dir=elsewhere, database="nosuchdb://x"),
    ):
        with pytest.raises(ConfigError):
            write_config(wrong)
        assert list(elsewhere.iterdir()) == []


# -- any valid configuration survives writing and loading ------------------------

#: Printable text without spaces (letters, digits, punctuation, symbols).
VISIBLE = st.characters(categories=["L", "N", "P", "S"], max_codepoint=0x2FFF)
WORD = st.text(VISIBLE, min_size=1, max_size=20)
roots = st.builds(
    lambda seed, org_id: crypto.NoteSigner(org.root_key_name(org_id), crypto.SigningKey(seed)),
    st.binary(min_size=32, max_size=32),
    st.text("0123456789abcdef", min_size=32, max_size=32),
).map(lambda signer: signer.verifier)
databases = st.one_of(
    st.builds(lambda p: f"sqlite:///{p}", st.from_regex(r"/[a-z0-9/._-]{1,30}", fullmatch=True)),
    st.builds(
        lambda password: (
            "postgresql+psycopg://shoal:"
            + "".join(f"%{b:02X}" for b in password.encode())
            + "@db.example:5432/shoal"
        ),
        WORD,
    ),
)
limits = st.builds(
    Limits, **{f.name: st.integers(1, (1 << 63) - 1) for f in dataclasses.fields(Limits)}
)
s3_settings = st.builds(
    S3Settings,
    bucket=st.from_regex(r"[A-Za-z0-9._-]{1,63}", fullmatch=True),
    endpoint_url=st.none() | st.sampled_from(["https://s3.example", "http://127.0.0.1:9000"]),
    region=st.none() | WORD,
    prefix=st.text(
        st.characters(categories=["L", "N", "P", "S", "Zs"], max_codepoint=0x2FFF).filter(
            str.isprintable
        ),
        max_size=20,
    ),
    access_key_id=st.none() | WORD,
    secret_access_key=st.none() | WORD,
)
blob_settings = st.one_of(
    st.builds(
        BlobSettings,
        backend=st.just("filesystem"),
        path=st.none() | st.sampled_from([Path("blobs2"), Path("/srv/blobs"), Path("a b/c")]),
    ),
    st.just(BlobSettings("database")),
    st.builds(BlobSettings, backend=st.just("s3"), s3=s3_settings),
)


@given(
    root=roots,
    database=databases,
    limits=limits,
    retention=st.integers(0, (1 << 63) - 1),
    blobs=blob_settings,
)
def test_any_valid_configuration_loads_back_as_written(
    root: crypto.NoteVerifier, database: str, limits: Limits, retention: int, blobs: BlobSettings
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        config = ServerConfig(Path(scratch), root, database, limits, retention, blobs)
        write_config(config)
        assert load_config(Path(scratch), {}) == config
