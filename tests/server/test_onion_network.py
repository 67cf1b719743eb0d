"""``shoal serve --onion`` reached through Tor itself: a private Tor network
on loopback (``_tor_network``: three directory authorities, three relays
and a client, all Debian's ``tor``) carries real HTTP requests to Shoal's
onion services and back, end to end: the client looks the address up on
the network's onion service directories, meets Shoal's tor at a
rendezvous point, and the request arrives at Shoal's listener for that
address. Nothing leaves 127.0.0.1.

Shoal's tor joins the network through ``onion.torrc`` alone, the way an
operator would point it at any network. The test takes 30-40 s, most of
it the authorities voting their first consensuses (10 s apart, with tor's
testing options); Shoal and its tor start meanwhile, and its descriptors
are on the directories a few seconds after the network has formed.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from _server_kit import OrgKit, new_org
from test_onion import make_data_dir, start

from _pages_kit import codename_from, first_contact
from _server_config import update_server_config
from _tools import require_tool
from _tor_network import private_tor_network

#: From the network's start to the first answer through Tor. Measured at
#: 21-34 s (also with both CPUs busy); the rest is margin for a slow machine.
REACH_TIMEOUT = 150.0


def _through_tor(network_socks_port: int, base_url: str) -> httpx.Client:
    # socks5h: the client tor resolves the .onion name, as Tor Browser does.
    return httpx.Client(
        base_url=base_url, proxy=f"socks5h://127.0.0.1:{network_socks_port}", timeout=30
    )


@pytest.mark.timeout(240)
def test_a_request_crosses_a_private_tor_network_to_shoal(tmp_path: Path) -> None:
    tor = require_tool("tor", "a private Tor network carries requests to shoal serve --onion")
    tor_gencert = require_tool("tor-gencert", "the private Tor network's authorities' keys")
    kit: OrgKit = new_org()
    kit.add_compartment("north", handlers=1)
    kit.add_compartment("south", handlers=1)
    began = time.monotonic()
    deadline = began + REACH_TIMEOUT
    with private_tor_network(
        tmp_path / "tor", tor=tor, tor_gencert=tor_gencert, wait=False
    ) as network:
        # Shoal starts while the network votes its first consensus.
        data_dir = make_data_dir(tmp_path, kit, handlers_onion=False)
        shoal_tor_log = tmp_path / "shoal-tor.log"
        update_server_config(
            data_dir,
            onion={
                "doors": "south",
                "torrc": "\n".join([*network.join_torrc, f"Log notice file {shoal_tor_log}"]),
            },
        )
        server = start(data_dir, passphrase_file=tmp_path / "passphrase")
        try:
            # Joining another network than Tor is never silent.
            assert "private test network, not Tor" in server.log.read_text()
            network.wait_until_bootstrapped()
            contact = server.services["contact"].address
            south = server.services["door:south"].address
            try:
                # Until Shoal's tor has published its descriptors, the
                # client tor finds none and refuses the connection.
                network.wait_until_reachable(contact, timeout=deadline - time.monotonic())
                reached = time.monotonic() - began
                with _through_tor(network.socks_port, f"http://{contact}") as client:
                    landing = client.get("/d/north/")
                    assert landing.status_code == 200, landing.text
                    assert 'action="/d/north/first-contact"' in landing.text
                    assert 'href="/d/north/login"' in landing.text
                    # And a form sent back the same way: a contact's first step.
                    codename = first_contact(client)
                    assert codename.status_code == 200, codename.text
                    assert len(codename_from(codename.text).split()) == 7
                network.wait_until_reachable(south, timeout=deadline - time.monotonic())
                with _through_tor(network.socks_port, f"http://{south}") as client:
                    root = client.get("/", follow_redirects=False)
                    assert root.status_code == 303
                    assert root.headers["location"] == "/d/south/"
                    assert client.get("/d/south/").status_code == 200
                    assert client.get("/d/north/").status_code == 404
            except BaseException:
                print(network.logs(), "\n--- Shoal's tor:\n", _tail(shoal_tor_log))
                raise
        finally:
            server.stop()
    print(f"first answer through Tor after {reached:.1f} s")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
