"""A real ``shoal serve`` process: no core dumps, and forms only from its own pages."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _server_kit import ServerProcess

import _pages_kit as kit

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


@pytest.fixture
def server(data_dir: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(data_dir, tmp_path / "serve")
    yield process
    process.stop()


def test_serve_can_write_no_core_dump(server: ServerProcess) -> None:
    # Core dumps would put in-flight plaintext and codenames on disk.
    limits = Path(f"/proc/{server.process.pid}/limits").read_text()
    core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
    assert core.split()[4:6] == ["0", "0"], core


def test_serve_marks_itself_not_dumpable() -> None:
    # Asked from inside (PR_GET_DUMPABLE = 3): seen from outside, the only
    # sign is /proc ownership passing to root, which shows nothing to root.
    probe = (
        "import ctypes; from shoal.server.cli import _no_core_dumps; _no_core_dumps(); "
        "print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == "0\n" and done.stderr == ""


def test_the_forms_refuse_another_site_and_work_from_their_own_pages(
    server: ServerProcess,
) -> None:
    with server.client() as client:
        landing = client.get("/d/north/")
        token = re.search(r'name="form_token" value="([^"]+)"', landing.text)
        assert token and client.cookies["shoal_form"] == token.group(1)
        form = {"form_token": token.group(1), "once": kit.hidden(landing.text, "once")}
        forged = client.post(
            "/d/north/first-contact", data=form, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert forged.status_code == 403 and "shoal_session" not in client.cookies
        first = client.post(
            "/d/north/first-contact",
            data=form,
            headers={"Sec-Fetch-Site": "same-origin", "Origin": "null"},
        )
        assert first.status_code == 200 and "shoal_session" in client.cookies
        assert kit.practice(client, kit.codename_from(first.text)).status_code == 303
        sent = client.post(
            kit.submit_action(client),
            files=[("message", (None, "hello")), ("files", ("a.txt", b"a file", "text/plain"))],
            headers={"Sec-Fetch-Site": "same-origin"},
            follow_redirects=False,
        )
        assert sent.status_code == 303 and sent.headers["location"].endswith("?notice=sent")
        out = client.post(
            "/d/north/logout", data={"form_token": token.group(1)}, follow_redirects=False
        )
        assert out.status_code == 303 and 'shoal_session=""' in out.headers["set-cookie"]
