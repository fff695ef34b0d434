"""The webhook log: one line per delivery on the logger `broker.webhooks` (refusals at WARNING,
with why, never the body) and the counter broker_webhooks_received_total."""

from __future__ import annotations

import logging
from collections.abc import Callable

from broker.usecases import context

log = logging.getLogger("broker.webhooks")


class WebhookEvents:
    """The WebhookLog port: logs each outcome and hands it to `count` (the metrics), if any."""

    def __init__(self, count: Callable[[str, str], None] | None = None) -> None:
        self._count = count

    def received(self, source: str, outcome: str, detail: str = "", job_id: str | None = None) -> None:
        extra = {"source": source, "outcome": outcome, "request_id": context.request_id.get()}
        if job_id is not None:
            log.info("webhook %s", outcome, extra={**extra, "job_id": job_id})
        else:
            log.warning("webhook refused: %s", detail, extra=extra)
        if self._count is not None:
            try:
                self._count(source, outcome)
            except Exception:  # noqa: BLE001 - a failing counter never fails the delivery
                log.exception("webhook metrics failed")
