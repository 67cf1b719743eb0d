"""``shoal serve --onion`` with a real tor (Debian's), its network disabled:
tor loads the services and writes their addresses without any outside
network (../shared/TOOLCHAIN.md), which is all these tests need.

What is checked against the real processes: the addresses tor serves are
the ones Shoal derived and printed, and they survive a restart; the keys
are encrypted on disk and no byte of them is anywhere else in the data
directory; Shoal and its tor listen on loopback only; each listener serves
what its address is for; the defences are in tor's running configuration;
the QR codes decode to the printed links; a killed Shoal takes its tor
with it and leaves nothing that stops the next start.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import httpx
import psutil
import pytest
import stem.control
from _server_kit import OrgKit, free_port, new_org, stop_process, wait_for
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import _engines
from _server_config import update_server_config
from _tools import require_tool
from shoal import crypto, org
from shoal.server._admin import import_notes, init_data_dir
from shoal.server._config import load_config
from shoal.server._onion_keys import OnionKey, keys_path
from shoal.server._tor import runtime_dir

SHOAL = [sys.executable, "-m", "shoal"]
PASSPHRASE = "correct horse battery staple onion"
_ONION_LINE = re.compile(r"^onion: http://([a-z2-7]{56}\.onion)/ -> 127\.0\.0\.1:(\d+)  \((.*)\)$")


def set_up_data_dir(directory: Path, kit: OrgKit) -> Path:
    init_data_dir(directory, kit.root_key, _engines.database_url())
    import_notes(directory, kit.write_notes(directory.parent / "notes"), datetime.now(UTC))
    return directory


def _client_key() -> str:
    public = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "descriptor:x25519:" + base64.b32encode(public).decode().rstrip("=")


@dataclass
class Published:
    address: str
    port: int
    what: str


@dataclass
class OnionServer:
    data_dir: Path
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    services: dict[str, Published]

    def stop(self) -> None:
        stop_process(self.process)

    def url(self, service: str = "main") -> str:
        port = self.port if service == "main" else self.services[service].port
        return f"http://127.0.0.1:{port}"


def start(data_dir: Path, *extra: str, passphrase_file: Path | None = None) -> OnionServer:
    """``shoal serve --onion``, once it has printed every onion line."""
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    command = [*SHOAL, "serve", "--data", str(data_dir), "--port", str(port), "--onion"]
    if passphrase_file is not None:
        command += ["--onion-passphrase-file", str(passphrase_file)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, *extra], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    expected = (
        2
        + len(load_config(data_dir).onion.doors)
        + bool(list((data_dir / "onion" / "clients").glob("*.auth")))
    )
    services: dict[str, Published] = {}

    def printed() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"shoal serve exited: {log.read_text()}")
        services.clear()
        for line in log.read_text().splitlines():
            found = _ONION_LINE.match(line)
            if found:
                what = found.group(3)
                name = (
                    "contact"
                    if what.startswith("contact")
                    else "handlers"
                    if what.startswith("handler")
                    else "door:" + what.split("'")[1]
                )
                services[name] = Published(found.group(1), int(found.group(2)), what)
        return len(services) == expected - 1 and "QR:" in log.read_text()

    try:
        wait_for(printed, "the onion addresses", timeout=60)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return OnionServer(data_dir, process, port, log, dict(services))


@pytest.fixture(scope="module")
def tor() -> str:
    return require_tool("tor", "shoal serve --onion starts Debian's tor")


@pytest.fixture(scope="module")
def kit() -> OrgKit:
    made = new_org()
    made.add_compartment("north", handlers=2)
    made.add_compartment("south", handlers=2)
    return made


def make_data_dir(base: Path, kit: OrgKit, *, handlers_onion: bool = True) -> Path:
    data_dir = set_up_data_dir(base / "data", kit)
    update_server_config(data_dir, onion={"doors": "south", "torrc": "DisableNetwork 1"})
    if handlers_onion:
        subprocess.run(
            [*SHOAL, "admin", "onion-client", "--data", str(data_dir), "desk-1", _client_key()],
            check=True,
            capture_output=True,
            timeout=60,
        )
    (base / "passphrase").write_text(PASSPHRASE + "\n")
    return data_dir


@pytest.fixture(scope="module")
def served(
    tor: str, kit: OrgKit, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OnionServer]:
    base = tmp_path_factory.mktemp("onion")
    server = start(make_data_dir(base, kit), passphrase_file=base / "passphrase")
    yield server
    server.stop()


def serve_once(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``shoal serve`` expected to refuse: its exit and output."""
    return subprocess.run(
        [*SHOAL, "serve", "--data", str(data_dir), "--port", str(free_port()), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def tor_control(data_dir: Path) -> stem.control.Controller:
    controller = stem.control.Controller.from_socket_file(
        str(runtime_dir(load_config(data_dir).onion, data_dir) / "control")
    )
    controller.authenticate()
    return controller


# -- what tor serves --------------------------------------------------------


def test_tor_serves_the_printed_addresses_with_the_defences_on(served: OnionServer) -> None:
    assert set(served.services) == {"contact", "door:south", "handlers"}
    runtime = runtime_dir(load_config(served.data_dir).onion, served.data_dir)
    hostnames = {p.read_text().strip() for p in runtime.glob("hs-*/hostname")}
    assert hostnames == {p.address for p in served.services.values()}
    with tor_control(served.data_dir) as controller:
        services = controller.get_conf_map("HiddenServiceOptions", multiple=True)
        for option, value in {
            "HiddenServicePoWDefensesEnabled": "1",
            "HiddenServicePoWQueueRate": "250",
            "HiddenServiceEnableIntroDoSDefense": "1",
            "HiddenServiceEnableIntroDoSRatePerSec": "25",
            "HiddenServiceEnableIntroDoSBurstPerSec": "200",
            "HiddenServiceMaxStreams": "32",
            "HiddenServiceMaxStreamsCloseCircuit": "1",
        }.items():
            assert services[option] == [value] * 3, option
        targets = sorted(services["HiddenServicePort"])
        assert targets == sorted(f"80 127.0.0.1:{p.port}" for p in served.services.values())
        assert controller.get_conf("SocksPort") == "0"
    # Only the handlers' service admits authorized clients, and only ours.
    authorized = list(runtime.glob("hs-*/authorized_clients/*.auth"))
    assert len(authorized) == 1
    clients = served.data_dir / "onion" / "clients" / "desk-1.auth"
    assert authorized[0].read_text() == clients.read_text()


def test_shoal_and_its_tor_listen_on_loopback_only(served: OnionServer) -> None:
    shoal = psutil.Process(served.process.pid)
    tors = [p for p in shoal.children(recursive=True) if p.name() == "tor"]
    assert len(tors) == 1
    listening = [
        c
        for proc in (shoal, *tors)
        for c in proc.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}
    assert {c.laddr.port for c in listening} == {
        served.port,
        *(p.port for p in served.services.values()),
    }
    assert not [c for c in tors[0].net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    # tor holds the keys in memory: it inherits Shoal's ban on core dumps.
    assert tors[0].rlimit(psutil.RLIMIT_CORE) == (0, 0)


# -- what each address serves -----------------------------------------------


def test_a_doors_address_serves_that_door_alone(served: OnionServer) -> None:
    with httpx.Client(base_url=served.url("door:south"), timeout=30) as client:
        root = client.get("/")
        assert root.status_code == 303
        assert root.headers["location"] == "/d/south/"
        assert client.get("/d/south/").status_code == 200
        assert client.get("/static/style.css").status_code == 200
        # Another door, the handler API: as if they did not exist.
        for path in ("/d/north/", "/api/v1/org", "/openapi.json"):
            refused = client.get(path)
            assert refused.status_code == 404, path
        assert client.post("/api/v1/doors/north/contacts").status_code == 404
        assert client.post("/api/v1/handler/challenges", json={}).status_code == 404


def test_the_handler_api_has_its_own_address_and_nothing_else(served: OnionServer) -> None:
    with httpx.Client(base_url=served.url("handlers"), timeout=30) as client:
        assert client.post("/api/v1/handler/challenges", json={}).status_code != 404
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/d/north/").status_code == 404
        assert client.get("/d/south/").status_code == 404
    with httpx.Client(base_url=served.url("contact"), timeout=30) as client:
        assert client.get("/d/north/").status_code == 200
        assert client.get("/d/south/").status_code == 200
        assert client.post("/api/v1/handler/challenges", json={}).status_code == 404
        assert "Onion-Location" not in client.get("/d/north/").headers
    # The main loopback socket (a local proxy, the operator) keeps everything.
    with httpx.Client(base_url=served.url(), timeout=30) as client:
        assert client.post("/api/v1/handler/challenges", json={}).status_code != 404
        assert client.get("/d/north/").status_code == 200


def test_the_refusal_is_the_apps_own_not_found_page(served: OnionServer) -> None:
    with httpx.Client(base_url=served.url("door:south"), timeout=30) as client:
        refused = client.get("/d/north/", headers={"Accept-Language": "uk"})
        missing = client.get("/d/south/no-such-page", headers={"Accept-Language": "uk"})
    assert refused.status_code == missing.status_code == 404
    assert refused.headers["content-type"] == missing.headers["content-type"]
    assert refused.headers["content-security-policy"]

    def content(page: httpx.Response) -> str:
        return page.text.split("<main>")[1]

    assert content(refused) == content(missing)
    assert "north" not in refused.text


# -- printed material --------------------------------------------------------


def test_qr_codes_decode_to_the_printed_links(served: OnionServer) -> None:
    zbarimg = require_tool("zbarimg", "decoding the QR codes Shoal writes")
    folder = served.data_dir / "onion" / "qr"
    contact = served.services["contact"].address
    south = served.services["door:south"].address
    expected = {
        "contact-north": f"http://{contact}/d/north/",
        "contact-south": f"http://{contact}/d/south/",
        "door-south": f"http://{south}/",
    }
    assert {p.stem for p in folder.glob("*.png")} == set(expected)
    assert {p.stem for p in folder.glob("*.svg")} == set(expected)
    log = served.log.read_text()
    for name, url in expected.items():
        assert f"{url}  QR: {folder / name}.svg, .png" in log
        decoded = subprocess.run(
            [zbarimg, "--quiet", "--raw", str(folder / f"{name}.png")],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert decoded.stdout.strip() == url
        svg = ElementTree.parse(folder / f"{name}.svg").getroot()
        assert svg.tag.endswith("svg")
    # The handlers' address is never on printed material.
    assert served.services["handlers"].address not in "".join(
        p.read_text(errors="replace") for p in folder.glob("*.svg")
    )


# -- keys at rest, restarts --------------------------------------------------


def _every_byte(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def test_keys_are_encrypted_at_rest_and_nowhere_else(served: OnionServer) -> None:
    sealed = keys_path(served.data_dir).read_bytes()
    assert sealed.startswith(b"age-encryption.org/v1\n-> scrypt ")
    plain = json.loads(crypto.decrypt(sealed, [crypto.ScryptIdentity(PASSPHRASE)]))
    keys = {name: OnionKey(base64.b64decode(seed)) for name, seed in plain["keys"].items()}
    assert {name: k.address for name, k in keys.items()} == {
        name: p.address for name, p in served.services.items()
    }
    corpus = _every_byte(served.data_dir) + served.log.read_bytes()
    for key in keys.values():
        expanded = key.tor_secret_key_file()[32:]
        for secret in (key.seed, expanded):
            for form in (secret, base64.b64encode(secret), secret.hex().encode()):
                assert form not in corpus


def test_the_addresses_survive_a_restart_and_a_kill(tor: str, kit: OrgKit, tmp_path: Path) -> None:
    data_dir = make_data_dir(tmp_path, kit, handlers_onion=False)
    first = start(data_dir, passphrase_file=tmp_path / "passphrase")
    runtime = runtime_dir(load_config(data_dir).onion, data_dir)
    assert runtime.is_dir()
    first.stop()
    assert first.process.returncode == 0
    assert not runtime.exists(), "a clean stop leaves no key on the RAM disk"

    second = start(data_dir, passphrase_file=tmp_path / "passphrase")
    assert {n: p.address for n, p in second.services.items()} == {
        n: p.address for n, p in first.services.items()
    }
    tor_pid = next(
        p.pid for p in psutil.Process(second.process.pid).children() if p.name() == "tor"
    )
    second.process.send_signal(signal.SIGKILL)
    second.process.wait()
    # tor is owned by Shoal's control connection: it goes when Shoal goes.
    wait_for(lambda: not psutil.pid_exists(tor_pid) or psutil.Process(tor_pid).status() == "zombie",
             "tor to exit after Shoal was killed", timeout=30)  # fmt: skip

    third = start(data_dir, passphrase_file=tmp_path / "passphrase")
    try:
        assert third.services["contact"].address == first.services["contact"].address
        assert httpx.get(third.url("door:south") + "/d/south/", timeout=30).status_code == 200
    finally:
        third.stop()


def test_a_wrong_passphrase_starts_nothing(served: OnionServer, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    before = {c.laddr.port for c in psutil.net_connections("inet") if c.status == "LISTEN"}
    done = serve_once(served.data_dir, "--onion", "--onion-passphrase-file", str(wrong))
    assert done.returncode == 1
    assert "wrong passphrase" in done.stderr
    assert "onion:" not in done.stdout
    after = {c.laddr.port for c in psutil.net_connections("inet") if c.status == "LISTEN"}
    assert after <= before


def test_without_a_passphrase_and_a_terminal_it_refuses(served: OnionServer) -> None:
    done = serve_once(served.data_dir, "--onion")
    assert done.returncode == 1
    assert "--onion-passphrase-file" in done.stderr


def test_a_second_onion_server_on_the_same_data_directory_is_refused(
    served: OnionServer, tmp_path: Path
) -> None:
    passphrase = served.data_dir.parent / "passphrase"
    done = serve_once(served.data_dir, "--onion", "--onion-passphrase-file", str(passphrase))
    assert done.returncode == 1
    assert "already published" in done.stderr
    # ... and the running one was not disturbed.
    assert httpx.get(served.url("contact") + "/d/north/", timeout=30).status_code == 200


def test_a_runtime_directory_on_disk_is_refused(tor: str, kit: OrgKit, tmp_path: Path) -> None:
    data_dir = make_data_dir(tmp_path, kit, handlers_onion=False)
    on_disk = data_dir.parent / "runtime"
    update_server_config(
        data_dir, onion={"doors": "south", "torrc": "DisableNetwork 1", "runtime_dir": str(on_disk)}
    )
    passphrase = tmp_path / "passphrase"
    done = serve_once(data_dir, "--onion", "--onion-passphrase-file", str(passphrase))
    if os.statvfs(on_disk).f_fsid == os.statvfs("/dev/shm").f_fsid:
        pytest.fail("the test's temporary directory is itself on a RAM disk")
    assert done.returncode == 1
    assert "is not a RAM disk" in done.stderr
    assert not list(on_disk.glob("shoal-onion-*"))


# -- the clear web ------------------------------------------------------------


def test_the_clear_web_gets_onion_location(tor: str, kit: OrgKit, tmp_path: Path) -> None:
    data_dir = make_data_dir(tmp_path, kit, handlers_onion=False)
    server = start(data_dir, "--public", passphrase_file=tmp_path / "passphrase")
    try:
        contact = server.services["contact"].address
        with httpx.Client(base_url=server.url(), timeout=30) as client:
            page = client.get("/d/north/login?lang=uk")
            assert page.headers["Onion-Location"] == f"http://{contact}/d/north/login?lang=uk"
            api = client.get("/api/v1/doors/north/org")
            assert "Onion-Location" not in api.headers
        with httpx.Client(base_url=server.url("contact"), timeout=30) as client:
            assert "Onion-Location" not in client.get("/d/north/").headers
            # Without a handlers' address, desks log in by the contact
            # address: a login must be signed for it.
            assert _login(client, kit, "south", contact).status_code == 201
            assert _login(client, kit, "south", "shoal.test").status_code == 401
    finally:
        server.stop()


def test_a_non_loopback_address_needs_public(tmp_path: Path, kit: OrgKit) -> None:
    data_dir = set_up_data_dir(tmp_path / "data", kit)
    for host in ("0.0.0.0", "::", "192.0.2.1"):
        done = serve_once(data_dir, "--host", host)
        assert done.returncode == 1
        assert "not loopback" in done.stderr


# -- a handler's login is bound to the address the desk dialled --------------------


def _login(client: httpx.Client, kit: OrgKit, door: str, host: str | None) -> httpx.Response:
    handler = kit.compartments[door].handlers[0]
    compartment = kit.compartments[door].compartment_id
    challenge = client.post("/api/v1/handler/challenges").json()
    nonce = base64.b64decode(challenge["nonce"])
    body = {
        "challenge": challenge["id"],
        "compartment": compartment,
        "key": base64.b64encode(handler.signing.verify_key.public_bytes).decode(),
        "signature": base64.b64encode(
            handler.signing.sign(org.handler_login_message(nonce, compartment, host))
        ).decode(),
    }
    if host is not None:
        body["host"] = host
    return client.post("/api/v1/handler/tokens", json=body)


def test_a_login_relayed_by_a_phishing_address_is_refused(served: OnionServer, kit: OrgKit) -> None:
    own = served.services["handlers"].address
    phishing = org.onion_address(os.urandom(32))
    with httpx.Client(base_url=served.url("handlers"), timeout=30) as client:
        assert _login(client, kit, "north", own).status_code == 201
        # Signed for the name the desk was tricked into dialling, relayed here.
        relayed = _login(client, kit, "north", phishing)
        assert relayed.status_code == 401
        assert relayed.json()["error"].startswith("The login failed")
        # The relay cannot fall back to the version without a name either.
        assert _login(client, kit, "north", None).status_code == 401
    # Where the server does not know its name (the loopback socket behind
    # a proxy), it cannot check one: both versions log in.
    with httpx.Client(base_url=served.url(), timeout=30) as client:
        assert _login(client, kit, "north", phishing).status_code == 201
        assert _login(client, kit, "north", None).status_code == 201


def test_without_onion_the_clear_web_names_the_signed_contact_address(
    tmp_path: Path, kit: OrgKit
) -> None:
    data_dir = set_up_data_dir(tmp_path / "data", kit)
    signed = org.onion_address(os.urandom(32))
    doors = org.DoorsList(kit.org_id, kit.root.verifier, 1, None, (signed,))
    note = tmp_path / "doors-1.note"
    note.write_text(crypto.sign_note(doors.record(), [kit.root]))
    subprocess.run(
        [*SHOAL, "admin", "import", "--data", str(data_dir), str(note)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    for public, expected in ((True, f"http://{signed}/d/north/"), (False, None)):
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*SHOAL, "serve", "--data", str(data_dir), "--port", str(port),
                 *(["--public"] if public else [])],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/d/north/"

            def up(url: str = url) -> bool:
                try:
                    return httpx.get(url, timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(up, "shoal serve", timeout=60)
            assert httpx.get(url, timeout=30).headers.get("Onion-Location") == expected
        finally:
            stop_process(process)


# -- the signed doors list, as each address serves it -------------------------------


def test_each_address_serves_its_signed_list_and_it_verifies(
    served: OnionServer, kit: OrgKit
) -> None:
    contact = served.services["contact"].address
    south = served.services["door:south"].address
    notes = []
    for number, door, address in ((1, None, contact), (2, "south", south)):
        doors = org.DoorsList(kit.org_id, kit.root.verifier, number, door, (address,))
        path = served.data_dir.parent / f"doors-{number}.note"
        path.write_text(crypto.sign_note(doors.record(), [kit.root]))
        notes.append(str(path))
    subprocess.run(
        [*SHOAL, "admin", "import", "--data", str(served.data_dir), *notes],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    fingerprint = org.root_fingerprint(kit.root.verifier)
    for service, door, address in (("contact", None, contact), ("door:south", "south", south)):
        with httpx.Client(base_url=served.url(service), timeout=30) as client:
            answer = client.get("/doors.note")
            assert answer.status_code == 200
            listed = org.open_doors_list(answer.text, fingerprint)
            assert (listed.door, listed.addresses) == (door, (address,))
            # Visited by its own address, the check page warns of nothing;
            # by an address nobody signed, it does.
            page = client.get("/d/south/check", headers={"Host": address})
            assert page.status_code == 200
            assert fingerprint in page.text and address in page.text
            assert 'role="alert"' not in page.text
            phishing = org.onion_address(os.urandom(32))
            warned = client.get("/d/south/check", headers={"Host": phishing})
            assert 'role="alert"' in warned.text
    # A door's address never shows the general list, nor the general
    # address a door's list.
    with httpx.Client(base_url=served.url("door:south"), timeout=30) as client:
        assert contact not in client.get("/doors.note").text
        assert contact not in client.get("/d/south/check").text
