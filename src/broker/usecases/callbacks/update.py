"""UpdateSubscription: change a subscription's target, events, filters or secrets."""

from __future__ import annotations

from dataclasses import replace

from broker.entities.callback import Subscription
from broker.entities.errors import SubscriptionNotFound
from broker.usecases.callbacks.define import Definitions, SubscriptionSpec
from broker.usecases.callbacks.ports import SubscriptionStore
from broker.usecases.ports import Clock


class UpdateSubscription:
    """Replaces every field but the secrets, which change only when new ones are given: to
    rotate without downtime, give [new, old] (both sign each delivery), later [new]. Deliveries
    already made are signed with the secrets the subscription has when they go out."""

    def __init__(self, store: SubscriptionStore, clock: Clock, definitions: Definitions) -> None:
        self._store, self._clock, self._definitions = store, clock, definitions

    async def __call__(self, spec: SubscriptionSpec) -> Subscription:
        wanted = self._definitions.check(spec, secrets_required=False)
        current = await self._store.get(spec.name)
        if current is None:
            raise SubscriptionNotFound(spec.name)
        updated = await self._store.update(replace(wanted, secrets=wanted.secrets or current.secrets),
                                           self._clock.now())
        if updated is None:
            raise SubscriptionNotFound(spec.name)
        return updated
