"""Group commit for round trips (opsassist.lib.grouped): calls arriving during a round share the next one,
each round starts only after its callers arrived, and one caller's failure stays its own."""

from __future__ import annotations

import asyncio

import pytest

from opsassist.lib.grouped import Grouped


class Recorder:
    def __init__(self, delay: float = 0.01):
        self.rounds: list[list] = []
        self.delay = delay
        self.running = 0
        self.most_running = 0

    async def work(self, items: list) -> list:
        self.rounds.append(list(items))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        await asyncio.sleep(self.delay)
        self.running -= 1
        return [ValueError(item) if item == "bad" else item * 2 for item in items]


def test_calls_arriving_during_a_round_share_the_next_one():
    recorder = Recorder()

    async def go():
        grouped = Grouped(recorder.work)
        first = asyncio.ensure_future(grouped(1))
        await asyncio.sleep(0)  # the first round is under way
        rest = [asyncio.ensure_future(grouped(n)) for n in (2, 3, 4)]
        return await asyncio.gather(first, *rest)

    assert asyncio.run(go()) == [2, 4, 6, 8]
    assert recorder.rounds == [[1], [2, 3, 4]]
    assert recorder.most_running == 1


def test_a_round_never_starts_before_a_caller_that_joins_it_arrived():
    """A caller arriving while a round is in flight is never answered from that round."""
    started_before: list[bool] = []

    async def go():
        arrivals: dict[int, float] = {}

        async def work(items):
            now = asyncio.get_running_loop().time()
            started_before.extend(arrivals[item] > now for item in items)
            await asyncio.sleep(0.005)
            return items

        grouped = Grouped(work)

        async def call(n):
            await asyncio.sleep(n * 0.002)
            arrivals[n] = asyncio.get_running_loop().time()
            return await grouped(n)

        return await asyncio.gather(*(call(n) for n in range(20)))

    assert asyncio.run(go()) == list(range(20))
    assert started_before and not any(started_before)


def test_several_rounds_may_be_in_flight_up_to_the_limit():
    recorder = Recorder(delay=0.02)

    async def go():
        grouped = Grouped(recorder.work, concurrency=3)
        calls = []
        for n in range(10):
            calls.append(asyncio.ensure_future(grouped(n)))
            await asyncio.sleep(0.001)
        return await asyncio.gather(*calls)

    assert asyncio.run(go()) == [n * 2 for n in range(10)]
    assert recorder.most_running == 3
    assert sorted(item for round_ in recorder.rounds for item in round_) == list(range(10))


def test_an_error_for_one_item_reaches_only_its_caller_and_a_failed_round_reaches_all():
    recorder = Recorder()

    async def failing(items):
        raise RuntimeError("down")

    async def go():
        grouped = Grouped(recorder.work)
        results = await asyncio.gather(grouped(1), grouped("bad"), grouped(3), return_exceptions=True)
        broken = Grouped(failing)
        errors = await asyncio.gather(broken(1), broken(2), return_exceptions=True)
        return results, errors

    results, errors = asyncio.run(go())
    assert results[0] == 2 and results[2] == 6
    assert isinstance(results[1], ValueError)
    assert all(isinstance(error, RuntimeError) for error in errors)


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_caller_that_goes_away_does_not_break_the_round(concurrency):
    recorder = Recorder(delay=0.02)

    async def go():
        grouped = Grouped(recorder.work, concurrency=concurrency)
        leaving = asyncio.ensure_future(grouped(1))
        staying = asyncio.ensure_future(grouped(2))
        await asyncio.sleep(0.005)
        leaving.cancel()
        return await staying

    assert asyncio.run(go()) == 4


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_caller_that_calls_again_as_soon_as_it_is_answered_gets_a_round(concurrency):
    """A single event whose credential changed is written again the moment its answer arrives: that call
    comes before the finished round's task is gone, and must not wait for a slot that never frees."""
    recorder = Recorder(delay=0)

    async def main():
        grouped = Grouped(recorder.work, concurrency)
        return [await grouped(item) for item in range(5)]  # each call as soon as the one before is answered

    assert asyncio.run(asyncio.wait_for(main(), 2)) == [0, 2, 4, 6, 8]
