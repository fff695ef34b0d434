"""CreateWebhookSource: a new inbound webhook source, taking deliveries on every replica at once."""

from __future__ import annotations

from collections.abc import Mapping

from broker.entities.errors import AlreadyExists
from broker.entities.queue import Limits
from broker.entities.webhook import WebhookSource
from broker.usecases.ports import Clock
from broker.usecases.webhook_sources.define import SourceSpec, check
from broker.usecases.webhook_sources.ports import WebhookSourceStore


class CreateWebhookSource:
    """Adds a source; AlreadyExists when the sources file or the store has the name. Bad input
    (InvalidArgument naming the field) changes nothing."""

    def __init__(self, store: WebhookSourceStore, clock: Clock, limits: Limits,
                 from_file: Mapping[str, WebhookSource]) -> None:
        self._store, self._clock, self._limits, self._file = store, clock, limits, from_file

    async def __call__(self, spec: SourceSpec) -> SourceSpec:
        checked = check(spec, self._limits)
        if checked.name in self._file or not await self._store.create(checked, self._clock.now()):
            raise AlreadyExists(f"webhook source {spec.name!r} exists already; update it instead", source=spec.name)
        return await self._store.get(checked.name) or checked
