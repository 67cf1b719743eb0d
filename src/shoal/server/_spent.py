"""Forms that act once: a double click or a reload must not send twice.

Each form that stores something carries a random ``once`` value the page
made; acting on it records its hash in ``spent_forms`` in the same
transaction as what it stored. A second request with the same value
finds it spent (or collides on the primary key, if both race past the
check on two server processes) and stores nothing: all in the database,
so any process can serve either request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ..store import schema
from . import _messages as msg
from ._clock import day_of
from .errors import ConflictError, ForbiddenError

_ONCE = re.compile(r"[A-Za-z0-9_-]{22}")
#: A form older than this is stale anyway (its session has ended).
_KEPT = timedelta(days=2)


def new_once() -> str:
    return secrets.token_urlsafe(16)


def spend(db: Session, once: str | None, now: datetime, already: str) -> None:
    """Mark ``once`` spent in ``db``'s transaction; :class:`ConflictError`
    with the message ``already`` if it was."""
    if once is None or not _ONCE.fullmatch(once):
        raise ForbiddenError(msg.FORM_EXPIRED)
    db.execute(delete(schema.SpentForm).where(schema.SpentForm.day < day_of(now - _KEPT)))
    id_hash = hashlib.sha256(once.encode()).digest()
    if db.get(schema.SpentForm, id_hash) is not None:
        raise ConflictError(already)
    db.add(schema.SpentForm(id_hash=id_hash, day=day_of(now)))
