"""Everything streams: a large upload through a real server process leaves
its memory flat (non-negotiable #4)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from _server_kit import ServerProcess, Stored

MIB = 1024 * 1024
UPLOAD = 256 * MIB
#: Far below the upload: a server that buffered the file, or its ciphertext,
#: or kept every chunk it sealed, would grow by hundreds of MiB.
ALLOWED_GROWTH = 64 * MIB
BOUNDARY = "shoalmemorytest"


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def streamed_body() -> Iterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
        f'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    piece = os.urandom(MIB)
    for _ in range(UPLOAD // MIB):
        yield piece
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def test_a_256_mib_upload_keeps_the_server_flat(
    data_dir: Path, tmp_path: Path, stored: Stored
) -> None:
    server = ServerProcess(data_dir, tmp_path)
    try:
        with server.client() as client:
            session = client.post("/api/v1/doors/north/contacts").json()["session"]
            # Warm the server up (imports, first sealing) before measuring.
            client.post(
                "/api/v1/doors/north/submissions",
                headers={"Authorization": f"Bearer {session}"},
                data={"message": "warm-up"},
            )
            before = peak_rss(server.process.pid)
            answer = client.post(
                "/api/v1/doors/north/submissions",
                headers={
                    "Authorization": f"Bearer {session}",
                    "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                },
                content=streamed_body(),
                timeout=300,
            )
            assert answer.status_code == 201, answer.text
            growth = peak_rss(server.process.pid) - before
    finally:
        server.stop()
    assert growth < ALLOWED_GROWTH, f"server memory grew by {growth / MIB:.0f} MiB"
    # And the whole file did arrive, sealed (padded, so a little larger).
    assert max(path.stat().st_size for path in stored.blobs()) > UPLOAD
