"""The search pool hands its one slot to waiting clients in turn, not first come first served."""

from __future__ import annotations

import asyncio
import os
import threading

from search_api.pool import FairPool, lowered


async def served_order(requests: list[str]) -> list[str]:
    pool, order = FairPool(), []
    release = asyncio.Event()

    async def search(label: str) -> None:
        async with pool.slot(label[0]):
            order.append(label)
            if label == "a1":
                await release.wait()  # a1 holds the slot while the others queue up

    first = asyncio.create_task(search(requests[0]))
    await asyncio.sleep(0)
    rest = []
    for label in requests[1:]:
        rest.append(asyncio.create_task(search(label)))
        await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *rest)
    return order


def test_a_greedy_clients_backlog_does_not_wait_in_front_of_another_client() -> None:
    assert asyncio.run(served_order(["a1", "a2", "a3", "a4", "b1", "c1"])) == ["a1", "a2", "b1", "c1", "a3", "a4"]


def test_a_cancelled_waiter_gives_up_its_place() -> None:
    async def scenario() -> list[str]:
        pool, order = FairPool(), []
        async with pool.slot("a"):
            waiting = asyncio.create_task(pool.slot("b").__aenter__())
            await asyncio.sleep(0)
            waiting.cancel()
            later = asyncio.create_task(asyncio.wait_for(_enter(pool, "c", order), 5))
            await asyncio.sleep(0)
        await later
        return order

    assert asyncio.run(scenario()) == ["c"]


async def _enter(pool: FairPool, client: str, order: list[str]) -> None:
    async with pool.slot(client):
        order.append(client)


def test_two_slots_let_two_searches_run_at_once() -> None:
    async def scenario() -> int:
        pool, running, most = FairPool(2), [0], [0]

        async def search(client: str) -> None:
            async with pool.slot(client):
                running[0] += 1
                most[0] = max(most[0], running[0])
                await asyncio.sleep(0.01)
                running[0] -= 1

        await asyncio.gather(*(search(c) for c in "aabbc"))
        return most[0]

    assert asyncio.run(scenario()) == 2


def test_searches_run_in_threads_scheduled_lower_than_the_event_loop() -> None:
    """The thread that searched is niced (once, however often it searches); the calling thread is not."""

    def priority() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    seen: list[int] = []

    def worker() -> None:
        for _ in range(3):
            seen.append(lowered(priority, 5)())

    before = priority()
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [min(19, before + 5)] * 3
    assert priority() == before
    assert lowered(lambda: "answer", 0)() == "answer" and priority() == before
