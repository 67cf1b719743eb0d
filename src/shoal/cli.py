"""The ``shoal`` command line.

Sub-commands follow the trust zones (DESIGN.md, "Interfaces"); so far the
crypto core exists, and with it ``keygen`` and a ``demo`` that shows the
core at work. The server, desk and field commands arrive with their issues.
"""

from __future__ import annotations

import click

from . import crypto


@click.group()
@click.version_option(package_name="shoal")
def main() -> None:
    """Shoal: confidential contact and reporting."""


@main.command()
@click.option(
    "--classic",
    is_flag=True,
    help="Classic X25519 instead of the post-quantum default (for older age tools).",
)
def keygen(classic: bool) -> None:
    """Print a new age identity and, as a comment, its recipient."""
    key_type = crypto.KeyType.X25519 if classic else crypto.DEFAULT_KEY_TYPE
    identity = crypto.generate_identity(key_type)
    click.echo(f"# public key: {identity.recipient()}")
    click.echo(identity.secret_string())


@main.command()
def demo() -> None:
    """Show what exists today: codename, derived keys, an age round trip."""
    salt = crypto.generate_salt()
    codename = crypto.generate_codename()
    contact = crypto.derive_contact_keys(codename, salt)
    handler = crypto.generate_identity()
    click.echo("Shoal demo — the cryptographic core (the web loop arrives next).")
    click.echo(f"  codename shown once to a contact: {codename}")
    click.echo(f"  lookup id the server would store: {contact.lookup_id.hex()}")
    message = b"I saw the convoy at dawn."
    sealed = crypto.encrypt(message, [handler.recipient(), contact.identity.recipient()])
    click.echo(f"  message sealed to handler + contact: {len(sealed)} bytes, age v1, post-quantum")
    again = crypto.derive_contact_keys(codename.upper(), salt)
    opened = crypto.decrypt(sealed, [again.identity])
    click.echo(f"  contact re-derives keys from the codename and reads: {opened.decode()!r}")
