"""Every request limit and queue default is one setting: read at start-up, used by every check
(a changed setting moves the check, both ways), refused at start-up naming it when bad, and
listed in the README."""

from __future__ import annotations

import dataclasses
import pathlib

import pytest

from broker.entities.errors import InvalidArgument
from broker.entities.lease import LeaseRef
from broker.entities.queue import Limits, QueueDefaults
from broker.infra import settings
from broker.infra.limit_settings import LIMIT_SETTINGS, QUEUE_SETTINGS
from broker.usecases.enqueue import JobSpec
from broker.usecases.lease import LeaseRequest
from broker.usecases.nack import NackItem
from tests.unit.conftest import World

README = pathlib.Path(__file__).parents[2] / "README.md"


def world_with(**env: str) -> World:
    """The interactors with the limits `broker serve` would read from `env`."""
    return World(limits=settings.load(env).limits)


def test_every_limit_and_queue_default_has_its_own_setting():
    assert set(LIMIT_SETTINGS) == {f.name for f in dataclasses.fields(Limits)}
    assert len({setting for setting, _, _ in LIMIT_SETTINGS.values()}) == len(LIMIT_SETTINGS)
    retry = {"retry_initial", "retry_max", "retry_multiplier", "retry_jitter"}
    assert set(QUEUE_SETTINGS) == {f.name for f in dataclasses.fields(QueueDefaults)} - {"retry"} | retry


@pytest.mark.parametrize("setting", sorted([s for s, _, _ in LIMIT_SETTINGS.values()] + list(QUEUE_SETTINGS.values())))
def test_every_setting_is_in_the_readme(setting):
    assert f"`{setting}`" in README.read_text()


@pytest.mark.parametrize("name", sorted(LIMIT_SETTINGS))
def test_each_limit_is_read_from_its_setting(name):
    setting, cast, _ = LIMIT_SETTINGS[name]
    default = getattr(Limits(), name)
    changed = cast(default + 1) if name != "default_page_size" else cast(default - 1)
    assert getattr(settings.load({}).limits, name) == default
    assert getattr(settings.load({setting: str(changed)}).limits, name) == changed


async def enqueue(world: World, **fields):
    return await world.enqueue([JobSpec(**{"queue": "steady", "kind": "task", **fields})])


@pytest.mark.parametrize(("setting", "field", "value"), [
    ("BROKER_MAX_KIND_LENGTH", "kind", "k" * 150),
    ("BROKER_MAX_QUEUE_NAME_LENGTH", "queue", "q" * 150),
    ("BROKER_MAX_KEY_LENGTH", "idempotency_key", "i" * 300),
    ("BROKER_MAX_HEADERS_BYTES", "headers", {"h": "v" * 70_000}),
    ("BROKER_MAX_PAYLOAD_BYTES", "payload", b"p" * 1_100_000),
])
async def test_enqueue_checks_follow_their_setting_both_ways(setting, field, value):
    size = len(value) if not isinstance(value, dict) else 1 + len(value["h"])
    with pytest.raises(InvalidArgument) as caught:  # the default refuses it
        await enqueue(world_with(), **{field: value})
    assert caught.value.field == f"jobs[0].{field}"
    assert await enqueue(world_with(**{setting: str(size)}), **{field: value})  # raised: taken
    with pytest.raises(InvalidArgument):  # lowered below it: refused
        await enqueue(world_with(**{setting: str(size - 1)}), **{field: value})


async def test_the_worker_id_bound_follows_its_setting_both_ways():
    request = LeaseRequest(("steady",), "w" * 300, 1)
    with pytest.raises(InvalidArgument, match="worker_id: must be 1-256 characters"):
        await world_with().lease(request)
    assert await world_with(BROKER_MAX_WORKER_ID_LENGTH="300").lease(request) == []
    with pytest.raises(InvalidArgument, match="1-3 characters"):
        await world_with(BROKER_MAX_WORKER_ID_LENGTH="3").lease(LeaseRequest(("steady",), "w1234", 1))


async def nack(world: World, item) -> None:
    await world.add()
    (job,) = await world.take()
    await world.nack([item(LeaseRef(job.id, job.lease_token))])
    return world.store.jobs[job.id]


async def test_the_error_cut_follows_its_setting_both_ways():
    long = "e" * 20_000
    assert (await nack(world_with(), lambda ref: NackItem(ref, long))).last_error == "e" * 16 * 1024
    assert (await nack(world_with(BROKER_MAX_ERROR_CHARS="20000"), lambda ref: NackItem(ref, long))).last_error == long
    assert (await nack(world_with(BROKER_MAX_ERROR_CHARS="10"), lambda ref: NackItem(ref, long))).last_error == "e" * 10


async def test_the_retry_after_bound_follows_its_setting_both_ways():
    two_years = 2 * 366 * 86400.0
    with pytest.raises(InvalidArgument) as caught:
        await nack(world_with(), lambda ref: NackItem(ref, retry_after=two_years))
    assert caught.value.field == "items[0].retry_after"
    raised = world_with(BROKER_MAX_RETRY_AFTER=str(two_years))
    assert (await nack(raised, lambda ref: NackItem(ref, retry_after=two_years))).state.value == "pending"
    with pytest.raises(InvalidArgument, match="0 to 60 seconds"):
        await nack(world_with(BROKER_MAX_RETRY_AFTER="60"), lambda ref: NackItem(ref, retry_after=61))


async def test_the_default_page_size_follows_its_setting():
    world = world_with(BROKER_DEFAULT_PAGE_SIZE="3")
    await world.add(count=5)
    assert len((await world.list_jobs(None, None, 0)).jobs) == 3
    world = world_with()
    await world.add(count=105)
    assert len((await world.list_jobs(None, None, 0)).jobs) == 100


@pytest.mark.parametrize("name", sorted(LIMIT_SETTINGS))
@pytest.mark.parametrize("bad", ["-1", "many", "1e99"])
def test_a_bad_limit_stops_start_up_naming_it(name, bad):
    setting, cast, least = LIMIT_SETTINGS[name]
    if bad == "1e99" and cast is int:
        bad = "0" if least >= 1 else "-5"
    with pytest.raises(settings.SettingsError, match=setting):
        settings.load({setting: bad})


@pytest.mark.parametrize(("env", "named"), [
    ({"BROKER_MAX_LEASE": "10", "BROKER_MIN_LEASE": "20"}, "BROKER_MAX_LEASE"),
    ({"BROKER_DEFAULT_PAGE_SIZE": "50", "BROKER_MAX_BATCH": "20"}, "BROKER_DEFAULT_PAGE_SIZE"),
    # Queue defaults the limits would refuse on every job that leaves the field unset.
    ({"BROKER_MAX_LEASE": "20"}, "BROKER_DEFAULT_LEASE"),
    ({"BROKER_DEFAULT_LEASE": "0.5"}, "BROKER_DEFAULT_LEASE"),
    ({"BROKER_MAX_ATTEMPTS_LIMIT": "8"}, "BROKER_DEFAULT_MAX_ATTEMPTS"),
    ({"BROKER_MAX_ATTEMPTS_LIMIT": "4", "BROKER_DEFAULT_MAX_ATTEMPTS": "4"}, "BROKER_DEFAULT_MAX_LEASE_EXPIRIES"),
    ({"BROKER_QUEUES": '{"emails": {"max_attempts": 2000}}'}, r"BROKER_QUEUES\['emails'\].max_attempts"),
    ({"BROKER_QUEUES": '{"emails": {"lease_duration": 50000}}'}, r"BROKER_QUEUES\['emails'\].lease_duration"),
])
def test_settings_that_contradict_each_other_stop_start_up_naming_them(env, named):
    with pytest.raises(settings.SettingsError, match=named):
        settings.load(env)
