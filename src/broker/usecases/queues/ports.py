"""The port the queue-control interactors need: where the queues' controls live."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from broker.entities.queue_state import ControlsChange, QueueControls, QueueEvent


class QueueStore(Protocol):
    """Durable home of the queues' controls and of their event log, shared by every replica
    (the job store's claim obeys what it holds)."""

    async def get(self, name: str) -> QueueControls:
        """The queue's controls; the defaults for a queue nobody configured."""

    async def list_queues(self) -> list[QueueControls]:
        """Every queue whose controls were ever set, by name."""

    async def update(self, name: str, change: ControlsChange,
                     now: datetime) -> tuple[QueueControls, QueueEvent | None]:
        """Apply a checked change atomically (ControlsChange.apply, on the controls as they are
        under a lock) and log it: the event, None when nothing changed. A change that may let
        held-back jobs through (QueueEvent.opens) wakes the queue's long polls on every replica."""
