"""The field client with a large file: sealing at capture, then a resumable upload.

Against a real ``shoal serve`` of the demo organization (post-quantum keys)
on 127.0.0.1, a member's field client (in this process) seals a
``--mib`` MiB file the moment the report is saved, then sends it through
the resumable upload API in 4 MiB pieces (each fsynced on the server
before it answers). Figures, one JSON line:

* ``seal_mib_s``: saving the report, sealing included; ``ratio_seal_to_age``
  compares it with age encryption alone of the same file to a file beside
  it, fsynced (the limit: sealing adds framing, a digest, padding and a
  signature);
* ``send_mib_s``: sending, login and notes included; beside it
  ``raw_put_mib_s``, an age file of the same size in one plain HTTP PUT
  (no pieces, one fsync) then the finish, to the same server, and
  ``ratio_send_to_raw``;
* ``client_rss_growth_mib``: how much the client's resident memory grew
  (it streams: it should not grow with the file).

Run: ``.venv/bin/python bench/field_upload.py [--mib 200]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from shoal import crypto, demo, org
from shoal.field._field import Field, FileChoice


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _serve(root: Path) -> tuple[str, subprocess.Popen[bytes]]:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    root.mkdir()
    shown = demo.build(root, url)
    process = subprocess.Popen(
        [sys.executable, "-m", "shoal", "serve", "--data", str(root / "server"),
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(300):
        try:
            httpx.get(f"{url}/openapi.json", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    (root / "fingerprint").write_text(
        org.root_fingerprint(crypto.NoteVerifier.parse(shown["root key"]))
    )
    return url, process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url, process = _serve(root / "org")
        try:
            made = httpx.post(f"{url}/api/v1/doors/news/contacts", timeout=30).json()
            field, _ = Field.enroll(
                root / "field", "bench passphrase", server=url, door="news",
                fingerprint=(root / "org" / "fingerprint").read_text(),
                codename=made["codename"], proxy=None, delay=(0, 0), work_factor=10,
                now=lambda: datetime.now(UTC),
            )  # fmt: skip
            field.send(ignore_delay=True)  # the key offer
            big = root / "footage.bin"
            with big.open("wb") as out:
                for _ in range(args.mib):
                    out.write(os.urandom(1 << 20))
            rss = _rss_mib()

            started = time.perf_counter()
            field.report("bench", [FileChoice(big, as_is=True)])
            seal_s = time.perf_counter() - started

            started = time.perf_counter()
            sent = field.send(ignore_delay=True)
            send_s = time.perf_counter() - started
            assert sent.sent == 1, sent
            growth = _rss_mib() - rss

            # The limit for sealing: age alone, to a file beside it, fsynced.
            sealed = root / "footage.age"
            started = time.perf_counter()
            with big.open("rb") as source, sealed.open("wb") as sink:
                with crypto.encrypt_writer(sink, [crypto.generate_identity().recipient()]) as w:
                    while chunk := source.read(1 << 20):
                        w.write(chunk)
                sink.flush()
                os.fsync(sink.fileno())
            age_s = time.perf_counter() - started

            raw_s = _raw_put(url, made["codename"], sealed)
            print(
                json.dumps(
                    {
                        "bench": "field_upload",
                        "mib": args.mib,
                        "seal_mib_s": round(args.mib / seal_s, 1),
                        "age_encrypt_mib_s": round(args.mib / age_s, 1),
                        "ratio_seal_to_age": round(age_s / seal_s, 2),
                        "send_mib_s": round(args.mib / send_s, 1),
                        "raw_put_mib_s": round(args.mib / raw_s, 1),
                        "ratio_send_to_raw": round(raw_s / send_s, 2),
                        "client_rss_growth_mib": round(growth, 1),
                    }
                )
            )
        finally:
            process.terminate()
            process.wait()


def _raw_put(url: str, codename: str, big: Path) -> float:
    """One PUT of the whole file into a fresh upload: the server's own path
    without the client's pieces (what the pieces cost)."""
    with httpx.Client(base_url=url, timeout=600) as http:
        session = http.post("/api/v1/doors/news/sessions", json={"codename": codename}).json()
        auth = {"Authorization": f"Bearer {session['session']}"}
        upload = secrets.token_hex(16)
        http.post(
            "/api/v1/doors/news/uploads",
            json={"id": upload, "size": big.stat().st_size, "epoch": 1},
            headers=auth,
        ).raise_for_status()

        def chunks() -> object:
            with big.open("rb") as source:
                while chunk := source.read(1 << 20):
                    yield chunk

        started = time.perf_counter()
        answer = http.put(
            f"/api/v1/doors/news/uploads/{upload}",
            params={"offset": 0},
            content=chunks(),  # type: ignore[arg-type]
            headers=auth | {"Content-Type": "application/octet-stream"},
        )
        answer.raise_for_status()
        http.post(f"/api/v1/doors/news/uploads/{upload}/finish", headers=auth).raise_for_status()
        elapsed = time.perf_counter() - started
        return elapsed


if __name__ == "__main__":
    main()
