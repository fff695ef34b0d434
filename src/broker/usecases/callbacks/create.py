"""CreateSubscription: a new callback subscription."""

from __future__ import annotations

from broker.entities.callback import Subscription
from broker.entities.errors import AlreadyExists
from broker.usecases.callbacks.define import Definitions, SubscriptionSpec
from broker.usecases.callbacks.ports import SubscriptionStore
from broker.usecases.ports import Clock


class CreateSubscription:
    """Adds a subscription; moves that commit from now on make its deliveries. AlreadyExists when
    the name is taken; bad input (InvalidArgument naming the field) changes nothing."""

    def __init__(self, store: SubscriptionStore, clock: Clock, definitions: Definitions) -> None:
        self._store, self._clock, self._definitions = store, clock, definitions

    async def __call__(self, spec: SubscriptionSpec) -> Subscription:
        subscription = self._definitions.check(spec)
        if not await self._store.create(subscription, self._clock.now()):
            raise AlreadyExists(f"subscription {spec.name!r} exists already; update it instead",
                                subscription=spec.name)
        return await self._store.get(spec.name) or subscription
