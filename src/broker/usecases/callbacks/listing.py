"""GetSubscription and ListSubscriptions."""

from __future__ import annotations

from broker.entities.callback import Subscription
from broker.entities.errors import SubscriptionNotFound
from broker.entities.schedule import check_name
from broker.usecases.callbacks.ports import SubscriptionStore


class GetSubscription:
    def __init__(self, store: SubscriptionStore) -> None:
        self._store = store

    async def __call__(self, name: str) -> Subscription:
        found = await self._store.get(check_name(name))
        if found is None:
            raise SubscriptionNotFound(name)
        return found


class ListSubscriptions:
    """Every subscription, by name."""

    def __init__(self, store: SubscriptionStore) -> None:
        self._store = store

    async def __call__(self) -> list[Subscription]:
        return await self._store.list_subscriptions()
