"""A private Tor network on loopback, for tests that need Tor to carry a
real request: three directory authorities that also relay, a few plain
relays and a client with a SOCKS port, all from Debian's one ``tor``
binary, nothing reaching past 127.0.0.1. The way chutney builds its
networks (torproject/chutney: keys from ``tor-gencert`` and
``tor --list-fingerprint``, ``TestingTorNetwork`` with the voting cycle
cut to seconds), written down again with only what an onion service
test needs.

    with private_tor_network(tmp_path / "tor", tor=..., tor_gencert=...) as network:
        extra_torrc = network.join_torrc    # lines for a further tor to join
        network.wait_until_bootstrapped()   # the client can build circuits
        httpx.Client(proxy=f"socks5h://127.0.0.1:{network.socks_port}")

:meth:`TorNetwork.wait_until_bootstrapped` is separate from starting so a
test can start its own tor (e.g. an onion service) while the network is
still voting its first consensus: the two waits then overlap.

Every tor started here is this process's child: the context manager
terminates, kills if need be, and waits on each (PID 1 may not reap), and
each tor also exits by itself within 15 s if this process dies
(``__OwningControllerProcess``). Importable from any test module as
``_tor_network`` (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: Seconds between two votes of the authorities, once there is a consensus
#: and before (tor's ``TestingV3AuthInitialVotingInterval``). Must divide a
#: day; the vote and distribution delays (2 s each) must together stay under
#: half of it, which is the interval tor falls back on without a consensus.
#: 10 s is chutney's old setting: the first consensus is out within ~10-20 s
#: of starting; 5 s (allowed for the initial interval only) was found to be
#: unstable there. It also sets the onion services' time period in a testing
#: network (24 voting rounds: 4 minutes here), which a test shorter than
#: that sees rotate at most once; services publish for both periods anyway.
VOTING_INTERVAL = 10
AUTHORITIES = 3
#: Plain relays besides the authorities (which relay too). An onion
#: service needs five distinct relays to be reachable: a three-hop path to
#: its introduction point, and the client's rendezvous point besides; no
#: relay puts itself on its own paths. Three authorities and three relays
#: is chutney's ``hs-v3-min`` network (one more than five, for a tor bug
#: its authors met, tpo/core/tor#34447).
RELAYS = 3
#: Generous: a first consensus takes one or two voting intervals, then the
#: client fetches it and the relays' microdescriptors.
BOOTSTRAP_TIMEOUT = 120.0
_STOP_TIMEOUT = 10.0


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held together while chosen,
    so never the same one twice)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


@dataclass
class _Node:
    name: str
    directory: Path
    torrc: list[str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / "notice.log"

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return f"--- {self.name}: no log"
        return f"--- {self.name} ({self.log}):\n" + "\n".join(text.splitlines()[-lines:])


@dataclass
class TorNetwork:
    """A running private network; see the module's docstring."""

    base: Path
    tor: str
    #: What a further tor's torrc must carry to use this network (as a
    #: client or an onion service): ``Option value`` lines.
    join_torrc: list[str]
    #: The client tor's SOCKS port on 127.0.0.1 (``socks5h://`` so that the
    #: client, not the caller, resolves ``.onion`` names).
    socks_port: int
    nodes: list[_Node] = field(default_factory=list)

    @property
    def client(self) -> _Node:
        return self.nodes[-1]

    def start(self) -> None:
        for node in self.nodes:
            torrc = node.directory / "torrc"
            torrc.write_text("\n".join(node.torrc) + "\n")
            with (node.directory / "stderr.log").open("wb") as stderr:
                node.process = subprocess.Popen(
                    # --defaults-torrc: not Debian's tor-service-defaults-torrc
                    # (which runs tor as debian-tor, logs to syslog, ...).
                    [self.tor, "-f", str(torrc), "--defaults-torrc", str(self.base / "empty")],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )

    def check_running(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is not None:
                raise AssertionError(
                    f"tor {node.name} exited ({node.process.returncode}):\n{self.logs()}"
                )

    def wait_until_bootstrapped(self, timeout: float = BOOTSTRAP_TIMEOUT) -> float:
        """Return once the client has bootstrapped to 100%: the network has
        a consensus and the client can build circuits through it. Returns
        the seconds waited."""
        started = time.monotonic()
        while True:
            self.check_running()
            with contextlib.suppress(OSError):
                if "Bootstrapped 100%" in self.client.log.read_text(errors="replace"):
                    return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AssertionError(
                    f"the private Tor network's client did not bootstrap in {timeout:.0f} s:\n"
                    + self.logs()
                )
            time.sleep(0.25)

    def wait_until_reachable(self, host: str, port: int = 80, timeout: float = 120.0) -> float:
        """Return once the client can open a stream to ``host:port`` through
        the network (for an onion service: once its descriptor is on the
        directories and its introduction points answer). Returns the
        seconds waited. Until then the client's SOCKS port refuses the
        connection; it asks the directories again after 5 s in a testing
        network (15 min in the real one), so asking every second is enough.

        Asked over a SOCKS handshake of its own rather than with an HTTP
        client, which may leak the socket of each refused attempt (httpcore
        1.0 does)."""
        started = time.monotonic()
        while True:
            self.check_running()
            reply = _socks5_connect(self.socks_port, host, port)
            if reply == 0:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AssertionError(
                    f"{host}:{port} not reachable through the private Tor network in "
                    f"{timeout:.0f} s (last SOCKS reply {reply:#x}):\n" + self.logs()
                )
            time.sleep(1)

    def logs(self, lines: int = 25) -> str:
        """The end of every node's notice log, for a failure's message."""
        return "\n".join(node.tail(lines) for node in self.nodes)

    def stop(self) -> None:
        """Terminate every tor (SIGTERM: tor exits at once, without the
        relays' ``ShutdownWaitLength``), kill the stubborn, wait on all."""
        running = [n.process for n in self.nodes if n.process is not None]
        for process in running:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + _STOP_TIMEOUT
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _socks5_connect(socks_port: int, host: str, port: int) -> int:
    """Ask tor's SOCKS port for a stream to ``host:port`` (by name: tor
    resolves it, ``.onion`` included), then close it. The SOCKS5 reply code:
    0 if connected; for an onion service, 0xF0 means no descriptor found,
    0xF2/0xF3 the introduction or rendezvous failed (RFC 1928, tor's
    ``socks-extensions.txt``)."""
    name = host.encode("ascii")
    with socket.create_connection(("127.0.0.1", socks_port), timeout=60) as s:
        s.sendall(b"\x05\x01\x00")  # version 5, one method: no authentication
        if _receive(s, 2) != b"\x05\x00":
            raise AssertionError("tor's SOCKS port refused the no-authentication method")
        s.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + port.to_bytes(2, "big"))
        return _receive(s, 2)[1]


def _receive(s: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = s.recv(count - len(data))
        if not chunk:
            raise AssertionError("tor's SOCKS port closed the connection")
        data += chunk
    return data


def _run(command: list[str]) -> None:
    done = subprocess.run(command, input=b"", capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        raise AssertionError(
            f"{command[0]} failed ({done.returncode}):\n"
            + (done.stdout + done.stderr).decode(errors="replace")
        )


def _options(options: dict[str, str]) -> list[str]:
    return [word for pair in options.items() for word in pair]


def _authority_keys(
    tor: str, tor_gencert: str, directory: Path, name: str, dir_port: int, empty: Path
) -> tuple[str, str]:
    """Make an authority's keys: its v3 authority identity and signing
    key (``tor-gencert``) and its relay identity (``tor --list-fingerprint``,
    which creates the keys it prints). Returns (v3 identity fingerprint,
    relay fingerprint)."""
    keys = directory / "keys"
    keys.mkdir(parents=True, mode=0o700)
    gencert = {
        # An empty passphrase, read from stdin rather than asked for.
        "--passphrase-fd": "0",
        # Months the signing key's certificate is valid: longer than any test.
        "-m": "12",
        "-a": f"127.0.0.1:{dir_port}",
        "-i": str(keys / "authority_identity_key"),
        "-s": str(keys / "authority_signing_key"),
        "-c": str(keys / "authority_certificate"),
    }
    _run([tor_gencert, "--create-identity-key", *_options(gencert)])
    certificate = (keys / "authority_certificate").read_text()
    v3ident = next(
        line.split()[1] for line in certificate.splitlines() if line.startswith("fingerprint ")
    )
    relay = {
        "-f": str(empty),
        "--defaults-torrc": str(empty),
        "--datadirectory": str(directory),
        "--nickname": name,
        # A relay's option, so that tor makes a relay's identity key.
        "--orport": "1",
        # An authority that does not exist: this one-off run (it exits once
        # the keys are made) is never configured for the public network.
        "--dirserver": "placeholder 127.0.0.1:1 " + "F" * 40,
    }
    _run([tor, "--list-fingerprint", *_options(relay)])
    fingerprint = (directory / "fingerprint").read_text().split()[1]
    return v3ident, fingerprint


def _common(name: str, directory: Path) -> list[str]:
    """Every node's lines, before the network's own (``DirAuthority``, ...)."""
    return [
        f"Nickname {name}",
        f"DataDirectory {directory}",
        f"Log notice file {directory / 'notice.log'}",
        # Nothing here is anyone's secret, and addresses in the logs make a
        # failure readable.
        "SafeLogging 0",
        # tor checks every 15 s that this process is alive, and exits if not:
        # no tor outlives a killed pytest for long (measured: 15 s).
        f"__OwningControllerProcess {os.getpid()}",
        # No relay here speaks IPv6; one would otherwise look for an IPv6
        # address of its own to publish.
        "AddressDisableIPv6 1",
    ]


def network_lines(authorities: list[str]) -> list[str]:
    """The lines every tor of the network carries, a further one too."""
    return [
        # Loosens what a test network needs loosened (private addresses
        # allowed, no distinct-subnet rule on 127.0.0.1, no initial download
        # delays; see tor(1), TESTING NETWORK OPTIONS). Only allowed with
        # non-default authorities, so the public network is out of reach.
        "TestingTorNetwork 1",
        *authorities,
        # How much of the network tor must know (descriptors for this share
        # of the possible paths) before it builds circuits; the default is
        # 0.6. In a network of six relays, two-thirds makes a client wait
        # for enough relays' descriptors to build distinct three-hop paths,
        # rather than start early and see its circuits fail (chutney's value).
        "PathsNeededToBuildCircuits 0.67",
    ]


def _relay_lines(or_port: int) -> list[str]:
    return [
        f"ORPort 127.0.0.1:{or_port}",
        "Address 127.0.0.1",
        "SocksPort 0",
        # Onion services need no exits: every circuit ends at a relay.
        # Without one, nothing in this network can reach past loopback.
        "ExitRelay 0",
        # A relay tests that its ORPort is reachable from outside before it
        # publishes its descriptor; there is no outside here.
        "AssumeReachable 1",
        "ContactInfo tests@shoal.invalid",
    ]


def _authority_lines(dir_port: int) -> list[str]:
    return [
        "AuthoritativeDirectory 1",
        "V3AuthoritativeDirectory 1",
        f"DirPort 127.0.0.1:{dir_port}",
        # The voting cycle, cut from an hour to seconds (see VOTING_INTERVAL).
        # The Initial ones apply until the first consensus.
        f"TestingV3AuthInitialVotingInterval {VOTING_INTERVAL}",
        "TestingV3AuthInitialVoteDelay 2",
        "TestingV3AuthInitialDistDelay 2",
        f"V3AuthVotingInterval {VOTING_INTERVAL}",
        "V3AuthVoteDelay 2",
        "V3AuthDistDelay 2",
        # A consensus stays valid for two intervals: enough to never lapse
        # between votes, short enough to follow the network as it forms.
        "V3AuthNIntervalsValid 2",
        # Flags a relay would otherwise earn only with days of uptime and
        # bandwidth measured: every relay may be a guard and an onion
        # service directory from the first consensus.
        "TestingDirAuthVoteGuard *",
        "TestingDirAuthVoteHSDir *",
    ]


@contextlib.contextmanager
def private_tor_network(
    base: Path, *, tor: str, tor_gencert: str, relays: int = RELAYS, wait: bool = True
) -> Iterator[TorNetwork]:
    """A private Tor network whose files are under ``base`` (created), running
    for the ``with`` block, from when its client has bootstrapped (or, if
    not ``wait``, at once: then see :meth:`TorNetwork.wait_until_bootstrapped`)."""
    base.mkdir(parents=True)
    empty = base / "empty"
    empty.touch()
    ports = _free_ports(2 * AUTHORITIES + relays + 1)
    socks_port = ports.pop()
    nodes: list[_Node] = []
    authority_lines = []
    for index in range(AUTHORITIES):
        name = f"auth{index}"
        directory = base / name
        or_port, dir_port = ports.pop(), ports.pop()
        v3ident, fingerprint = _authority_keys(tor, tor_gencert, directory, name, dir_port, empty)
        authority_lines.append(
            f"DirAuthority {name} orport={or_port} no-v2 v3ident={v3ident} "
            f"127.0.0.1:{dir_port} {fingerprint}"
        )
        nodes.append(_Node(name, directory, [*_relay_lines(or_port), *_authority_lines(dir_port)]))
    for index in range(relays):
        name = f"relay{index}"
        directory = base / name
        nodes.append(_Node(name, directory, _relay_lines(ports.pop())))
    nodes.append(_Node("client", base / "client", [f"SocksPort 127.0.0.1:{socks_port}"]))
    shared = network_lines(authority_lines)
    for node in nodes:
        node.directory.mkdir(mode=0o700, exist_ok=True)
        node.directory.chmod(0o700)  # tor refuses a data directory others can read
        node.torrc = [*_common(node.name, node.directory), *shared, *node.torrc]

    network = TorNetwork(base, tor, shared, socks_port, nodes)
    try:
        network.start()
        if wait:
            network.wait_until_bootstrapped()
        yield network
    finally:
        network.stop()
