"""The organization model and its chain of trust, as pure functions.

No I/O: records in, verified values out, with an explicit ``now``.
"""

from ._organization import (
    COMMAND_KIND,
    EPOCH_KIND,
    ORG_KIND,
    CommandCertificate,
    Epoch,
    HandlerEntry,
    Organization,
    check_door,
    check_epoch,
    command_key_name,
    handler_id_for,
    new_id,
    open_epoch,
    root_fingerprint,
    root_key_name,
    verify_command,
    verify_epoch,
    verify_organization,
)
from .errors import EpochError, NoteContentError, OrgError

__all__ = [
    "COMMAND_KIND",
    "EPOCH_KIND",
    "ORG_KIND",
    "CommandCertificate",
    "Epoch",
    "EpochError",
    "HandlerEntry",
    "NoteContentError",
    "OrgError",
    "Organization",
    "check_door",
    "check_epoch",
    "command_key_name",
    "handler_id_for",
    "new_id",
    "open_epoch",
    "root_fingerprint",
    "root_key_name",
    "verify_command",
    "verify_epoch",
    "verify_organization",
]
