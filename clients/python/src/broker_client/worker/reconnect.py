"""The wait between a worker loop's retries, cut short when the channel connects again."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import grpc.aio


class UntilReconnected:
    """``await pause(delay)``: wait ``delay`` seconds, or less if the channel is not connected
    and connects meanwhile.

    While the broker is away every call fails at once, and the worker's loops back off (up to
    5 s): without this, a broker back just after a retry left a worker idle for that long again,
    its leases lapsing. The channel tries to connect at least every ``max_reconnect_backoff``;
    once it is READY the loops go on. A channel READY when the wait begins (the broker answered,
    with an error or a RetryInfo delay) waits the whole delay, so a broker that answers with
    errors is never retried in a tight loop.
    """

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._channel = channel

    async def __call__(self, delay: float) -> None:
        ready, closed = grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.SHUTDOWN
        state = self._channel.get_state(try_to_connect=True)
        if state in (ready, closed):
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                while state not in (ready, closed):
                    await self._channel.wait_for_state_change(state)
                    state = self._channel.get_state(try_to_connect=True)
