"""The runner stops its background tasks even when one swallows a cancellation (as Python 3.11's
asyncio.wait_for can when its inner call finishes at the same moment)."""

import asyncio

from broker.infra.runner import Runner


async def test_stop_ends_a_task_that_swallowed_the_first_cancellation():
    swallowed = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(True)  # the lost cancellation: the loop goes on

    runner = Runner()
    runner.start("stubborn", stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await runner.stop()
    assert swallowed == [True]
