"""The port of the webhook source interactors: where the sources managed at run time live."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from broker.usecases.webhook_sources.define import SourceSpec


class WebhookSourceStore(Protocol):
    """Durable home of the webhook sources made through AdminService, shared by every replica
    (ReceiveWebhook looks a source up here when the sources file has none of its name)."""

    async def create(self, spec: SourceSpec, now: datetime) -> bool:
        """Add it; False when the name is taken (nothing changed)."""

    async def get(self, name: str) -> SourceSpec | None: ...

    async def list_sources(self) -> list[SourceSpec]:
        """Every stored source, by name."""

    async def update(self, spec: SourceSpec, now: datetime) -> SourceSpec | None:
        """Replace the one of this name (created_at kept); None when there is none."""

    async def delete(self, name: str) -> bool: ...
