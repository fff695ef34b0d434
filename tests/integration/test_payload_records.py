"""The payload records keep their promise inside PostgreSQL, whatever the order of events: the
insert of a job that references an object clears its expiry under the record's lock, or fails
when the collector took the record first; the collector skips records a committing insert holds
and never takes one a job references. (migrations/0015_payload_objects.sql, infra/pg/payloads.py)"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from broker.entities.errors import InvalidArgument
from broker.entities.payload import PayloadRef
from broker.infra.pg.payloads import PgUploadRecords
from broker.infra.pg.store import PgJobStore
from broker.usecases.payloads.ports import UploadRecord
from tests.contract.helpers import new_job

T0 = datetime(2031, 1, 1, tzinfo=timezone.utc)
LATER = T0 + timedelta(days=2)


@pytest.fixture(scope="module")
def store(db):
    return PgJobStore(db)


@pytest.fixture(scope="module")
def records(db):
    return PgUploadRecords(db)


async def _record(records, expires=T0 + timedelta(days=1)) -> PayloadRef:
    ref = PayloadRef(f"test/uploads/{uuid.uuid4().hex}", 10, "0" * 64)
    await records.add(UploadRecord(ref.key, ref.size, ref.sha256, True, expires), T0)
    return ref


async def _taken(records, ref) -> bool:
    return ref.key in await records.take_collectable(LATER, 10_000)


async def test_a_reference_without_its_record_is_not_inserted(store, db, queue):
    gone = PayloadRef(f"test/uploads/{uuid.uuid4().hex}", 10, "0" * 64)
    with pytest.raises(InvalidArgument) as caught:
        await store.enqueue([new_job(queue, T0, payload=b""), new_job(queue, T0, payload=b"", payload_ref=gone)], T0)
    assert caught.value.field == "payload_ref"
    assert await db.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1", queue) == 0


async def test_a_referenced_object_is_never_taken_and_a_deleted_jobs_is_at_once(store, records, db, queue):
    ref = await _record(records)
    [inserted], _ = await store.enqueue([new_job(queue, T0, payload=b"", payload_ref=ref)], T0)
    referenced = await _taken(records, ref)
    job = await store.get(inserted.job_id)

    await db.execute("DELETE FROM broker_jobs WHERE id = $1::uuid", inserted.job_id)
    released = await db.fetchval("SELECT expires_at = '-infinity' FROM broker_payloads WHERE key = $1", ref.key)

    assert job.payload_ref == ref
    assert not referenced
    assert released
    assert await _taken(records, ref)


async def test_the_collector_skips_a_record_an_insert_holds_until_it_commits(store, records, db, queue):
    ref = await _record(records)
    async with db.acquire() as conn:
        async with conn.transaction():
            # What the insert trigger does first: the record's row lock, held to the commit.
            await conn.execute("UPDATE broker_payloads SET expires_at = NULL WHERE key = $1", ref.key)
            skipped = not await _taken(records, ref)
    assert skipped
    assert not await _taken(records, ref)  # committed: no expiry any more


async def test_an_expired_unreferenced_upload_is_taken_once(records):
    ref = await _record(records)
    assert ref.key not in await records.take_collectable(T0, 10_000)  # not expired yet
    assert await _taken(records, ref)
    assert not await _taken(records, ref)
