"""Both stores keep a job's payload reference and give it back with the job: from get, from the
claim, and not on jobs enqueued without one. (On PostgreSQL the reference must name a record of
broker_payloads, which the upload interactors write first: the test writes one.)"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from broker.entities.payload import PayloadRef
from broker.infra.pg.payloads import PgUploadRecords
from broker.usecases.payloads.ports import UploadRecord
from tests.contract.helpers import new_job


async def _ref(store, request) -> PayloadRef:
    ref = PayloadRef(f"contract/uploads/{uuid.uuid4().hex}", 12, "a" * 64)
    if not type(store).__name__.startswith("InMemory"):
        await PgUploadRecords(request.getfixturevalue("db")).add(
            UploadRecord(ref.key, ref.size, ref.sha256, True, None), datetime.now(timezone.utc))
    return ref


async def test_a_reference_comes_back_with_its_job(store, queue, t0, request):
    ref = await _ref(store, request)
    [by_ref, inline], _ = await store.enqueue([new_job(queue, t0, payload=b"", payload_ref=ref),
                                               new_job(queue, t0)], t0)
    got = await store.get(by_ref.job_id)
    claimed, _ = await store.claim([queue], "w", 2, None, t0)

    assert got.payload_ref == ref and got.payload == b""
    assert {j.id: j.payload_ref for j in claimed} == {by_ref.job_id: ref, inline.job_id: None}
    assert (await store.get(inline.job_id)).payload_ref is None
