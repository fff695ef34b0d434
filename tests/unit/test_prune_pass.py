"""One pruner pass: a batch of finished jobs; only once a batch comes back short (the backlog is
done) are the event log's parts rotated and the tables compacted, with the pass's own now and
cut-off; a full batch tells the runner to call again at once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from broker.usecases.prune import PruneFinished
from tests.fakes import ManualClock

NOW = datetime(2031, 1, 1, tzinfo=timezone.utc)


class Store:
    def __init__(self, pruned: int) -> None:
        self.pruned, self.calls = pruned, []

    async def prune(self, finished_before, limit):
        self.calls.append(("prune", finished_before, limit))
        return min(self.pruned, limit)

    async def rotate_history(self, now, drop_before, width):
        self.calls.append(("rotate", now, drop_before, width))
        return 0

    async def compact(self):
        self.calls.append(("compact",))
        return []


async def test_a_short_batch_ends_the_pass_with_rotate_and_compact():
    store = Store(pruned=3)
    pruner = PruneFinished(store, ManualClock(NOW), retention=60, batch=10, partition=15)
    assert await pruner.run_once() == 3 and not pruner.full(3)
    cutoff = NOW - timedelta(seconds=60)
    assert store.calls == [("prune", cutoff, 10), ("rotate", NOW, cutoff, 15), ("compact",)]


async def test_a_full_batch_asks_to_be_called_again_before_anything_else():
    store = Store(pruned=50)
    pruner = PruneFinished(store, ManualClock(NOW), retention=60, batch=10)
    assert pruner.full(await pruner.run_once())
    assert [c[0] for c in store.calls] == ["prune"]
