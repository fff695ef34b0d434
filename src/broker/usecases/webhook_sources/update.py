"""UpdateWebhookSource: replace a source made through AdminService."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from broker.entities.errors import WebhookSourceNotFound
from broker.entities.queue import Limits
from broker.entities.webhook import WebhookSource
from broker.usecases.ports import Clock
from broker.usecases.webhook_sources.define import SourceSpec, check, check_not_declared
from broker.usecases.webhook_sources.ports import WebhookSourceStore


class UpdateWebhookSource:
    """Replaces every field; no secrets keeps the source's secrets (rotate: [new, old], later
    [new]). A source of the sources file is changed there (FailedPrecondition)."""

    def __init__(self, store: WebhookSourceStore, clock: Clock, limits: Limits,
                 from_file: Mapping[str, WebhookSource]) -> None:
        self._store, self._clock, self._limits, self._file = store, clock, limits, from_file

    async def __call__(self, spec: SourceSpec) -> SourceSpec:
        checked = check(spec, self._limits, secrets_required=False)
        check_not_declared(self._file, checked.name, "update")
        current = await self._store.get(checked.name)
        if current is None:
            raise WebhookSourceNotFound(spec.name)
        updated = await self._store.update(replace(checked, secrets=checked.secrets or current.secrets),
                                           self._clock.now())
        if updated is None:
            raise WebhookSourceNotFound(spec.name)
        return updated
