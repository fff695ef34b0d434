"""The WebhookSourceStore in memory (tests/contract/test_webhook_sources.py holds it to PostgreSQL's)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from broker.usecases.webhook_sources.define import SourceSpec


class InMemoryWebhookSourceStore:
    def __init__(self) -> None:
        self.sources: dict[str, SourceSpec] = {}

    async def create(self, spec: SourceSpec, now: datetime) -> bool:
        if spec.name in self.sources:
            return False
        self.sources[spec.name] = replace(spec, created_at=now, updated_at=now)
        return True

    async def get(self, name: str) -> SourceSpec | None:
        return self.sources.get(name)

    async def list_sources(self) -> list[SourceSpec]:
        return [self.sources[n] for n in sorted(self.sources)]

    async def update(self, spec: SourceSpec, now: datetime) -> SourceSpec | None:
        current = self.sources.get(spec.name)
        if current is None:
            return None
        self.sources[spec.name] = replace(spec, created_at=current.created_at, updated_at=now)
        return self.sources[spec.name]

    async def delete(self, name: str) -> bool:
        return self.sources.pop(name, None) is not None
