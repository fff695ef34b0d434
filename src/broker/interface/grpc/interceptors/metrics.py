"""Stage 3, metrics: reports every call's method, status code name and duration to an
`observe_rpc(method, code, seconds)` callable that the composition root injects (the
Prometheus collectors live in infra; nothing here imports them)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from broker.interface.grpc.interceptors.base import AfterCallStage

ObserveRpc = Callable[[str, str, float], None]
log = logging.getLogger("broker.grpc")


def no_metrics(method: str, code: str, seconds: float) -> None:
    """The default sink: nothing is recorded."""


class MetricsStage(AfterCallStage):
    def __init__(self, observe_rpc: ObserveRpc = no_metrics) -> None:
        self._observe = observe_rpc

    def finished(self, call, code, seconds):
        try:
            self._observe(call.method, code.name, seconds)
        except Exception:  # noqa: BLE001 - a metrics fault must not fail the call it measures
            log.exception("observe_rpc failed for %s", call.method)
