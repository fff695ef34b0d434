"""GetWebhookSource and ListWebhookSources: the file's sources and those made at run time."""

from __future__ import annotations

from collections.abc import Mapping

from broker.entities.errors import WebhookSourceNotFound
from broker.entities.webhook import WebhookSource
from broker.usecases.webhook_sources.define import SourceSpec, declared, valid_name
from broker.usecases.webhook_sources.ports import WebhookSourceStore


class GetWebhookSource:
    """One source, without its secrets (a file's source comes as `declared`)."""

    def __init__(self, store: WebhookSourceStore, from_file: Mapping[str, WebhookSource]) -> None:
        self._store, self._file = store, from_file

    async def __call__(self, name: str) -> SourceSpec:
        if name in self._file:
            return declared(self._file[name])
        found = await self._store.get(name) if valid_name(name) else None
        if found is None:
            raise WebhookSourceNotFound(name)
        return found


class ListWebhookSources:
    """Every source, the file's and the stored ones, by name."""

    def __init__(self, store: WebhookSourceStore, from_file: Mapping[str, WebhookSource]) -> None:
        self._store, self._file = store, from_file

    async def __call__(self) -> list[SourceSpec]:
        stored = [s for s in await self._store.list_sources() if s.name not in self._file]
        return sorted([*map(declared, self._file.values()), *stored], key=lambda s: s.name)
