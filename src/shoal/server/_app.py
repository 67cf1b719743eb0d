"""The ASGI application: ``create_app(data_dir)``.

Everything a request needs is in the database and the blob store; the app
object holds only immutable configuration and the pure note cache
(``_chain.py``), so any number of processes can serve one data directory
(or, later, one PostgreSQL database and one object store).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from ..store import (
    BlobStore,
    DatabaseBlobStore,
    FileBlobStore,
    S3BlobStore,
    SchemaOutdatedError,
    create_db_engine,
    require_newest_schema,
    session_factory,
)
from . import _audit_key
from ._alarms import AlarmService
from ._audit import AuditLog
from ._audit_api import audit_api
from ._chain import NoteCache
from ._clock import Clock, utc_now
from ._config import ServerConfig, load_config
from ._contact_api import contact_api
from ._contact_pages import contact_pages
from ._contacts import ContactService
from ._doors import Doors
from ._doors_pages import doors_pages
from ._failures import ErrorGuard, install_error_answers
from ._handler_api import handler_api
from ._handlers import HandlerService
from ._headers import SecurityHeaders
from ._i18n import Catalogs
from ._intake import Intake
from ._listeners import Listener, ListenerGate
from ._member_api import member_api
from ._members import MemberService
from ._pages import Pages
from ._questionnaire import load_questionnaires
from ._sessions import ContactSessions
from ._unreferenced import collect_orphans
from ._uploads import UploadService
from .errors import ConfigError

PARTIALS_KEPT_SECONDS = 24 * 3600


def create_app(
    data_dir: Path | str,
    *,
    clock: Clock = utc_now,
    listeners: Mapping[int, Listener] | None = None,
) -> FastAPI:
    """The server for the data directory ``data_dir`` (see ``shoal admin init``).

    ``clock`` is for tests that need time to pass (session and epoch expiry).
    ``listeners`` says what each local port serves (``_listeners.py``);
    without it, everything is served on every socket.
    """
    config = load_config(Path(data_dir))
    # What can be refused without the database is read first.
    questionnaires = load_questionnaires(config.questionnaires_dir)
    pages = Pages(Catalogs())
    engine = create_db_engine(config.database)
    try:
        blobs = _open_storage(config, engine)
    except BaseException:
        # A refused start leaves no connection behind (the lifespan, which
        # closes them otherwise, never runs).
        engine.dispose()
        raise
    db = session_factory(engine)
    doors = Doors(config.root_key, NoteCache(), clock)
    limits = config.limits
    contacts = ContactService(
        db=db,
        doors=doors,
        sessions=ContactSessions(clock),
        intake=Intake(blobs, limits, clock),
        blobs=blobs,
        limits=limits,
        clock=clock,
    )
    uploads = UploadService(db=db, contacts=contacts, blobs=blobs, limits=limits, clock=clock)
    # Uploads abandoned two days ago; part files of an older version adopted.
    uploads.sweep_all(legacy_parts=config.uploads_dir)
    # Blobs that a crash left with no row naming them (ciphertext): the
    # same day's margin as for partial writes.
    collect_orphans(db, blobs, written_before=time.time() - PARTIALS_KEPT_SECONDS)
    members = MemberService(db=db, contacts=contacts, blobs=blobs, root=config.root_key)
    alarms = AlarmService(db=db, contacts=contacts, blobs=blobs, limits=limits, clock=clock)
    handlers = HandlerService(
        db=db,
        doors=doors,
        blobs=blobs,
        limits=limits,
        clock=clock,
        retention=timedelta(days=config.retention_days),
    )
    audit = AuditLog(
        db=db,
        handlers=handlers,
        blobs=blobs,
        key=_audit_key.load_or_create(config.data_dir),
        limits=limits,
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="Shoal intake server",
        version="1",
        openapi_url="/openapi.json",
        # The interactive docs load scripts from a CDN: not on this server.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.include_router(contact_pages(contacts, pages, limits, questionnaires))
    app.include_router(contact_api(contacts, limits))
    app.include_router(member_api(uploads, members, alarms, limits))
    app.include_router(handler_api(handlers, limits))
    app.include_router(audit_api(audit))
    app.include_router(doors_pages(db, config.root_key, pages))
    app.mount("/static", StaticFiles(packages=[("shoal.server", "static")]), name="static")
    install_error_answers(app, pages)
    # Added last is outermost: headers go on everything the guard answers,
    # and a path a listener refuses is answered by the app's own 404 page.
    app.add_middleware(ErrorGuard, pages=pages)
    app.add_middleware(ListenerGate, listeners=listeners or {})
    app.add_middleware(SecurityHeaders)
    return app


def _open_storage(config: ServerConfig, engine: Engine) -> BlobStore:
    """Check the schema and open the blob store, clearing what a crash left."""
    try:
        require_newest_schema(engine)
    except SchemaOutdatedError as exc:
        raise ConfigError(str(exc)) from None
    blobs = open_blob_store(config, engine)
    # Leftovers of writes a crash cut short (ciphertext only). A day's
    # margin: another server process may be writing the recent ones.
    blobs.clean_partials(older_than=PARTIALS_KEPT_SECONDS)
    return blobs


def open_blob_store(config: ServerConfig, engine: Engine) -> BlobStore:
    """The blob store the configuration names (``[blobs] backend``)."""
    settings = config.blobs
    if settings.backend == "database":
        return DatabaseBlobStore(engine)
    if settings.backend == "s3":
        s3 = settings.s3
        if s3 is None:  # the configuration's validation refuses this
            raise ConfigError("[blobs] backend 's3' needs a [blobs.s3] table")
        return S3BlobStore.connect(
            endpoint_url=s3.endpoint_url,
            bucket=s3.bucket,
            region=s3.region,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key,
            prefix=s3.prefix,
        )
    return FileBlobStore(config.blobs_dir)
