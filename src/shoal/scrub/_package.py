"""The walk through a ZIP package's entries, shared by Open XML and OpenDocument.

Each entry goes one of four ways, as the format's :data:`Plan` says:
dropped (the plan names what it held), rewritten by an XML policy
(:mod:`._xml`), cleaned as a file of its own (:class:`._office.Nested`:
pictures, documents inside documents), or copied as it is, in that order
of precedence. Entries keep their names and order; directories stay
directories.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from typing import TypeAlias

from ._xml import Policy, rewrite
from ._zip import ZipOut

#: Writes a clean copy of an entry that is a file of its own to the ZipOut
#: and says what went, or returns None (and writes nothing) for the rest.
Nested: TypeAlias = Callable[[zipfile.ZipInfo, ZipOut], list[str] | None]
#: For an entry's name: a policy to rewrite it with, what it held if it is
#: to be dropped, or None for the rest.
Plan: TypeAlias = Callable[[str], Policy | str | None]


def copy_entries(
    archive: zipfile.ZipFile,
    entries: list[zipfile.ZipInfo],
    out: ZipOut,
    *,
    plan: Plan,
    nested: Nested,
    removed: list[str],
    kind: str,
    declaration: str,
) -> None:
    """Write ``entries`` to ``out`` as ``plan`` says, adding to ``removed`` what went."""
    for entry in entries:
        name = entry.filename
        step = plan(name)
        if isinstance(step, str):
            removed.append(step)
        elif entry.is_dir():
            out.directory(name)
        elif step is not None:
            with archive.open(entry) as source, out.open(name) as target:
                rewrite(source, target, step, kind, declaration)
        elif (inside := nested(entry, out)) is not None:
            removed += inside
        else:
            with archive.open(entry) as source:
                out.copy(source, name)
