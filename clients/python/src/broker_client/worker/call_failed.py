"""How a call on a WorkerSession stream fails: a ``grpc.RpcError`` shaped like a unary call's."""

from __future__ import annotations

import grpc

from ..retry_info import DETAILS_KEY, encode_retry_info
from ..v1 import job_service_pb2 as pb


class CallFailed(grpc.RpcError):
    """A call on a session that failed, shaped like the error of a unary call."""

    def __init__(self, code: grpc.StatusCode, details: str, retry_delay: float | None = None) -> None:
        super().__init__(f"{code.name}: {details}")
        self._code, self._details = code, details
        self._trailing = ((DETAILS_KEY, encode_retry_info(retry_delay, code.value[0], details)),) \
            if retry_delay is not None else ()

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple:
        return self._trailing


_CODES = {code.value[0]: code for code in grpc.StatusCode}


def failure(error: pb.CallError) -> CallFailed:
    """The CallFailed a session's answer `error` stands for."""
    delay = None
    if error.HasField("retry_delay"):
        delay = error.retry_delay.seconds + error.retry_delay.nanos / 1e9
    return CallFailed(_CODES.get(error.code, grpc.StatusCode.UNKNOWN), error.message, delay)


def ended() -> CallFailed:
    """What the calls waiting on a stream that ended fail with."""
    return CallFailed(grpc.StatusCode.UNAVAILABLE, "the worker session ended")
