"""The server's package stays in its trust zone (STYLE.md, habit 1).

It is assumed seized, so it must not import what handles a handler's or
command's private keys (``shoal.desk``, ``shoal.command``, keystores,
signing keys), and must not use the web stack's upload helpers that spool
plaintext to disk (DESIGN.md, "Traps we know of").
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import shoal.server

SERVER = Path(shoal.server.__file__).parent
SOURCES = sorted(SERVER.rglob("*.py"))
FORBIDDEN_MODULES = ("shoal.desk", "shoal.command")
FORBIDDEN_NAMES = {
    "open_keystore": "a keystore holds private keys",
    "seal_keystore": "a keystore holds private keys",
    "Keystore": "a keystore holds private keys",
    "SigningKey": "the server signs nothing and holds no signing key",
    "NoteSigner": "the server signs nothing and holds no signing key",
    "UploadFile": "spools uploads over 1 MiB to a temporary file",
    "SpooledTemporaryFile": "plaintext on disk",
    "tempfile": "plaintext on disk",
}
FORBIDDEN_ATTRIBUTES = {"form": "request.form() spools uploads to disk"}
#: The one signing key the server holds is its own: the audit log's, which
#: signs checkpoints (DESIGN.md, "The audit log"). It lives in one module;
#: signing anything else would still fail this test everywhere else.
SERVER_OWN_KEY = {"_audit_key.py": {"SigningKey", "NoteSigner"}}


def imported_modules(tree: ast.AST, module_name: str) -> set[str]:
    found = set()
    package = module_name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def used_names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Names (bare, imported, or as attributes), and attribute names alone."""
    names, attributes = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            attributes.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.name.rsplit(".", 1)[-1])
    return names | attributes, attributes


def module_name(path: Path) -> str:
    relative = path.relative_to(SERVER.parent.parent).with_suffix("")
    return ".".join(relative.parts)


def test_the_scan_sees_every_module() -> None:
    assert len(SOURCES) >= 20
    assert module_name(SERVER / "_intake.py") == "shoal.server._intake"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_private_key_handling_and_no_spooling(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    imports = imported_modules(tree, module_name(path))
    for module in imports:
        assert not module.startswith(FORBIDDEN_MODULES), f"{path.name} imports {module}"
    names, attributes = used_names(tree)
    for name in (names & set(FORBIDDEN_NAMES)) - SERVER_OWN_KEY.get(path.name, set()):
        pytest.fail(f"{path.name} uses {name}: {FORBIDDEN_NAMES[name]}")
    for name in attributes & set(FORBIDDEN_ATTRIBUTES):
        pytest.fail(f"{path.name} uses .{name}: {FORBIDDEN_ATTRIBUTES[name]}")


def test_importing_the_server_loads_no_desk_or_command_code() -> None:
    probe = (
        "import sys, shoal.server, shoal.server.cli\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('shoal.desk', 'shoal.command')))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""


def test_the_relative_import_resolution_is_right() -> None:
    tree = ast.parse("from ..desk import x\nfrom . import _y\nfrom .._z import w\n")
    assert imported_modules(tree, "shoal.server._a") >= {
        "shoal.desk",
        "shoal.desk.x",
        "shoal.server._y",
        "shoal._z.w",
    }
