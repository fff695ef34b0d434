"""What every client of the SDK holds: the channel (built from ConnectionOptions unless one is
given), the metadata sent with every call, and the retrying call itself. The producer clients
and the admin clients share it, so channels, credentials, deadlines and retries are set up in
one place."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

from .channel import aio_channel, sync_channel
from .options import ConnectionOptions
from .retrying import acall_with_retry, call_with_retry


class Calls:
    """Blocking calls over one channel, each with the options' metadata, deadline and retries."""

    def __init__(self, options: ConnectionOptions, channel: grpc.Channel | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """``channel`` replaces the one the options would build (tests use it)."""
        self.options = options
        self.channel = channel if channel is not None else sync_channel(options)
        self._metadata = options.call_metadata()
        self._sleep = sleep

    def __call__(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        """``method(request)`` under ``timeout`` (default: the options'), retried by their policy;
        a failure that remains raises a ``BrokerClientError``."""
        deadline = timeout or self.options.timeout
        return call_with_retry(lambda: method(request, timeout=deadline, metadata=self._metadata),
                               self.options.retry, self._sleep)

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()


class AsyncCalls:
    """The asyncio twin of ``Calls``; create it inside the running event loop."""

    def __init__(self, options: ConnectionOptions, channel: grpc.aio.Channel | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.options = options
        self.channel = channel if channel is not None else aio_channel(options)
        self._metadata = options.call_metadata()
        self._sleep = sleep

    async def __call__(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        """See ``Calls.__call__``."""
        deadline = timeout or self.options.timeout
        return await acall_with_retry(lambda: method(request, timeout=deadline, metadata=self._metadata),
                                      self.options.retry, self._sleep)

    async def close(self) -> None:
        """Close the channel."""
        await self.channel.close()
