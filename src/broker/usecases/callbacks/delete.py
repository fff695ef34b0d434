"""DeleteSubscription."""

from __future__ import annotations

from broker.entities.errors import SubscriptionNotFound
from broker.entities.schedule import check_name
from broker.usecases.callbacks.ports import SubscriptionStore


class DeleteSubscription:
    """Deletes a subscription: no move makes its deliveries from now on; those already made
    fail for good when their turn comes (the dead letters show them)."""

    def __init__(self, store: SubscriptionStore) -> None:
        self._store = store

    async def __call__(self, name: str) -> None:
        if not await self._store.delete(check_name(name)):
            raise SubscriptionNotFound(name)
