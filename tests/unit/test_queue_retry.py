"""A queue's run-time default retry policy (entities/queue_retry.py): its fields over the
settings', each checked naming the field as on the wire, the whole policy checked over the
settings before anything changes; and Enqueue using it for jobs that leave their retry unset."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from broker.entities.errors import InvalidArgument
from broker.entities.queue import QueueDefaults
from broker.entities.queue_retry import RetryChange, RetryDefaults
from broker.entities.retry import Jitter, RetryPolicy
from tests.fakes.retry_store import InMemoryRetryStore

T = datetime(2030, 1, 1, tzinfo=timezone.utc)
BASE = QueueDefaults(max_attempts=10, retry=RetryPolicy(1.0, 60.0, 2.0, Jitter.FULL))


def test_set_fields_win_over_the_settings_and_unset_ones_follow_them():
    r = RetryChange(max_attempts=3, initial_delay=5.0).apply(None, BASE, T)
    assert r == RetryDefaults(3, 5.0, updated_at=T)
    assert r.over(BASE) == QueueDefaults(max_attempts=3, retry=RetryPolicy(5.0, 60.0, 2.0, Jitter.FULL))
    r2 = RetryChange(jitter=Jitter.NONE).apply(r, BASE, T)
    assert (r2.max_attempts, r2.initial_delay, r2.jitter) == (3, 5.0, Jitter.NONE)
    assert RetryChange(max_attempts=3).apply(r, BASE, T) is r  # already so
    assert RetryChange(reset=True).apply(r, BASE, T) is None


@pytest.mark.parametrize("change, field", [
    (RetryChange(max_attempts=0), "retry.max_attempts"),
    (RetryChange(max_attempts=1001), "retry.max_attempts"),
    (RetryChange(initial_delay=-1), "retry.initial_delay_seconds"),
    (RetryChange(max_delay=float("nan")), "retry.max_delay_seconds"),
    (RetryChange(multiplier=0.5), "retry.multiplier"),
    (RetryChange(reset=True, max_attempts=2), "reset_retry"),
])
def test_bad_values_name_the_field(change, field):
    with pytest.raises(InvalidArgument) as caught:
        change.check(1000)
    assert caught.value.field == field


def test_a_policy_bad_as_a_whole_is_refused_over_the_settings():
    with pytest.raises(InvalidArgument) as caught:
        RetryChange(initial_delay=120.0).check(1000).apply(None, BASE, T)  # above the setting's max_delay
    assert caught.value.field == "retry.max_delay_seconds"


async def test_enqueue_uses_the_queues_run_time_policy(world):
    from broker.app.build import build
    from tests.unit.conftest import PAGE_SECRET
    from broker.infra.settings import ObserveSettings, Settings
    from broker.usecases.enqueue import JobSpec
    from broker.usecases.queues.parts import QueueParts

    retry = InMemoryRetryStore()
    use = build(Settings(limits=world.limits, queues=world.queues, observe=ObserveSettings(stats_cache=0)),
                store=world.store, clock=world.clock, notifier=world.notifier, page_secret=PAGE_SECRET,
                parts=QueueParts(retry=retry))
    await retry.change("steady", lambda c: RetryChange(max_attempts=7, multiplier=3.0).apply(c, BASE, T), T)
    (made,) = await use.jobs.enqueue([JobSpec(queue="steady", kind="k")])
    (own,) = await use.jobs.enqueue([JobSpec(queue="steady", kind="k", max_attempts=2)])
    job, mine = world.store.jobs[made.job_id], world.store.jobs[own.job_id]
    assert (job.max_attempts, job.retry.multiplier, job.retry.initial_delay) == (7, 3.0, 1.0)  # steady's initial
    assert mine.max_attempts == 2  # the job's own field wins
