"""The payload interactors with in-memory storage and records: Enqueue's checks of references
and its offload, the streamed upload (parts, limit, one part in memory), the worker's URL
lifetime, and the collector putting back what it could not delete. Also the storage settings."""

from __future__ import annotations

import hashlib
import pathlib
import random
from datetime import timedelta

import pytest

from broker.app.build import build
from broker.app.build_payloads import PayloadParts
from broker.entities.errors import InvalidArgument
from broker.entities.job import Job, JobState
from broker.entities.job_view import JobFilter
from broker.entities.payload import PayloadRef, StorageRules
from broker.infra import settings as settings_mod
from broker.infra.env import SettingsError
from broker.usecases.enqueue import JobSpec
from broker.usecases.payloads.collect import CollectPayloads
from broker.usecases.payloads.ports import UploadRecord
from broker.usecases.payloads.stream_upload import StreamUpload
from broker.usecases.payloads.urls import PayloadUrls
from tests.fakes import InMemoryJobStore, ManualClock, RecordingEventSink, RecordingNotifier
from tests.fakes.payloads import MemoryRecords, MemoryStorage

MIB = 1024 * 1024
ENV = {"BROKER_S3_BUCKET": "b", "BROKER_OFFLOAD_THRESHOLD": "100", "BROKER_S3_PART_SIZE": str(5 * MIB),
       "BROKER_MAX_UPLOAD_BYTES": str(12 * MIB)}
README = pathlib.Path(__file__).parents[2] / "README.md"


class Payloads:
    def __init__(self, **env: str) -> None:
        self.clock, self.storage, self.records = ManualClock(), MemoryStorage(), MemoryRecords()
        self.store = InMemoryJobStore()
        use = build(settings_mod.load({**ENV, **env}), store=self.store, clock=self.clock,
                    notifier=RecordingNotifier(self.clock), sinks=(RecordingEventSink(),), page_secret=b"s" * 16,
                    rng=random.Random(1), payloads=PayloadParts(self.storage, self.records))
        self.enqueue, self.payloads, self.collector = use.jobs.enqueue, use.jobs.payloads, use.collector


async def _chunks(*parts: bytes):
    for p in parts:
        yield p


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_an_inline_payload_over_the_threshold_becomes_an_object_and_one_at_it_stays_inline():
    p = Payloads()
    [big, small] = await p.enqueue([JobSpec("q", "k", payload=b"x" * 101), JobSpec("q", "k", payload=b"y" * 100)])
    big_job, small_job = await p.store.get(big.job_id), await p.store.get(small.job_id)
    assert big_job.payload == b"" and big_job.payload_ref.sha256 == _sha(b"x" * 101)
    assert p.storage.objects[big_job.payload_ref.key] == b"x" * 101
    assert small_job.payload == b"y" * 100 and small_job.payload_ref is None


async def test_a_reference_is_read_once_and_then_trusted_by_its_record():
    p = Payloads()
    data = b"file bytes"
    upload = await p.payloads.create(len(data), _sha(data))
    p.storage.objects[upload.ref.key] = data  # the client's PUT
    await p.enqueue([JobSpec("q", "k", payload_ref=upload.ref)])
    await p.enqueue([JobSpec("q", "k", payload_ref=upload.ref)] * 3)
    assert p.storage.calls == ["head", "digest"]


async def test_bytes_other_than_declared_are_refused_and_nothing_is_enqueued():
    p = Payloads()
    upload = await p.payloads.create(3, _sha(b"abc"))
    p.storage.objects[upload.ref.key] = b"abd"
    with pytest.raises(InvalidArgument) as caught:
        await p.enqueue([JobSpec("q", "k"), JobSpec("q", "k", payload_ref=upload.ref)])
    assert caught.value.field == "jobs[1].payload_ref.sha256"
    assert await p.store.list_jobs(JobFilter(), 10, None, p.clock.now()) == []


async def test_a_streamed_upload_holds_one_part_at_a_time_and_is_recorded_verified():
    p = Payloads()
    chunks = [bytes([i]) * MIB for i in range(11)]  # 11 MiB in 1 MiB chunks: parts of 5, 5, 1
    ref = await p.payloads.stream(_chunks(*chunks))
    data = b"".join(chunks)
    assert (ref.size, ref.sha256) == (len(data), _sha(data))
    assert p.storage.objects[ref.key] == data and p.storage.largest_part == 5 * MIB
    assert p.records.records[ref.key].verified


async def test_a_streamed_upload_over_the_limit_is_aborted_and_not_recorded():
    p = Payloads()
    with pytest.raises(InvalidArgument) as caught:
        await p.payloads.stream(_chunks(*[b"z" * MIB] * 13))
    assert caught.value.field == "data" and "BROKER_MAX_UPLOAD_BYTES" in caught.value.problem
    assert p.storage.multipart == {} and p.storage.objects == {} and p.records.records == {}


async def test_an_empty_stream_is_an_empty_object():
    p = Payloads()
    ref = await p.payloads.stream(_chunks())
    assert (ref.size, ref.sha256) == (0, _sha(b"")) and p.storage.objects[ref.key] == b""


def test_a_workers_url_lives_at_least_as_long_as_the_lease():
    storage = MemoryStorage()
    urls = PayloadUrls(storage, StorageRules(enabled=True, url_ttl=900))
    job = Job("id", "q", "k", b"", JobState.RUNNING, None, payload_ref=PayloadRef("key", 1, "0" * 64))
    assert urls(job, 3600).endswith("ttl=3600") and urls(job, 60).endswith("ttl=900")


async def test_objects_the_storage_would_not_delete_are_put_back_for_the_next_pass():
    p = Payloads()
    upload = await p.payloads.create(1, _sha(b"a"))
    p.clock.advance(timedelta(days=2).total_seconds())
    p.storage.fail_delete = True
    with pytest.raises(OSError):
        await p.collector.run_once()
    p.storage.fail_delete = False
    assert upload.ref.key in p.records.records
    assert await p.collector.run_once() == 1 and p.records.records == {}


async def test_without_storage_settings_there_is_none():
    assert not settings_mod.load({}).storage.enabled


@pytest.mark.parametrize("env, setting", [
    ({"BROKER_OFFLOAD_THRESHOLD": str(2 * MIB)}, "BROKER_OFFLOAD_THRESHOLD"),
    ({"BROKER_S3_PART_SIZE": str(MIB)}, "BROKER_S3_PART_SIZE"),
    ({"BROKER_S3_URL_TTL": "0.5"}, "BROKER_S3_URL_TTL"),
    ({"BROKER_S3_PREFIX": "a b/"}, "BROKER_S3_PREFIX"),
    ({"BROKER_S3_ACCESS_KEY_ID": "id"}, "BROKER_S3_ACCESS_KEY_ID"),
])
def test_a_bad_storage_setting_stops_start_up_naming_it(env, setting):
    with pytest.raises(SettingsError, match=setting):
        settings_mod.load({"BROKER_S3_BUCKET": "b", **env})


def test_the_build_wants_storage_when_a_bucket_is_set():
    with pytest.raises(ValueError, match="BROKER_S3_BUCKET"):
        build(settings_mod.load({"BROKER_S3_BUCKET": "b"}), store=InMemoryJobStore(), clock=ManualClock(),
              notifier=RecordingNotifier(ManualClock()), page_secret=b"s" * 16)


@pytest.mark.parametrize("setting", ["BROKER_S3_BUCKET", "BROKER_S3_ENDPOINT", "BROKER_S3_REGION",
                                     "BROKER_S3_ACCESS_KEY_ID", "BROKER_S3_SECRET_ACCESS_KEY", "BROKER_S3_PREFIX",
                                     "BROKER_OFFLOAD_THRESHOLD", "BROKER_MAX_UPLOAD_BYTES", "BROKER_S3_URL_TTL",
                                     "BROKER_S3_UPLOAD_TTL", "BROKER_S3_PART_SIZE"])
def test_every_storage_setting_is_in_the_readme(setting):
    assert f"`{setting}`" in README.read_text()


def test_the_secret_is_not_in_the_settings_repr():
    s = settings_mod.load({"BROKER_S3_BUCKET": "b", "BROKER_S3_ACCESS_KEY_ID": "id",
                           "BROKER_S3_SECRET_ACCESS_KEY": "very-secret"})
    assert "very-secret" not in repr(s)
    assert StreamUpload  # the module imports without storage


async def test_an_upload_over_s3s_single_put_limit_must_be_multipart():
    p = Payloads(BROKER_MAX_UPLOAD_BYTES=str(6 * 1024 * MIB))
    with pytest.raises(InvalidArgument) as caught:
        await p.payloads.create(6 * 1024 * MIB, "0" * 64)
    upload = await p.payloads.create(6 * 1024 * MIB, "0" * 64, multipart=True)
    assert caught.value.field == "multipart"
    assert len(upload.part_urls) == 6 * 1024 // 5 + 1 and upload.part_size == 5 * MIB


async def test_the_collector_counts_what_it_deleted():
    seen = []

    class Events:
        def objects(self, event, count):
            seen.append((event, count))

    storage, records, clock = MemoryStorage(), MemoryRecords(), ManualClock()
    collector = CollectPayloads(storage, records, clock, events=Events())
    await records.add(UploadRecord(
        "k", 1, "0" * 64, True, clock.now()), clock.now())
    assert await collector.run_once() == 1 and seen == [("deleted", 1)]
