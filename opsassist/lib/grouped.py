"""Group commit for any round trip: the calls that arrive while one round is in flight share the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Grouped(Generic[Item, Result]):
    """`await grouped(item)` runs `work(items)` once for every item submitted while the previous round ran.

    At most `concurrency` rounds run at a time (one by default), and each starts after all its items
    arrived: a read made for a request therefore sees every write committed before that request came,
    as if it had run alone. Several rounds in flight let commits overlap (the database flushes their
    WAL together) instead of each waiting for the one before. `work`
    returns one result per item, in order; a result that is an exception is raised to its caller only;
    when `work` itself raises, every caller of that round gets the error. Use from one event loop.
    """

    def __init__(self, work: Callable[[list[Item]], Awaitable[Sequence[Result | BaseException]]], concurrency: int = 1):
        self._work = work
        self._concurrency = concurrency
        self._queue: list[tuple[Item, asyncio.Future]] = []
        self._tasks: set[asyncio.Task] = set()

    async def __call__(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((item, future))
        if len(self._tasks) < self._concurrency:
            task = loop.create_task(self._run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _run(self) -> None:
        try:
            await self._rounds()
        finally:
            # Leave the set in the same step as the last emptiness check: a done-callback would run later,
            # and an item queued in between would find the slot still taken and never get a round.
            self._tasks.discard(asyncio.current_task())

    async def _rounds(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                results = await self._work([item for item, _ in batch])
            except Exception as exc:
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # its caller went away
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
