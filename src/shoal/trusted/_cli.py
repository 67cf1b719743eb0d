"""The command-line pieces every trusted machine's CLI shares.

A passphrase lives in one ``str`` for as long as a command runs; Python
cannot erase it (DESIGN.md, "Traps"), so it never goes into an error, a
log line or a repr, and it is read from a prompt with echo off or from a
file the user chose (for scripts, and for tests), never from an argument,
which other users could see in the process list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import click

from .errors import PassphraseError, TrustedError

#: scrypt's work factor bounds: 2^22 is the most :mod:`shoal.crypto` opens.
MIN_WORK_FACTOR, MAX_WORK_FACTOR = 10, 22

passphrase_file_option = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the passphrase from the first line of this file instead of asking.",
)

work_factor_option = click.option(
    "--work-factor",
    type=click.IntRange(MIN_WORK_FACTOR, MAX_WORK_FACTOR),
    default=18,
    show_default=True,
    help="scrypt work factor (log2 N) of a new keystore; below 18 only for tests.",
)


def read_passphrase(file: Path | None, *, new: bool) -> str:
    """The passphrase from ``file`` (its first line), or asked for, hidden.

    A ``new`` passphrase is asked for twice, so that a typing slip does not
    seal keys under a passphrase nobody knows.
    """
    if file is None:
        entered: str = click.prompt(
            "New passphrase" if new else "Passphrase",
            hide_input=True,
            confirmation_prompt=new,
            err=True,
        )
        passphrase = entered
    else:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            raise PassphraseError(f"cannot read the passphrase file {file}") from None
        passphrase = lines[0] if lines else ""
    if not passphrase:
        raise PassphraseError("the passphrase is empty")
    return passphrase


class ErrorReportingGroup(click.Group):
    """A command group that ends expected failures with their message.

    A wrong passphrase or a refused request is not a crash: the user gets
    ``Error: <message>`` and exit status 1, not a traceback. Subclasses
    name the error roots of their own package in :attr:`expected`;
    anything else is a bug and keeps its traceback.
    """

    expected: ClassVar[tuple[type[Exception], ...]] = (TrustedError,)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except self.expected as exc:
            raise click.ClickException(str(exc)) from None
