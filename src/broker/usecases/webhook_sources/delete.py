"""DeleteWebhookSource: its URL is 404 on every replica from now on (its jobs stay)."""

from __future__ import annotations

from collections.abc import Mapping

from broker.entities.errors import WebhookSourceNotFound
from broker.entities.webhook import WebhookSource
from broker.usecases.webhook_sources.define import check_not_declared, valid_name
from broker.usecases.webhook_sources.ports import WebhookSourceStore


class DeleteWebhookSource:
    def __init__(self, store: WebhookSourceStore, from_file: Mapping[str, WebhookSource]) -> None:
        self._store, self._file = store, from_file

    async def __call__(self, name: str) -> None:
        check_not_declared(self._file, name, "delete")
        if not valid_name(name) or not await self._store.delete(name):
            raise WebhookSourceNotFound(name)
