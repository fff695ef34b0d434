"""The ports of the callback interactors: where subscriptions live, and how a delivery is sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from broker.entities.callback import Subscription


class SubscriptionStore(Protocol):
    """Durable home of the callback subscriptions, shared by every replica (the job store's
    moves read it to make their deliveries)."""

    async def create(self, subscription: Subscription, now: datetime) -> bool:
        """Add it; False when its name is taken (nothing changed)."""

    async def get(self, name: str) -> Subscription | None: ...

    async def list_subscriptions(self) -> list[Subscription]:
        """Every subscription, by name."""

    async def update(self, subscription: Subscription, now: datetime) -> Subscription | None:
        """Replace the one of this name (created_at kept); None when there is none."""

    async def delete(self, name: str) -> bool:
        """False when there was none. Its pending deliveries stay (and fail for good)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What a delivery attempt came to: the receiver's HTTP status, or why there was none."""

    status: int | None
    detail: str = ""  # the start of the answer's body, or the error
    refused: bool = False  # the target was refused (its address), before any request was made

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Sender(Protocol):
    """Posts one delivery, within `timeout` seconds, to a target whose every resolved address
    passes entities.callback.is_public (unless the adapter was told to allow private ones)."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Reply: ...


class DeliveryListener(Protocol):
    """Told of each delivery attempt's outcome (metrics): delivered, failed or refused."""

    def attempted(self, subscription: str, outcome: str) -> None: ...
