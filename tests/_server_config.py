"""A data directory's ``server.toml`` as the tests read and change it:
the one place tests touch the file itself (everything else goes through
``shoal admin init`` and ``load_config``). Importable from any test module.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from shoal.server._config import CONFIG_NAME


def read_server_config(data_dir: Path) -> dict[str, Any]:
    return tomllib.loads((data_dir / CONFIG_NAME).read_text("utf-8"))


def _merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(old.get(key), dict):
            merged[key] = _merged(old[key], value)
        else:
            merged[key] = value
    return merged


def update_server_config(data_dir: Path, **settings: Any) -> None:
    """Merge ``settings`` into server.toml, tables key by key:
    ``update_server_config(d, limits={"max_body": 10})`` keeps the other
    limits already set. The file keeps its mode (0600)."""
    path = data_dir / CONFIG_NAME
    path.write_text(tomli_w.dumps(_merged(read_server_config(data_dir), settings)), "utf-8")
