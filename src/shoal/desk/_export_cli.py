"""``shoal desk verify-manifest``: check an export folder against its signed manifest.

Whoever receives an export runs it, often on another machine and without a
desk, so it needs no keystore and no passphrase: only the folder and, to
know who signed, the handler's key to pin. Unpinned, it says whose key
signed; that is worth something only once the handler id is compared out
of band.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from pathlib import Path

import click

from .. import crypto
from ._export import verify_manifest
from .errors import DeskError


def parse_handler_key(text: str) -> crypto.VerifyKey:
    """A handler's verify key, as a manifest's ``key`` line spells it (a note
    verifier key) or as the ``verify-key`` line of an enrollment bundle."""
    with contextlib.suppress(crypto.KeyFormatError):
        return crypto.NoteVerifier.parse(text).key
    try:
        return crypto.VerifyKey(base64.b64decode(text.strip(), validate=True))
    except (binascii.Error, crypto.KeyFormatError):
        raise click.BadParameter("not a handler's key", param_hint="--handler-key") from None


@click.command("verify-manifest")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--handler-key",
    metavar="VKEY",
    help="Refuse a manifest not signed by this handler key (the manifest's `key` line, "
    "or the `verify-key` of the handler's enrollment bundle).",
)
def verify_manifest_command(folder: Path, handler_key: str | None) -> None:
    """Check that FOLDER, a report export, is exactly what its manifest lists,
    signed by the key it names (or the one pinned with --handler-key)."""
    pinned = None if handler_key is None else parse_handler_key(handler_key)
    try:
        verified = verify_manifest(folder, handler_key=pinned)
    except DeskError as exc:
        # The desk group reports a DeskError the same way; this command also
        # runs on its own.
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Manifest verified: {verified.files} files,"
        f" signed by handler {verified.handler_id} at {verified.time}."
    )
