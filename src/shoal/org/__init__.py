"""The organization model and its chain of trust, as pure functions.

No I/O: records in, verified values out, with an explicit ``now``.
"""

from ._doors import DOORS_KIND, DoorsList, open_doors_list, verify_doors_list
from ._login import handler_login_message
from ._onion import check_onion_address, onion_address
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
    "DOORS_KIND",
    "EPOCH_KIND",
    "ORG_KIND",
    "CommandCertificate",
    "DoorsList",
    "Epoch",
    "EpochError",
    "HandlerEntry",
    "NoteContentError",
    "OrgError",
    "Organization",
    "check_door",
    "check_epoch",
    "check_onion_address",
    "command_key_name",
    "handler_id_for",
    "handler_login_message",
    "new_id",
    "onion_address",
    "open_doors_list",
    "open_epoch",
    "root_fingerprint",
    "root_key_name",
    "verify_command",
    "verify_doors_list",
    "verify_epoch",
    "verify_organization",
]
