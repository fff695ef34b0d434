"""Stage 2, access log: one line per call with method, status, duration, peer and principal
(and the request id, added by the log filter). Health checks log at DEBUG: probes are noise."""

from __future__ import annotations

import logging
import time

from broker.interface.grpc.context import principal
from broker.interface.grpc.interceptors.base import Stage, outcome
from broker.interface.grpc.methods import is_open


class AccessLogStage(Stage):
    def __init__(self, logger: logging.Logger | None = None) -> None:
        super().__init__()
        self._log = logger or logging.getLogger("broker.access")

    async def around(self, method, request, context, proceed):
        started, failure = time.perf_counter(), None
        try:
            return await proceed(request, context)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            level = logging.DEBUG if is_open(method) else logging.INFO
            if self._log.isEnabledFor(level):
                code = outcome(context, failure)
                who = principal.get()
                self._log.log(level, "%s %s", method, code.name, extra={
                    "method": method, "code": code.name,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "peer": context.peer(), "principal": who.name if who else None,
                })
