"""The ``shoal`` command line.

Sub-commands follow the trust zones (DESIGN.md, "Interfaces"): ``serve`` and
``admin`` (the server operator), ``command`` (command's machine), ``desk``
(a handler), ``keygen``, and ``demo`` (everything at once, throwaway).

Each zone's commands are imported only when invoked: a desk command never
loads the web server (and starts in a fraction of the time).
"""

from __future__ import annotations

import importlib

import click

from . import crypto

#: sub-command → "module:attribute" holding its click command.
_ZONES = {
    "serve": "shoal.server.cli:serve",
    "admin": "shoal.server.cli:admin",
    "command": "shoal.command.cli:command",
    "desk": "shoal.desk.cli:desk",
    "field": "shoal.field.cli:field",
    "demo": "shoal.demo:demo",
}


class _ZoneGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_ZONES])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _ZONES:
            module, _, attribute = _ZONES[cmd_name].partition(":")
            found: click.Command = getattr(importlib.import_module(module), attribute)
            return found
        return super().get_command(ctx, cmd_name)


@click.group(cls=_ZoneGroup)
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
