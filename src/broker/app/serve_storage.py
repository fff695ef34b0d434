"""The serve step's object storage: the bucket through the AWS SDK and the records of its
objects (BROKER_S3_*), and the interactor POST /v1/uploads takes."""

from __future__ import annotations

import logging

from broker.app.build import UseCases
from broker.app.build_payloads import PayloadParts
from broker.app.database import Database
from broker.entities.errors import Unavailable
from broker.infra import s3
from broker.infra.pg.payloads import PgUploadRecords
from broker.infra.s3 import S3Storage
from broker.infra.settings import Settings

log = logging.getLogger("broker")


async def open_storage(settings: Settings, db: Database) -> PayloadParts:
    """With BROKER_S3_BUCKET: the bucket and the records of its objects (none without). The
    bucket is reached once: if it does not answer, an error in the log (uploads then fail
    UNAVAILABLE until it does)."""
    s = settings.storage
    if not s.enabled:
        return PayloadParts()
    storage = S3Storage(s3.client(s), s.bucket)
    try:
        await storage.check()
    except Unavailable as exc:
        log.error("object storage unreachable at start-up: %s (check BROKER_S3_ENDPOINT, BROKER_S3_BUCKET "
                  "and the credentials)", exc)
    return PayloadParts(storage, PgUploadRecords(db.pool, settings.database.acquire_timeout))


def upload_route(settings: Settings, use: UseCases):
    """POST /v1/uploads' interactor and limit (None without object storage)."""
    return use.jobs.payloads and (use.jobs.payloads.stream, settings.storage.rules.max_upload_bytes)
