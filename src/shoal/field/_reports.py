"""What a member sends, as signed item envelopes sealed to the compartment.

Kinds (docs/api.md, "Member items"); every header names the epoch and the
compartment it was sealed for, inside the encryption and under the
member's signature, so a server cannot replay it elsewhere unnoticed:

================  ==============================================  =========
kind              header beyond kind, time, epoch, compartment     content
================  ==============================================  =========
``report``        ``report`` (id), ``parts``, optional ``place``   the text
``report-file``   ``report``, ``name``, ``type``, ``scrubbed``     the file
``member-key``    ``key``: the signer's own public key             empty
``alarm``         —                                                empty
================  ==============================================  =========

A report is one ``report`` item and one ``report-file`` per file, tied by
the report id; ``parts`` lets the desk tell when one is still missing.
Sealing streams (64 KiB at a time, whatever the file's size). Pure but for
the sink it writes to.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, Protocol

from .. import crypto, org
from ._place import Place

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Attachment:
    """A file as it will be sent: already scrubbed, with what was removed."""

    name: str
    mime: str
    scrubbed: tuple[str, ...]


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def _base(kind: str, epoch: org.Epoch, moment: datetime) -> dict[str, Any]:
    return {
        "kind": kind,
        "time": timestamp(moment),
        "epoch": epoch.number,
        "compartment": epoch.compartment_id,
    }


def report_header(
    epoch: org.Epoch, moment: datetime, report_id: str, parts: int, place: Place | None
) -> dict[str, Any]:
    header = _base("report", epoch, moment) | {"report": report_id, "parts": parts}
    if place is not None:
        header["place"] = place.header()
    return header


def file_header(
    epoch: org.Epoch, moment: datetime, report_id: str, attachment: Attachment
) -> dict[str, Any]:
    return _base("report-file", epoch, moment) | {
        "report": report_id,
        "name": attachment.name,
        "type": attachment.mime,
        "scrubbed": list(attachment.scrubbed),
    }


def key_header(epoch: org.Epoch, moment: datetime, key: crypto.VerifyKey) -> dict[str, Any]:
    return _base("member-key", epoch, moment) | {"key": public_key_text(key)}


def alarm_header(epoch: org.Epoch, moment: datetime) -> dict[str, Any]:
    return _base("alarm", epoch, moment)


def public_key_text(key: crypto.VerifyKey) -> str:
    """The member's key as the desk records it at vetting (base64)."""
    return base64.b64encode(key.public_bytes).decode()


def seal(
    sink: BinaryIO,
    epoch: org.Epoch,
    header: Mapping[str, Any],
    content: Iterable[bytes],
    signer: crypto.SigningKey,
) -> None:
    """Write one signed item sealed to ``epoch``'s recipients into ``sink``."""
    sealer = crypto.ItemSealer(epoch.recipients(), header)
    for piece in content:
        for chunk in sealer.update(piece):
            sink.write(chunk)
    for chunk in sealer.finalize(signer):
        sink.write(chunk)


class Readable(Protocol):
    """A file opened for reading: plain, or a store file decrypting as it goes."""

    def read(self, size: int = -1, /) -> bytes | None: ...


def file_chunks(source: Readable) -> Iterable[bytes]:
    while chunk := source.read(CHUNK):
        yield chunk
