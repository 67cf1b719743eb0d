"""Test plumbing for members' items over a real server: a member sending
as ``shoal field`` does (signed items sealed on the device, through the
resumable upload routes and the anonymous alarm route), and the served
organization's roles driven through the real command line, in-process
(``shoal desk``, ``shoal command``, ``shoal admin``) over real HTTP."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from _served_org import Org
from shoal import crypto, org, trusted
from shoal.cli import main
from shoal.desk._state import Layout, load_config, load_index
from shoal.trusted import Trust

DOOR = "news"
TIME = "2026-11-23T05:40:00Z"


def run(*args: str) -> Result:
    """``shoal <args>`` in this process; a failure fails the test."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, f"shoal {' '.join(args[:3])}: {result.output}"
    return result


@dataclass
class DeskDir:
    """One handler's desk directory of the served organization."""

    folder: Path
    passphrase_file: Path

    @classmethod
    def of(cls, served: Org, door: str = DOOR) -> DeskDir:
        return cls(
            served.root / f"desk-{door}",
            served.root / "passphrases" / f"desk-{door}.passphrase",
        )

    def run(self, command: str, *args: str, check: bool = True) -> Result:
        argv = ["desk", command, "--dir", str(self.folder)]
        argv += ["--passphrase-file", str(self.passphrase_file), *args]
        result = CliRunner().invoke(main, argv, catch_exceptions=False)
        if check:
            assert result.exit_code == 0, f"desk {command}: {result.output}"
        return result

    def list_lines(self) -> dict[str, str]:
        """``shoal desk list``: item id → its line."""
        lines = self.run("list").stdout.splitlines()
        return {line.split()[0]: line for line in lines}

    @property
    def layout(self) -> Layout:
        return Layout(self.folder)

    def keystore(self) -> crypto.Keystore:
        return trusted.unlock_keystore(
            self.folder / "keystore.age", self.passphrase_file.read_text().strip()
        )

    def trust(self) -> Trust:
        return load_config(self.layout).trust()

    def handler_id(self) -> str:
        return trusted.Enrollment.parse((self.folder / "enrollment.txt").read_text()).handler_id

    def contacts(self) -> set[str]:
        return {i.contact for i in load_index(self.layout).items if i.contact is not None}


class Member:
    """A member's device: a contact session and a signing key."""

    def __init__(self, served: Org, door: str = DOOR) -> None:
        self.url = f"{served.url}/api/v1/doors/{door}"
        made = httpx.post(f"{self.url}/contacts", timeout=30)
        assert made.status_code == 201, made.text
        self.session = made.json()["session"]
        self.key = crypto.SigningKey.generate()
        self.root = served.url

    @property
    def key_text(self) -> str:
        return base64.b64encode(self.key.verify_key.public_bytes).decode()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.session}"}

    def seal(
        self,
        epoch: org.Epoch,
        kind: str,
        content: bytes = b"",
        *,
        signer: crypto.SigningKey | str | None = "mine",
        **extra: Any,
    ) -> bytes:
        """An item as the field client seals it: to ``epoch``'s recipients,
        the epoch and compartment in its header, signed by this member
        (``signer``: another key, or None for no signature)."""
        header = {
            "kind": kind,
            "time": TIME,
            "epoch": epoch.number,
            "compartment": epoch.compartment_id,
            **extra,
        }
        key = self.key if signer == "mine" else signer
        sealer = crypto.ItemSealer(epoch.recipients(), header)
        pieces = sealer.update(content)
        return b"".join(
            [*pieces, *sealer.finalize(key if isinstance(key, crypto.SigningKey) else None)]
        )

    def upload(self, sealed: bytes, epoch: int) -> str:
        """Through the resumable upload routes, in two pieces; the item's id."""
        upload_id = secrets.token_hex(16)
        made = httpx.post(
            f"{self.url}/uploads",
            json={"id": upload_id, "size": len(sealed), "epoch": epoch},
            headers=self._headers(),
            timeout=30,
        )
        assert made.status_code == 201, made.text
        half = len(sealed) // 2
        for offset, piece in ((0, sealed[:half]), (half, sealed[half:])):
            sent = httpx.put(
                f"{self.url}/uploads/{upload_id}",
                params={"offset": offset},
                content=piece,
                headers={**self._headers(), "Content-Type": "application/octet-stream"},
                timeout=30,
            )
            assert sent.status_code == 200, sent.text
        done = httpx.post(f"{self.url}/uploads/{upload_id}/finish", headers=self._headers())
        assert done.status_code == 201, done.text
        item = done.json()["item"]
        assert isinstance(item, str)
        return item

    def report(
        self, epoch: org.Epoch, text: str, files: dict[str, bytes], **extra: Any
    ) -> tuple[str, str, list[str]]:
        """A report and its files, each uploaded: (report id, item, file items)."""
        report_id = secrets.token_hex(16)
        head = {"report": report_id, "parts": 1 + len(files), **extra}
        item = self.upload(self.seal(epoch, "report", text.encode(), **head), epoch.number)
        parts = [
            self.upload(
                self.seal(
                    epoch,
                    "report-file",
                    data,
                    report=report_id,
                    name=name,
                    type="application/octet-stream",
                    scrubbed=[],
                ),
                epoch.number,
            )
            for name, data in files.items()
        ]
        return report_id, item, parts

    def offer_key(self, epoch: org.Epoch) -> str:
        return self.upload(self.seal(epoch, "member-key", key=self.key_text), epoch.number)

    def alarm(self, sealed: bytes) -> None:
        """The silent signal: stored pending under a token, then released
        by a request with no session (the route a seized device's client
        takes when next online)."""
        stored = httpx.post(
            f"{self.url}/alarms",
            content=sealed,
            headers={**self._headers(), "Content-Type": "application/octet-stream"},
            timeout=30,
        )
        assert stored.status_code == 201, stored.text
        released = httpx.post(f"{self.root}/api/v1/alarms/{stored.json()['token']}", timeout=30)
        assert released.status_code == 204, released.text
