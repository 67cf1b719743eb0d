"""shoal.server's public surface: the app factory and its configuration."""

from __future__ import annotations

from pathlib import Path

import shoal.server
from shoal.server import errors


def test_exports() -> None:
    assert sorted(shoal.server.__all__) == ["Limits", "ServerConfig", "create_app", "load_config"]


def test_every_error_descends_from_the_root() -> None:
    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, Exception)
    ]
    assert len(classes) == 15
    assert all(issubclass(c, errors.ServerError) for c in classes)
    assert all(c.__name__ in errors.__doc__ for c in classes)  # the tree lists each one


def test_the_package_doc_names_every_module() -> None:
    server = Path(shoal.server.__file__).parent
    for path in server.glob("*.py"):
        if path.stem != "__init__":
            assert f"``{path.stem}``" in (shoal.server.__doc__ or ""), path.stem
