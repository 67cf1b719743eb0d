"""A throwaway organization, its notes, and a real ``shoal serve`` process.

Built with shoal.crypto and shoal.org directly, as command's machine and a
handler's desk would: root and command note keys, handler identities and
signing keys, signed organization, command-key and epoch notes.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.exceptions import StarletteDeprecationWarning

from shoal import crypto, org
from shoal.server._config import load_config
from shoal.store import create_db_engine, schema, session_factory

with warnings.catch_warnings():
    # Starlette 1.x asks for the httpx2 package behind its TestClient and
    # warns once, at import, when it finds httpx; the client works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient  # noqa: F401 (for the tests)

SHOAL = [sys.executable, "-m", "shoal"]
LOGIN_CONTEXT = b"shoal handler login v1\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class Stored:
    """What a data directory holds: row counts and blob files."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._engine = create_db_engine(load_config(data_dir).database)

    def session(self) -> Session:
        return session_factory(self._engine)()

    def rows(self, table: type[schema.Base]) -> int:
        with self.session() as db:
            return int(db.scalar(select(func.count()).select_from(table)) or 0)

    def blobs(self) -> list[Path]:
        """Stored blobs (``tmp/`` holds only writes in progress)."""
        root = self.data_dir / "blobs"
        return sorted(p for p in root.rglob("*") if p.is_file() and p.parent != root / "tmp")

    def close(self) -> None:
        self._engine.dispose()


@dataclass
class HandlerKeys:
    identity: crypto.AgeIdentity
    signing: crypto.SigningKey

    @property
    def entry(self) -> org.HandlerEntry:
        vk = self.signing.verify_key
        return org.HandlerEntry(org.handler_id_for(vk), self.identity.recipient(), vk)

    @property
    def handler_id(self) -> str:
        return org.handler_id_for(self.signing.verify_key)


def new_handler(key_type: crypto.KeyType = crypto.KeyType.HYBRID) -> HandlerKeys:
    return HandlerKeys(crypto.generate_identity(key_type), crypto.SigningKey.generate())


@dataclass
class Compartment:
    compartment_id: str
    door: str
    handlers: list[HandlerKeys]


@dataclass
class OrgKit:
    organization: org.Organization
    root: crypto.NoteSigner
    command: crypto.NoteSigner
    command_serial: int
    reading: crypto.AgeIdentity
    compartments: dict[str, Compartment] = field(default_factory=dict)
    #: When epochs made without an explicit expiry expire: fixed for the
    #: kit, so that the same epoch signed twice is the same note (a clock
    #: second passing between two signings made them differ).
    default_expiry: datetime = field(
        default_factory=lambda: datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    )

    @property
    def org_id(self) -> str:
        return self.organization.org_id

    @property
    def root_key(self) -> str:
        return str(self.root.verifier)

    def organization_note(self) -> str:
        return crypto.sign_note(self.organization.record(), [self.root])

    def command_note(self) -> str:
        cert = org.CommandCertificate(
            self.org_id, self.command_serial, self.command.verifier, self.reading.recipient()
        )
        return crypto.sign_note(cert.record(), [self.root])

    def add_compartment(self, door: str, handlers: int = 1) -> Compartment:
        compartment = Compartment(
            org.new_id(),
            door,
            [new_handler(self.organization.key_type) for _ in range(handlers)],
        )
        self.compartments[door] = compartment
        return compartment

    def epoch(
        self,
        door: str,
        number: int = 1,
        expires: datetime | None = None,
        handlers: list[HandlerKeys] | None = None,
    ) -> org.Epoch:
        compartment = self.compartments[door]
        return org.Epoch(
            org_id=self.org_id,
            compartment_id=compartment.compartment_id,
            door=door,
            number=number,
            expires=expires or self.default_expiry,
            handlers=tuple(
                h.entry for h in (compartment.handlers if handlers is None else handlers)
            ),
            command=self.reading.recipient(),
        )

    def epoch_note(self, door: str, number: int = 1, **kwargs: object) -> str:
        epoch = self.epoch(door, number, **kwargs)  # type: ignore[arg-type]
        return crypto.sign_note(epoch.record(), [self.command])

    def write_notes(self, directory: Path, doors: list[str] | None = None) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        files = {
            "organization.note": self.organization_note(),
            f"command-{self.command_serial}.note": self.command_note(),
        }
        for door in doors if doors is not None else list(self.compartments):
            files[f"epoch-{door}-1.note"] = self.epoch_note(door)
        paths = []
        for name, text in files.items():
            path = directory / name
            path.write_text(text)
            paths.append(path)
        return paths


def new_org(key_type: crypto.KeyType = crypto.KeyType.HYBRID) -> OrgKit:
    org_id = org.new_id()
    return OrgKit(
        organization=org.Organization(org_id, key_type, crypto.generate_salt()),
        root=crypto.NoteSigner(org.root_key_name(org_id), crypto.SigningKey.generate()),
        command=crypto.NoteSigner(org.command_key_name(org_id, 1), crypto.SigningKey.generate()),
        command_serial=1,
        reading=crypto.generate_identity(key_type),
    )


def shoal(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SHOAL, *args], capture_output=True, text=True, timeout=60, check=check, env=env
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM (a clean stop), then SIGKILL if it does not end in time; waited
    on either way (PID 1 here does not reap)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


class ServerProcess:
    """``shoal serve`` as a real process, with its own TMPDIR and captured output."""

    def __init__(self, data_dir: Path, scratch: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmpdir = scratch / f"tmp-{self.port}"
        self.tmpdir.mkdir(parents=True)
        self.stdout_path = scratch / f"stdout-{self.port}.log"
        self.stderr_path = scratch / f"stderr-{self.port}.log"
        env = {**os.environ, "TMPDIR": str(self.tmpdir)}
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [*SHOAL, "serve", "--data", str(data_dir), "--port", str(self.port), *args],
                stdout=out,
                stderr=err,
                env=env,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"shoal serve exited: {self.stderr_path.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("shoal serve did not start")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)

    def stop(self) -> None:
        stop_process(self.process)

    def output(self) -> bytes:
        return self.stdout_path.read_bytes() + self.stderr_path.read_bytes()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def handler_token(client: httpx.Client, handler: HandlerKeys, compartment_id: str) -> str:
    challenge = client.post("/api/v1/handler/challenges")
    assert challenge.status_code == 201, challenge.text
    nonce = base64.b64decode(challenge.json()["nonce"])
    signature = handler.signing.sign(LOGIN_CONTEXT + nonce + compartment_id.encode())
    answer = client.post(
        "/api/v1/handler/tokens",
        json={
            "challenge": challenge.json()["id"],
            "compartment": compartment_id,
            "key": base64.b64encode(handler.signing.verify_key.public_bytes).decode(),
            "signature": base64.b64encode(signature).decode(),
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


def reply_item(
    contact_recipient: str,
    text: str,
    test_org: OrgKit,
    door: str,
    contact_id: str,
    signer: HandlerKeys | None,
    *,
    header: dict[str, str] | None = None,
    signing_key: crypto.SigningKey | None = None,
) -> bytes:
    """A reply as the desk makes it: to the contact and the epoch, signed."""
    compartment = test_org.compartments[door]
    epoch = test_org.epoch(door)
    recipients = [crypto.parse_recipient(contact_recipient), *epoch.recipients()]
    header = header or {
        "kind": "reply",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "contact": contact_id,
        "compartment": compartment.compartment_id,
        "handler": signer.handler_id if signer else "",
    }
    key = signing_key or (signer.signing if signer else None)
    return crypto.encrypt_item(recipients, header, text.encode(), key)
