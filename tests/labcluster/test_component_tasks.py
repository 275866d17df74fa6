"""A component's stop ends its tasks even when one swallows its cancellation (Python
3.11's asyncio.wait_for can, when the cancel arrives as its inner awaitable completes):
the node's stop hung until `labcluster down` killed the server 40 s later."""

from __future__ import annotations

import asyncio

from labcluster.component import cancel_tasks


async def test_a_task_that_swallows_a_cancel_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # goes on looping, as a loop around 3.11's wait_for did

    async def failing() -> None:
        raise ValueError("what it raised is collected, not re-raised")

    tasks = [asyncio.create_task(stubborn(), name="stubborn"),
             asyncio.create_task(failing(), name="failing")]
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_tasks(tasks), 10)
    assert swallowed == 1 and tasks == []
