"""The SubscriptionStore in memory, sharing its subscriptions with an InMemoryJobStore (whose
moves make their deliveries); tests/contract/test_callbacks.py holds both to PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from broker.entities.callback import Subscription
from tests.fakes.memory_store import InMemoryJobStore


class InMemorySubscriptionStore:
    def __init__(self, jobs: InMemoryJobStore) -> None:
        self._jobs = jobs

    async def create(self, subscription: Subscription, now: datetime) -> bool:
        if subscription.name in self._jobs.subscriptions:
            return False
        self._jobs.subscriptions[subscription.name] = replace(subscription, created_at=now, updated_at=now)
        return True

    async def get(self, name: str) -> Subscription | None:
        return self._jobs.subscriptions.get(name)

    async def list_subscriptions(self) -> list[Subscription]:
        return [self._jobs.subscriptions[n] for n in sorted(self._jobs.subscriptions)]

    async def update(self, subscription: Subscription, now: datetime) -> Subscription | None:
        current = self._jobs.subscriptions.get(subscription.name)
        if current is None:
            return None
        updated = replace(subscription, created_at=current.created_at, updated_at=now)
        self._jobs.subscriptions[subscription.name] = updated
        return updated

    async def delete(self, name: str) -> bool:
        return self._jobs.subscriptions.pop(name, None) is not None
