"""The whole HTTP API against its own OpenAPI description (schemathesis).

A real ``shoal serve`` process, over a compartment set up as the contact
API's tests do (doors "north" with two handlers and "south"), serves
``/openapi.json``; schemathesis draws requests for every operation from it
and checks each answer: no 5xx, a status code the description declares for
that operation, a declared content type, a body and headers that match the
declared schema.

Random values alone would stop at the door (404) or at the lock (401), so
about half the examples (a drawn boolean) go to a real door and carry a
real credential: a contact's session on ``/api/v1/doors/…``, a
handler's token on ``/api/v1/handler/…``. Credentials are made afresh for
each operation (logging out and cutting ties end them).

Bounded: ``sized(4, 60)`` examples per operation. Shown able to fail by
removing a declared status from an operation's ``responses`` (the
status_code_conformance check fails at once) and by making a route raise
(a 500: not_a_server_error).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import _engines
from _tiers import sized
from shoal.server._admin import import_notes, init_data_dir

# The server kit lives with the server's tests (not on sys.path from here).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from _server_kit import OrgKit, ServerProcess, handler_token, new_org

#: The paths that take a credential: a contact's, or a handler's.
LOCKED = ("/api/v1/doors/", "/api/v1/handler/", "/api/v1/org")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


class Served:
    def __init__(self, root: Path) -> None:
        self.org: OrgKit = new_org()
        self.org.add_compartment("north", handlers=2)
        self.org.add_compartment("south")
        data_dir = root / "data"
        init_data_dir(data_dir, self.org.root_key, _engines.database_url())
        import_notes(data_dir, self.org.write_notes(root / "notes"), datetime.now(UTC))
        self.server = ServerProcess(data_dir, root)

    def credentials(self) -> dict[str, str]:
        """A fresh contact session at "north" and a fresh handler token there."""
        with self.server.client() as client:
            contact = client.post("/api/v1/doors/north/contacts")
            assert contact.status_code == 201, contact.text
            north = self.org.compartments["north"]
            token = handler_token(client, north.handlers[0], north.compartment_id)
        session = contact.json()["session"]
        return {"/api/v1/doors/": session, "/api/v1/handler/": token, "/api/v1/org": token}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    made = Served(tmp_path_factory.mktemp("schemathesis"))
    yield made
    made.server.stop()


def exercise(served: Served, operation: schemathesis.APIOperation) -> set[tuple[bool, int]]:
    """Draw examples of one operation and check each answer; return what
    came back: (sent a credential, status) pairs."""
    credentials = served.credentials()
    seen: set[tuple[bool, int]] = set()

    @given(case=operation.as_strategy(), real=st.booleans())
    @settings(max_examples=sized(4, 60), deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case, real: bool) -> None:
        # About half the cases at a real door with a real credential; the
        # rest as drawn (a drawn choice, so a failing case replays).
        authenticated = False
        if real:
            if case.path_parameters and "door" in case.path_parameters:
                case.path_parameters["door"] = "north"
            for prefix, token in credentials.items():
                if case.path.startswith(prefix):
                    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
                    authenticated = True
        answer = case.call_and_validate(base_url=served.server.url, checks=CHECKS, timeout=60)
        seen.add((authenticated, answer.status_code))

    check()
    return seen


def test_every_operation_answers_as_described(served: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{served.server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30  # the whole API, not an empty description
    failures = {}
    seen: dict[str, set[tuple[bool, int]]] = {}
    for operation in operations:
        try:
            seen[operation.label] = exercise(served, operation)
        except Exception as failure:
            failures[operation.label] = failure
    assert not failures, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())
    # The credentials opened the locks: most operations that take one
    # answered an authenticated request with something other than 401.
    locked = [op.label for op in operations if op.path.startswith(LOCKED)]
    opened = [label for label in locked if any(a and s != 401 for a, s in seen[label])]
    assert len(locked) > 15
    assert len(opened) >= len(locked) // 2, sorted(set(locked) - set(opened))
