"""The limits and peers Shoal is measured beside, each served the way
``shoal serve`` serves (uvicorn, same options, same event loop and HTTP
parser), so the difference is what Shoal does with a request.

    python bench/_peers.py ceiling PORT      # POST / answers 201 {} (the body read)
    python bench/_peers.py sink PORT         # POST / reads the stream, discards it
    python bench/_peers.py gpg PORT GNUPGHOME FINGERPRINT OUTDIR
        # POST / with a multipart "message": gpg-encrypted through
        # python-gnupg to the key, written to OUTDIR and fsynced (the design
        # SecureDrop used until recently)
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool


def ceiling() -> FastAPI:
    app = FastAPI()

    @app.post("/")
    async def empty(request: Request) -> Response:
        await request.body()
        return Response(b"{}", status_code=201, media_type="application/json")

    return app


def sink() -> FastAPI:
    app = FastAPI()

    @app.post("/")
    async def discard(request: Request) -> Response:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return Response(f'{{"size": {size}}}', status_code=201, media_type="application/json")

    return app


def gpg(home: str, fingerprint: str, out: Path) -> FastAPI:
    import gnupg  # noqa: PLC0415

    keyring = gnupg.GPG(gnupghome=home)
    app = FastAPI()

    def store(message: bytes) -> str:
        sealed = keyring.encrypt(message, fingerprint, armor=False, always_trust=True)
        if not sealed.ok:
            raise RuntimeError(sealed.status)
        name = uuid.uuid4().hex
        temp = out / f"{name}.tmp"
        with temp.open("wb") as f:
            f.write(sealed.data)
            f.flush()
            os.fsync(f.fileno())
        temp.rename(out / f"{name}.gpg")
        return name

    @app.post("/")
    async def submit(request: Request) -> Response:
        form = await request.form()
        text = form["message"]
        message = text.encode() if isinstance(text, str) else await text.read()
        name = await run_in_threadpool(store, message)
        return Response(f'{{"items": ["{name}"]}}', status_code=201, media_type="application/json")

    return app


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "ceiling":
        app = ceiling()
    elif kind == "sink":
        app = sink()
    elif kind == "gpg":
        app = gpg(sys.argv[3], sys.argv[4], Path(sys.argv[5]))
    else:
        raise SystemExit(f"unknown peer {kind!r}")
    uvicorn.run(
        app, host="127.0.0.1", port=port, access_log=False, log_level="warning",
        server_header=False, proxy_headers=False,
    )  # fmt: skip


if __name__ == "__main__":
    main()
