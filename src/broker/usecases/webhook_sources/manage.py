"""Create, update, get, list and delete the webhook sources managed at run time. Sources of
BROKER_WEBHOOK_SOURCES_FILE are listed and shown (without secrets) but changed in the file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from broker.entities.errors import AlreadyExists, FailedPrecondition, WebhookSourceNotFound
from broker.entities.queue import Limits
from broker.entities.webhook import WebhookSource
from broker.usecases.ports import Clock
from broker.usecases.webhook_sources.define import SourceSpec, check, declared, valid_name
from broker.usecases.webhook_sources.ports import WebhookSourceStore


class WebhookSources:
    """The five operations, on one store and the file's sources. Bad input is InvalidArgument
    naming the field and changes nothing; a new source takes deliveries on every replica at once."""

    def __init__(self, store: WebhookSourceStore, clock: Clock, limits: Limits,
                 from_file: Mapping[str, WebhookSource]) -> None:
        self._store, self._clock, self._limits, self._file = store, clock, limits, dict(from_file)

    async def create(self, spec: SourceSpec) -> SourceSpec:
        checked = check(spec, self._limits)
        if checked.name in self._file or not await self._store.create(checked, self._clock.now()):
            raise AlreadyExists(f"webhook source {spec.name!r} exists already; update it instead", source=spec.name)
        return await self._store.get(checked.name) or checked

    async def update(self, spec: SourceSpec) -> SourceSpec:
        """Replaces every field; no secrets keeps the source's secrets (rotate: [new, old], later [new])."""
        checked = check(spec, self._limits, secrets_required=False)
        self._not_declared(checked.name, "update")
        current = await self._store.get(checked.name)
        if current is None:
            raise WebhookSourceNotFound(spec.name)
        updated = await self._store.update(replace(checked, secrets=checked.secrets or current.secrets),
                                           self._clock.now())
        if updated is None:
            raise WebhookSourceNotFound(spec.name)
        return updated

    async def get(self, name: str) -> SourceSpec:
        if name in self._file:
            return declared(self._file[name])
        found = await self._store.get(name) if valid_name(name) else None
        if found is None:
            raise WebhookSourceNotFound(name)
        return found

    async def list(self) -> list[SourceSpec]:
        """Every source, the file's and the stored ones, by name."""
        stored = [s for s in await self._store.list_sources() if s.name not in self._file]
        return sorted([*map(declared, self._file.values()), *stored], key=lambda s: s.name)

    async def delete(self, name: str) -> None:
        self._not_declared(name, "delete")
        if not valid_name(name) or not await self._store.delete(name):
            raise WebhookSourceNotFound(name)

    def _not_declared(self, name: str, verb: str) -> None:
        if name in self._file:
            raise FailedPrecondition(f"webhook source {name!r} is declared in BROKER_WEBHOOK_SOURCES_FILE: "
                                     f"{verb} it there", source=name)
