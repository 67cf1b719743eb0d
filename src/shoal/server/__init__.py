"""The intake server (``shoal serve``) and its operator's tools (``shoal admin``).

Untrusted zone: assume it is seized tomorrow. It holds public keys, signed
notes and ciphertext; plaintext exists only in memory between receiving a
request and encrypting it, streaming, never on disk. It never imports a
handler's or command's private keys (a test enforces it).

Modules, one concept each:

- configuration and time: ``_config`` (server.toml, ``SHOAL_*`` variables), ``_clock``;
- trust: ``_chain`` (root → organization → command key → epoch),
  ``_doors`` (the verified epoch behind each door) and ``_doors_pages``
  (the root-signed lists of the organization's addresses, served, and the
  page telling contacts how to check an address);
- Tor: ``_onion`` (what ``--onion`` publishes, who may reach the handlers'
  address, QR codes), ``_onion_keys`` (the services' keys, encrypted at
  rest), ``_tor`` (the tor process Shoal runs), ``_listeners`` (what each
  socket, hence each address, serves);
- contacts: ``_sessions`` (encrypted session records), ``_multipart`` and
  ``_intake`` (streaming uploads into sealed items), ``_replies`` (which
  replies a contact may see), ``_spent`` (forms that act once),
  ``_questionnaire`` (a door's offer-of-services form and its answers),
  ``_contacts`` (the service);
- members (contacts with the field client): ``_uploads`` (resumable uploads
  of items sealed on the device, in pieces in the blob store), ``_members``
  (the door's notes, replies as ciphertext), ``_alarms`` (silent alarms
  stored ahead, released by a token);
- ciphertext no row names any more: ``_unreferenced``;
- handlers: ``_handlers`` (the service), ``_audit`` (the audit log: entries
  in a Merkle tree, signed heads, proofs; its routes in ``_audit_api``) and
  ``_audit_key`` (the server's own key: it signs the log's heads, nothing else);
- HTTP: ``_contact_pages``, ``_contact_api``, ``_member_api``, ``_handler_api``, with
  ``_bodies`` (bounded bodies), ``_credentials``, ``_models`` (JSON shapes),
  ``_pages`` (templates), ``_i18n`` (languages and catalogs), ``_services``
  (the questionnaire in one language), ``_messages`` (user-facing strings), ``_headers``
  and ``_failures`` (headers and answers for everything), ``_app``,
  ``_deadlines`` (headers and bodies that arrive too slowly end the connection);
- writing: ``_group_commit`` (many requests' rows in one transaction);
- the operator: ``_admin``, ``cli`` and ``_workers`` (``serve --workers``: forked
  processes on shared ports); and ``errors``, the tree of what is raised.
"""

from typing import TYPE_CHECKING

from ._config import Limits, ServerConfig, load_config

if TYPE_CHECKING:
    from ._app import create_app

__all__ = ["Limits", "ServerConfig", "create_app", "load_config"]


def __getattr__(name: str) -> object:
    # The web application (FastAPI, every route) loads when it is asked
    # for: ``shoal admin`` needs the configuration and the store alone, and
    # starts in half the time without it.
    if name == "create_app":
        from ._app import create_app  # noqa: PLC0415

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
