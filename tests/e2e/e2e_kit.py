"""What the end-to-end tests share (a module name no other folder uses)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


def shoal(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shoal", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


@dataclass
class Org:
    root: Path
    url: str
    shown: dict[str, str]
    server_tmp: Path
    server_log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Stop the server, as a seizure would find it."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def desk(self, door: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``shoal desk <args…>`` as the handler of ``door``."""
        command, rest = args[0], args[1:]
        return shoal(
            "desk",
            command,
            "--dir",
            str(self.root / f"desk-{door}"),
            "--passphrase-file",
            str(self.root / "passphrases" / f"desk-{door}.passphrase"),
            *rest,
            check=check,
        )
