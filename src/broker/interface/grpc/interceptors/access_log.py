"""Stage 2, access log: one line per call with method, status, duration, peer and principal
(and the request id, added by the log filter). Health checks log at DEBUG: probes are noise."""

from __future__ import annotations

import logging

from broker.interface.grpc.context import principal
from broker.interface.grpc.interceptors.base import AfterCallStage
from broker.interface.grpc.methods import is_open


class AccessLogStage(AfterCallStage):
    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("broker.access")

    def finished(self, call, code, seconds):
        method = call.method
        level = logging.DEBUG if is_open(method) else logging.INFO
        if self._log.isEnabledFor(level):
            who = principal.get()
            self._log.log(level, "%s %s", method, code.name, extra={
                "method": method, "code": code.name, "duration_ms": round(seconds * 1000, 3),
                "peer": call.peer(), "principal": who.name if who else None,
            })
